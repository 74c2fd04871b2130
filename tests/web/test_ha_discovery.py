"""Home Assistant discovery: configs for every device field and alarm, and states that follow the gateway."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from edge.core.types import Reading, Severity
from edge.homeassistant.discovery import Discovery, HomeAssistantBridge, device_state, devices_from_config
from tests.support import Subscriber, async_wait_for, make_config
from tests.web.helpers import running_gateway

BUSES = [{"id": "bus1", "url": "socket://127.0.0.1:1"}]
DEVICES = [
    {"id": "smoke-b3-1", "bus": "bus1", "profile": "uniguard_smoke", "unit_id": 3, "area": "block 3"},
    {
        "id": "manhole-2",
        "bus": "bus1",
        "profile": "manhole_monitor",
        "area": "east road",
        "units": {"tilt": 80, "water": 2, "lid": 4},
    },
    {"id": "bin-7", "bus": "bus1", "profile": "urm13_bin", "area": "bins north"},
]
HA = {"enabled": True, "refresh_s": 0.2}
TEMPLATE_KEYS = re.compile(r"value_json(?:\.(\w+)|\['(\w+)'\])")


def referenced_keys(template: str) -> set[str]:
    return {a or b for a, b in TEMPLATE_KEYS.findall(template)}


def test_every_profile_field_and_rule_is_announced(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        1883,
        buses=BUSES,
        devices=DEVICES,
        home_assistant=HA,
        gates=[{"id": "gate-east", "camera": "0", "area": "east entrance"}],
        lifts=[{"id": "lift-2", "camera_url": "0", "area": "block 2"}],
    )
    infos = devices_from_config(config)
    assert infos["gate-east"].alarm_kinds == {"door.forced", "door.held_open"}
    from edge.lift.component import ALARM_KIND

    assert infos["lift-2"].alarm_kinds == {ALARM_KIND} and infos["lift-2"].area == "block 2"
    assert set(infos["smoke-b3-1"].fields) == {"mounted", "service", "smoke", "relay"}
    assert infos["smoke-b3-1"].alarm_kinds == {"smoke", "service", "fault"}
    assert infos["manhole-2"].fields["tilt"].unit == "deg"

    discovery = Discovery(config, config.home_assistant)
    configs = dict(discovery.device_configs(infos["manhole-2"]))
    prefix = "homeassistant/sensor/site1_gw1/site1_gw1_manhole-2_field_water_level/config"
    water = configs[prefix]
    assert water["unit_of_measurement"] == "mm" and water["state_topic"] == "ce/v1/site1/gw1/ha/manhole-2/state"
    assert water["device"]["suggested_area"] == "east road" and water["device"]["via_device"] == "site1_gw1"
    assert water["availability_topic"] == "ce/v1/site1/gw1/status"
    lid = configs["homeassistant/binary_sensor/site1_gw1/site1_gw1_manhole-2_field_lid_open/config"]
    assert lid["payload_on"] == "ON"
    alarm = configs["homeassistant/binary_sensor/site1_gw1/site1_gw1_manhole-2_alarm_manhole_open/config"]
    assert alarm["device_class"] == "opening"
    bin_configs = dict(discovery.device_configs(infos["bin-7"]))
    fill = bin_configs["homeassistant/sensor/site1_gw1/site1_gw1_bin-7_field_fill_pct/config"]
    assert fill["unit_of_measurement"] == "%" and fill["state_class"] == "measurement"
    no_echo = bin_configs["homeassistant/sensor/site1_gw1/site1_gw1_bin-7_field_distance_fault/config"]
    assert "state_class" not in no_echo and "unit_of_measurement" not in no_echo
    assert (
        bin_configs["homeassistant/sensor/site1_gw1/site1_gw1_bin-7_field_temperature/config"]["unit_of_measurement"]
        == "°C"
    )
    configs.update(bin_configs)
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(unique_ids) == len(set(unique_ids))
    # every template reads keys the state document has
    state = device_state(None, [], infos["manhole-2"].alarm_kinds)
    for payload in configs.values():
        for name in ("value_template", "json_attributes_template"):
            if name in payload:
                assert referenced_keys(payload[name]) <= set(state) | {"values"}, payload[name]


async def test_the_bridge_publishes_discovery_and_follows_alarms(tmp_path: Path, mosquitto) -> None:
    ha_sub = Subscriber(mosquitto.host, mosquitto.port, ["homeassistant/#", "ce/v1/site1/gw1/ha/#"]).start()
    try:
        config_sections = {"buses": BUSES, "devices": DEVICES, "home_assistant": HA}
        async with running_gateway(tmp_path, mosquitto.port, **config_sections) as gw:
            bridge = HomeAssistantBridge(gw.gateway.config)
            task = asyncio.create_task(bridge.run(gw.gateway.ctx))
            try:

                def latest(topic: str) -> dict | None:
                    found = [m for m in ha_sub.snapshot(topic) if m.topic == topic]
                    return found[-1].json() if found else None

                state_topic = "ce/v1/site1/gw1/ha/smoke-b3-1/state"
                smoke_cfg = "homeassistant/binary_sensor/site1_gw1/site1_gw1_smoke-b3-1_alarm_smoke/config"
                await async_wait_for(lambda: latest(smoke_cfg) and latest(state_topic), 15, "discovery")
                assert latest(smoke_cfg)["device_class"] == "smoke"
                assert latest(state_topic)["alarm_states"]["smoke"] == "OFF"

                core = gw.gateway
                await core.devices.set_availability("smoke-b3-1", True)
                await core.readings.put(Reading("smoke-b3-1", "smoke", True))
                await core.alarms.update("smoke-b3-1", "smoke", active=True, severity=Severity.CRITICAL)
                await core.alarms.update("smoke-b3-1", "door.forced", active=True, severity=Severity.MAJOR)

                def smoke_on() -> bool:
                    s = latest(state_topic) or {}
                    return s.get("alarm_states", {}).get("smoke") == "ON" and s.get("values", {}).get("smoke") is True

                await async_wait_for(smoke_on, 15, "the smoke alarm state")
                state = latest(state_topic)
                assert state["online"] == "ON" and state["problem"] == "ON"
                forced = "homeassistant/binary_sensor/site1_gw1/site1_gw1_smoke-b3-1_alarm_door_forced/config"
                await async_wait_for(lambda: latest(forced), 15, "discovery of a kind first seen")
                gateway_state = "ce/v1/site1/gw1/ha/_gateway/state"
                await async_wait_for(lambda: (latest(gateway_state) or {}).get("active_alarms") == 2, 15)

                await core.alarms.update("smoke-b3-1", "smoke", active=False)
                await core.alarms.update("smoke-b3-1", "door.forced", active=False)
                await async_wait_for(lambda: (latest(state_topic) or {}).get("problem") == "OFF", 15, "clear")
                assert latest(state_topic)["alarm_states"] == {
                    "door.forced": "OFF",
                    "fault": "OFF",
                    "service": "OFF",
                    "smoke": "OFF",
                }
                raw = next(m for m in ha_sub.snapshot(smoke_cfg))
                assert json.loads(raw.payload)["unique_id"] == "site1_gw1_smoke-b3-1_alarm_smoke"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        late = Subscriber(mosquitto.host, mosquitto.port, ["homeassistant/#"]).start()
        try:
            await async_wait_for(lambda: late.snapshot(), 10, "retained discovery for a late subscriber")
            assert all(m.retain for m in late.snapshot())
        finally:
            late.stop()
    finally:
        ha_sub.stop()
