"""End to end for every device kind: a scenario drives simulated devices on a pty (or TCP) bus, the real
gateway polls them, and a subscriber on mosquitto sees exactly the scenario's expected alarm events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from drivers.component import build_components
from simulators.scenario import ScenarioRun, list_scenarios, load_scenario
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"
# bus settings for tests: quick back-off so that a revived device is seen within the scenario
# retries 2: noisy_bus corrupts about 30 % of the answers, so with the default single retry a poll fails about
# 9 % of the time and three failed polls in a row (offline) came often enough to fail 2 of 4 full-suite runs;
# with two retries a poll fails about 2.7 % of the time
BUS = {
    "timeout_s": 0.15,
    "retries": 2,
    "offline_after": 3,
    "backoff_initial_s": 1.0,
    "backoff_max_s": 2.0,
    "reconnect_s": 0.4,
}
SPEED = {"bins_day": 4000, "compound_day": 3}  # a day in 21.6 s; the demo's 2 minutes in 40 s


def alarm_events(sub: Subscriber, devices: set[str]) -> list[tuple[str, str, str]]:
    out = []
    for m in sub.snapshot(f"{BASE}/events/"):
        body = m.json()
        if body["device"] in devices and body.get("state") and not body["details"].get("reminder"):
            out.append((body["device"], body["kind"], body["state"]))
    return out


async def play(name: str, tmp_path, mosquitto, transport: str | None = None) -> tuple[ScenarioRun, Subscriber, Any]:
    scenario = load_scenario(name)
    if transport is not None:
        scenario = scenario.model_copy(update={"transport": transport})
    run = ScenarioRun(scenario, log=lambda _: None, speed=SPEED.get(name))
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/#"]).start()
    return run, sub, scenario


@pytest.mark.parametrize(
    ("name", "transport"),
    [(name, None) for name in list_scenarios()] + [("port_unplugged", "socket"), ("perimeter_night", "tcp")],
)
async def test_scenario_delivers_exactly_the_expected_events(
    name: str, transport: str | None, tmp_path, mosquitto
) -> None:
    run, sub, scenario = await play(name, tmp_path, mosquitto, transport)
    devices = {d.id for d in scenario.devices}
    expected = [(e.device, e.kind, e.state) for e in scenario.expect]
    try:
        async with run.started():
            config = make_config(tmp_path, mosquitto.port, **run.gateway_sections(**BUS))
            async with running(config, build_components(config)):
                await run.play()
                await async_wait_for(
                    lambda: len(alarm_events(sub, devices)) >= len(expected), 15, f"{len(expected)} alarm events"
                )
                got = alarm_events(sub, devices)
    finally:
        sub.stop()
    # in order per device (devices run concurrently, so compare each device's stream)
    for device in devices:
        assert [e for e in got if e[0] == device] == [e for e in expected if e[0] == device], got
    assert len(got) == len(expected), got


async def test_fire_detector_stays_latched_until_the_gateway_resets_it(tmp_path, mosquitto) -> None:
    run, sub, _ = await play("fire_block3", tmp_path, mosquitto)
    try:
        async with run.started():
            config = make_config(tmp_path, mosquitto.port, **run.gateway_sections(**BUS))
            async with running(config, build_components(config)) as gateway:
                await run.play()
                assert ("smoke-b3-duct", "smoke", "cleared") not in alarm_events(sub, {"smoke-b3-duct"})
                await gateway.io.write("smoke-b3-duct", "reset", {})
                await async_wait_for(
                    lambda: ("smoke-b3-duct", "smoke", "cleared") in alarm_events(sub, {"smoke-b3-duct"}),
                    10,
                    "smoke cleared after the reset",
                )
                online = [m.json() for m in sub.snapshot(f"{BASE}/devices/smoke-b3-duct/availability")]
                assert online and online[-1]["state"] == "online"
    finally:
        sub.stop()


async def test_relay_pulse_from_the_gateway_over_modbus_tcp(tmp_path, mosquitto) -> None:
    from simulators.scenario import Scenario

    scenario = Scenario.model_validate(
        {
            "name": "relay",
            "transport": "tcp",
            "duration": 1,
            "devices": [{"id": "relay-gate1", "profile": "relay_board", "unit_id": 1, "poll_s": 0.05}],
        }
    )
    run = ScenarioRun(scenario, log=lambda _: None)
    async with run.started():
        config = make_config(tmp_path, mosquitto.port, **run.gateway_sections(timeout_s=0.5))
        async with running(config, build_components(config)) as gateway:
            relay = run.bus.devices["relay-gate1"]
            await gateway.io.write("relay-gate1", "pulse", {"channel": 0, "seconds": 0.4})
            assert relay.get("relay0") is True
            await async_wait_for(lambda: relay.get("relay0") is False, 5, "relay released itself")
            with pytest.raises(ValueError, match=r"args.channel: Input should be less than or equal to 7"):
                await gateway.io.write("relay-gate1", "pulse", {"channel": 12})
            await asyncio.sleep(0)  # the gateway keeps running after a rejected write
            assert not gateway._stop.is_set()


async def test_signed_platform_commands_reach_the_devices(tmp_path, mosquitto, platform_keys) -> None:
    import json
    import time
    import uuid

    import aiomqtt

    from edge.pipeline.signing import load_private_key, sign_command
    from simulators.scenario import Scenario

    private, public = platform_keys
    key = load_private_key(private)
    scenario = Scenario.model_validate(
        {
            "name": "commands",
            "baudrate": 19200,
            "duration": 1,
            "devices": [
                {"id": "smoke-1", "profile": "uniguard_smoke", "unit_id": 1, "poll_s": 0.1},
                {"id": "relay-1", "profile": "relay_board", "unit_id": 2, "poll_s": 0.1},
            ],
        }
    )
    lines: list[str] = []
    run = ScenarioRun(scenario, log=lines.append)
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/#"]).start()

    def command(target: str, action: str, args: dict) -> bytes:
        now = time.time()
        body = {
            "site_id": "site1",
            "gateway_id": "gw1",
            "request_id": str(uuid.uuid4()),
            "target": target,
            "action": action,
            "args": args,
            "issued_at": now,
            "expires_at": now + 60,
        }
        return json.dumps(sign_command(key, body)).encode()

    def final(request_id: str) -> dict | None:
        done = [
            m.json()
            for m in sub.snapshot(f"{BASE}/commands/result")
            if m.json()["request_id"] == request_id and m.json()["status"] != "accepted"
        ]
        return done[-1] if done else None

    try:
        async with run.started():
            config = make_config(
                tmp_path,
                mosquitto.port,
                commands={"platform_public_key": {"file": str(public)}},
                **run.gateway_sections(**BUS),
            )
            async with (
                running(config, build_components(config)),
                aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
            ):
                smoke, relay = run.bus.devices["smoke-1"], run.bus.devices["relay-1"]
                smoke.set("smoke", True)
                await async_wait_for(
                    lambda: ("smoke-1", "smoke", "raised") in alarm_events(sub, {"smoke-1"}), 10, "smoke raised"
                )
                smoke.set("smoke", False)
                payloads = {
                    "reset": command("smoke-1", "reset", {}),
                    "pulse": command("relay-1", "pulse", {"channel": 1, "seconds": 0.5}),
                    "bad": command("relay-1", "pulse", {"channel": 11}),
                }
                for payload in payloads.values():
                    await client.publish(f"{BASE}/commands", payload, qos=1)
                ids = {name: json.loads(p)["request_id"] for name, p in payloads.items()}
                await async_wait_for(lambda: all(final(i) for i in ids.values()), 10, "command results")
                assert final(ids["reset"])["status"] == "done" and final(ids["pulse"])["status"] == "done"
                bad = final(ids["bad"])
                assert bad["status"] == "failed"
                assert "args.channel: Input should be less than or equal to 7" in bad["reason"]
                await async_wait_for(
                    lambda: ("smoke-1", "smoke", "cleared") in alarm_events(sub, {"smoke-1"}),
                    10,
                    "smoke cleared by the reset command",
                )
                assert "relay-1: relay1 on for 0.5 s" in lines
                await async_wait_for(lambda: relay.get("relay1") is False, 5, "the pulse released itself")
    finally:
        sub.stop()
