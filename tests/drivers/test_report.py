"""Report strategy (drivers/report.py): the change filter's table, its config, and the real stack (Modbus TCP
simulator, gateway, mosquitto) sending telemetry only on change plus a heartbeat, with the same alarms."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from drivers.component import BusComponent, build_components
from drivers.config import DeviceConfig
from drivers.device import resolve_device
from drivers.report import ChangeFilter, changed
from edge.config import ConfigError, parse_config
from simulators.model import SimBus, SimDevice
from simulators.tcp import TcpSimulator
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"


# --- the filter ---------------------------------------------------------------------------------------------

# (report_every_s, [(now, values, expected to send), ...])
CASES: dict[str, tuple[float | None, list[tuple[float, dict[str, Any], dict[str, Any]]]]] = {
    "first call sends all": (None, [(0.0, {"a": 1, "b": 2.5}, {"a": 1, "b": 2.5})]),
    "unchanged sends nothing": (
        None,
        [
            (0.0, {"a": 1, "b": False}, {"a": 1, "b": False}),
            (1.0, {"a": 1, "b": False}, {}),
            (2.0, {"a": 1, "b": False}, {}),
        ],
    ),
    "one changed key sends only it": (
        None,
        [(0.0, {"a": 1, "b": 2}, {"a": 1, "b": 2}), (1.0, {"a": 1, "b": 3}, {"b": 3}), (2.0, {"a": 1, "b": 3}, {})],
    ),
    "bool vs int is a change": (
        None,
        [
            (0.0, {"a": 1, "b": 0.0}, {"a": 1, "b": 0.0}),
            (1.0, {"a": True, "b": 0}, {"a": True, "b": 0}),
            (2.0, {"a": True, "b": 0}, {}),
        ],
    ),
    "new key is a change": (
        None,
        [
            (0.0, {"a": 1}, {"a": 1}),
            (1.0, {"a": 1, "a_fault": "out_of_range"}, {"a_fault": "out_of_range"}),
            (2.0, {"a": 1, "a_fault": None}, {"a_fault": None}),
            (3.0, {"a": 1}, {}),
        ],
    ),
    "None to a value and back": (
        None,
        [(0.0, {"a": None}, {"a": None}), (1.0, {"a": 0}, {"a": 0}), (2.0, {"a": None}, {"a": None})],
    ),
    "heartbeat after report_every_s sends all": (
        10.0,
        [
            (0.0, {"a": 1, "b": 2}, {"a": 1, "b": 2}),
            (5.0, {"a": 1, "b": 3}, {"b": 3}),
            (9.9, {"a": 1, "b": 3}, {}),
            (10.0, {"a": 1, "b": 3}, {"a": 1, "b": 3}),
            (15.0, {"a": 1, "b": 3}, {}),
            (20.5, {"a": 1, "b": 3}, {"a": 1, "b": 3}),
        ],
    ),
    "no heartbeat without report_every_s": (None, [(0.0, {"a": 1}, {"a": 1}), (1e6, {"a": 1}, {})]),
    "a key missing from a poll keeps its last value": (
        None,
        [(0.0, {"a": 1, "b": 2}, {"a": 1, "b": 2}), (1.0, {"a": 1}, {}), (2.0, {"a": 1, "b": 2}, {})],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_change_filter_table(case: str) -> None:
    every, steps = CASES[case]
    change_filter = ChangeFilter(every)
    for now, values, expected in steps:
        got = change_filter.filter(values, now)
        assert got == expected, (now, values)
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}, (now, got)


def test_nan_twice_is_no_change() -> None:
    change_filter = ChangeFilter()
    assert list(change_filter.filter({"a": float("nan")}, 0.0)) == ["a"]
    assert change_filter.filter({"a": float("nan")}, 1.0) == {}


def test_reset_sends_everything_again() -> None:
    change_filter = ChangeFilter()
    assert change_filter.filter({"a": 1}, 0.0) == {"a": 1}
    assert change_filter.filter({"a": 1}, 1.0) == {}
    change_filter.reset()
    assert change_filter.filter({"a": 1}, 2.0) == {"a": 1}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (1, 1, False),
        (1, True, True),
        (0, False, True),
        (1.0, 1, True),
        (1.5, 1.5, False),
        ("x", "x", False),
        (None, None, False),
        (None, 0, True),
        (float("nan"), float("nan"), False),
        (float("nan"), 1.0, True),
    ],
)
def test_changed(old: Any, new: Any, expected: bool) -> None:
    assert changed(old, new) is expected


# --- the config ---------------------------------------------------------------------------------------------


def test_report_every_s_with_every_poll_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="report_every_s is set but report is 'every_poll'"):
        DeviceConfig(id="g1", bus="b", profile="generic_holding", report_every_s=60)
    ok = DeviceConfig(id="g1", bus="b", profile="generic_holding", report="on_change", report_every_s=60)
    assert (ok.report, ok.report_every_s) == ("on_change", 60)
    assert DeviceConfig(id="g1", bus="b", profile="generic_holding").report == "every_poll"


def test_check_config_names_report_every_s_and_its_device() -> None:
    text = """\
site_id: s
gateway_id: g
buses: [{id: b, url: tcp://127.0.0.1:502}]
devices:
  - {id: g1, bus: b, profile: generic_holding, unit_id: 1, report: on_change, report_every_s: 60}
  - {id: g2, bus: b, profile: generic_holding, unit_id: 2, report_every_s: 60}
  - {id: g3, bus: b, profile: generic_holding, unit_id: 3, report: on_change, report_every_s: 0}
  - {id: g4, bus: b, profile: generic_holding, unit_id: 4, report: sometimes}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    found = [str(p) for p in info.value.problems]
    assert len(found) == 3, found
    assert found[0].startswith("devices[1]: ") and "report_every_s" in found[0] and "report" in found[0], found
    assert "(line 6)" in found[0], found
    assert found[1].startswith("devices[2].report_every_s: Input should be greater than 0 (line 7)"), found
    assert found[2].startswith("devices[3].report: Input should be 'every_poll' or 'on_change' (line 8)"), found


def test_build_components_gives_filters_to_on_change_devices_only(tmp_path) -> None:
    config = make_config(
        tmp_path,
        1883,
        buses=[{"id": "b", "url": "tcp://127.0.0.1:502"}],
        devices=[
            {"id": "g1", "bus": "b", "profile": "generic_holding", "unit_id": 1},
            {"id": "g2", "bus": "b", "profile": "generic_holding", "unit_id": 2, "report": "on_change"},
            {
                "id": "g3",
                "bus": "b",
                "profile": "generic_holding",
                "unit_id": 3,
                "report": "on_change",
                "report_every_s": 30,
            },
        ],
    )
    [component] = build_components(config)
    assert sorted(component.report) == ["g2", "g3"]
    assert (component.report["g2"].report_every_s, component.report["g3"].report_every_s) == (None, 30)


# --- the real stack -----------------------------------------------------------------------------------------


def telemetry(sub: Subscriber, device: str) -> list[tuple[float, dict[str, Any]]]:
    """(arrival, {key: value}) of every telemetry message of ``device``."""
    return [
        (m.arrived, {r["key"]: r["value"] for r in m.json()["readings"]})
        for m in sub.snapshot(f"{BASE}/telemetry/{device}")
    ]


def alarm_events(sub: Subscriber, device: str) -> list[tuple[str, str]]:
    out = []
    for m in sub.snapshot(f"{BASE}/events/"):
        body = m.json()
        if body["device"] == device and body.get("state") and not body["details"].get("reminder"):
            out.append((body["kind"], body["state"]))
    return out


async def test_on_change_sends_changes_only_and_a_heartbeat(tmp_path, mosquitto) -> None:
    device = {
        "id": "meter",
        "bus": "tcp",
        "profile": "generic_holding",
        "unit_id": 7,
        "channels": 4,
        "poll_s": 0.05,
        "report": "on_change",
        "report_every_s": 3,
    }
    bus = SimBus([SimDevice(resolve_device(DeviceConfig(**device)))])
    async with TcpSimulator(bus) as sim:
        config = make_config(
            tmp_path, mosquitto.port, buses=[{"id": "tcp", "url": sim.url, "timeout_s": 0.5}], devices=[device]
        )
        sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/telemetry/#"]).start()
        try:
            [component] = build_components(config)
            async with running(config, [component]) as gw:
                first = await async_wait_for(lambda: telemetry(sub, "meter"), 15, "the first telemetry")
                assert first[0][1] == {"r0": 0, "r1": 0, "r2": 0, "r3": 0}, "the first poll sends every value"

                # a register changes: one message with that value only
                bus.devices["meter"].set("r1", 7)
                await async_wait_for(lambda: len(telemetry(sub, "meter")) >= 2, 5, "the change")
                assert telemetry(sub, "meter")[1][1] == {"r1": 7}

                # no change for several polls: no telemetry, but the device is seen
                state = component.scheduler.devices["meter"]
                polls, seen = state.polls, gw.devices.get("meter").last_seen
                await asyncio.sleep(1.0)
                assert state.polls - polls >= 5, "the device was polled all along"
                assert len(telemetry(sub, "meter")) == 2, telemetry(sub, "meter")
                assert gw.devices.get("meter").last_seen > seen, "polls with nothing new still count as seen"
                assert gw.devices.get("meter").values == {"r0": 0, "r1": 7, "r2": 0, "r3": 0}

                # report_every_s after the first full send: every value again
                await async_wait_for(lambda: len(telemetry(sub, "meter")) >= 3, 10, "the heartbeat")
                got = telemetry(sub, "meter")
                assert got[2][1] == {"r0": 0, "r1": 7, "r2": 0, "r3": 0}
                assert got[2][0] - first[0][0] >= 2.5, "the heartbeat comes report_every_s after the full send"
        finally:
            sub.stop()


async def test_alarms_are_the_same_with_on_change_as_with_every_poll(tmp_path, mosquitto) -> None:
    """Two smoke sensors see the same concentrations; one reports every poll, the other on change only.
    The rule's hold times elapse without new readings (RuleStage.tick), so both raise and clear alike."""
    rules = {"smoke_concentration": {"raise_hold_s": 0.6, "release_hold_s": 0.6}}
    devices = [
        {
            "id": "smoke-ep",
            "bus": "tcp",
            "profile": "smoke_concentration",
            "unit_id": 1,
            "poll_s": 0.05,
            "rules": rules,
        },
        {
            "id": "smoke-oc",
            "bus": "tcp",
            "profile": "smoke_concentration",
            "unit_id": 2,
            "poll_s": 0.05,
            "rules": rules,
            "report": "on_change",
        },
    ]
    bus = SimBus([SimDevice(resolve_device(DeviceConfig(**d))) for d in devices])
    ids = [d["id"] for d in devices]

    def set_both(ppm: int) -> None:
        for device in ids:
            bus.devices[device].set("concentration", ppm)

    async with TcpSimulator(bus) as sim:
        config = make_config(
            tmp_path, mosquitto.port, buses=[{"id": "tcp", "url": sim.url, "timeout_s": 0.5}], devices=devices
        )
        sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/#"]).start()
        try:
            [component] = build_components(config)
            assert isinstance(component, BusComponent) and list(component.report) == ["smoke-oc"]
            set_both(100)
            async with running(config, [component]) as gw:

                def polled(ppm: int) -> bool:
                    return all(gw.devices.get(d).values.get("concentration") == ppm for d in ids)

                await async_wait_for(lambda: all(telemetry(sub, d) for d in ids), 15, "first telemetry")
                set_both(350)  # above 300 for a blip of a poll or two, shorter than the 0.6 s hold: no alarm
                await async_wait_for(lambda: polled(350), 5, "the blip polled")
                set_both(100)
                await async_wait_for(lambda: polled(100), 5, "the blip over")
                # an alarm raised by the blip would be in the outbox ahead of any later telemetry
                sent = len(telemetry(sub, "smoke-ep"))
                await async_wait_for(lambda: len(telemetry(sub, "smoke-ep")) > sent, 5, "telemetry after the blip")
                assert alarm_events(sub, "smoke-ep") == alarm_events(sub, "smoke-oc") == []
                set_both(350)  # above 300: raised after the hold, though smoke-oc sends 350 once
                await async_wait_for(lambda: all(alarm_events(sub, d) for d in ids), 10, "both raised")
                set_both(250)  # between release and threshold: stays raised
                await asyncio.sleep(1.0)
                set_both(150)  # below 200: cleared after the hold
                await async_wait_for(lambda: all(len(alarm_events(sub, d)) >= 2 for d in ids), 10, "both cleared")
                await asyncio.sleep(0.3)
                expected = [("smoke_concentration", "raised"), ("smoke_concentration", "cleared")]
                assert alarm_events(sub, "smoke-ep") == alarm_events(sub, "smoke-oc") == expected
                sent = {d: sum(len(values) for _, values in telemetry(sub, d)) for d in ids}
                assert sent["smoke-oc"] == 6, telemetry(sub, "smoke-oc")  # 100, 350, 100, 350, 250, 150
                assert sent["smoke-ep"] > 40, "every poll went up"
        finally:
            sub.stop()


def test_seen_keeps_the_latest_time() -> None:
    from edge.pipeline.alarm_book import AlarmBook
    from edge.pipeline.devices import DeviceRegistry

    async def emit(_: object) -> None:
        pass

    registry = DeviceRegistry(AlarmBook(emit))
    registry.seen("d1", 100.0)
    registry.seen("d1", 90.0)
    assert registry.get("d1").last_seen == 100.0
    now = time.time()
    registry.seen("d1", now)
    assert registry.get("d1").last_seen == now
