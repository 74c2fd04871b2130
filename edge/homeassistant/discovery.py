"""Home Assistant MQTT discovery: a compound that already runs Home Assistant sees every device and alarm.

Optional (``home_assistant.enabled``). The component connects to the gateway's broker with its own client and
publishes, retained:

- a discovery config under ``<discovery_prefix>/<component>/<node>/<object>/config`` for every device field
  (sensor, or binary_sensor for true/false fields, with the profile's unit), every device's connectivity and
  "problem" state, every alarm kind a device can raise (from its profile's rules, and any other kind the
  moment it is first raised), and the gateway's count of active alarms;
- one state document per device on ``<base>/ha/<device>/state`` that those configs read with value templates.

Every entity is available while the gateway's retained ``<base>/status`` says online, so Home Assistant
greys everything out when the gateway's last will fires. States come from the gateway's in-process
state (device registry and alarm book), like the web console.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from edge.core.configbase import Strict
from edge.core.kinds import GATE_ALARM_KINDS, LIFT_ALARM_KINDS
from edge.core.types import JsonValue
from edge.pipeline.topics import Topics

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.core.runtime import Context
    from edge.pipeline.alarm_book import Alarm
    from edge.pipeline.devices import DeviceState

log = logging.getLogger(__name__)

OBJECT_ID = re.compile(r"[^A-Za-z0-9_-]+")
UNITS = {"degC": "°C", "deg": "°", "pct": "%", "percent": "%"}
ORIGIN = {"name": "compound-edge", "sw_version": "0.1.0"}
ALARM_DEVICE_CLASS = {
    "smoke": "smoke",
    "fault": "problem",
    "service": "problem",
    "offline": "connectivity",
    "tamper": "tamper",
    "water": "moisture",
    "open": "opening",
    "battery": "battery",
}


class HomeAssistantConfig(Strict):
    enabled: bool = Field(default=False, description="publish Home Assistant MQTT discovery for devices and alarms")
    discovery_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
        description="Home Assistant's discovery prefix (its MQTT integration setting)",
    )
    node_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="node id in discovery topics and unique ids; default '<site_id>_<gateway_id>'",
    )
    refresh_s: float = Field(default=2.0, ge=0.2, le=3600, description="how often device states are re-checked")


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldInfo:
    key: str
    unit: str | None = None
    boolean: bool = False
    text: bool = False  # neither a number nor true/false (a sentinel's name): no unit, no statistics
    description: str = ""


@dataclass(slots=True, kw_only=True)
class DeviceInfo:
    """What discovery announces for one device: its fields and the alarm kinds it can raise."""

    id: str
    area: str | None = None
    profile: str | None = None
    model: str | None = None
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    alarm_kinds: set[str] = field(default_factory=set)


def object_id(*parts: str) -> str:
    return "_".join(OBJECT_ID.sub("_", p).strip("_") for p in parts if p)


class Discovery:
    """Topics and payloads: pure functions of the gateway ids and the devices announced."""

    def __init__(self, config: GatewayConfig, ha: HomeAssistantConfig) -> None:
        self.topics = Topics.of(config)
        self.base = self.topics.base
        self.prefix = ha.discovery_prefix
        self.node = ha.node_id or object_id(config.site_id, config.gateway_id)
        self.status_topic = self.topics.status
        self.gateway_name = f"Gateway {config.site_id}/{config.gateway_id}"

    def state_topic(self, device: str) -> str:
        return self.topics.ha_state(device)

    @property
    def gateway_state_topic(self) -> str:
        return self.topics.ha_state("_gateway")

    def _common(self, unique: str, name: str, state_topic: str, device: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "unique_id": unique,
            "object_id": unique,
            "state_topic": state_topic,
            "availability_topic": self.status_topic,
            "availability_template": "{{ value_json.state }}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": ORIGIN,
        }

    def gateway_device(self) -> dict[str, Any]:
        return {
            "identifiers": [self.node],
            "name": self.gateway_name,
            "manufacturer": "compound-edge",
            "model": "edge gateway",
        }

    def device_block(self, info: DeviceInfo) -> dict[str, Any]:
        block: dict[str, Any] = {
            "identifiers": [object_id(self.node, info.id)],
            "name": info.id,
            "manufacturer": "compound-edge",
            "model": info.model or info.profile or "device",
            "via_device": self.node,
        }
        if info.area:
            block["suggested_area"] = info.area
        return block

    def gateway_configs(self) -> list[tuple[str, dict[str, Any]]]:
        unique = object_id(self.node, "active_alarms")
        payload = self._common(unique, "Active alarms", self.gateway_state_topic, self.gateway_device())
        payload.update(
            value_template="{{ value_json.active_alarms }}",
            state_class="measurement",
            json_attributes_topic=self.gateway_state_topic,
            json_attributes_template="{{ {'alarms': value_json.alarms} | tojson }}",
            icon="mdi:alarm-light",
        )
        return [(f"{self.prefix}/sensor/{self.node}/{unique}/config", payload)]

    def device_configs(self, info: DeviceInfo) -> list[tuple[str, dict[str, Any]]]:
        """Discovery configs for one device: connectivity, problem, each field and each alarm kind."""
        state = self.state_topic(info.id)
        device = self.device_block(info)
        out: list[tuple[str, dict[str, Any]]] = []

        def add(component: str, suffix: str, name: str, **extra: Any) -> None:
            unique = object_id(self.node, info.id, suffix)
            payload = self._common(unique, name, state, device)
            payload.update(extra)
            out.append((f"{self.prefix}/{component}/{self.node}/{unique}/config", payload))

        add(
            "binary_sensor",
            "online",
            "Online",
            device_class="connectivity",
            entity_category="diagnostic",
            value_template="{{ value_json.online }}",
            payload_on="ON",
            payload_off="OFF",
        )
        add(
            "binary_sensor",
            "problem",
            "Problem",
            device_class="problem",
            value_template="{{ value_json.problem }}",
            payload_on="ON",
            payload_off="OFF",
            json_attributes_topic=state,
            json_attributes_template="{{ {'alarms': value_json.alarms} | tojson }}",
        )
        for spec in sorted(info.fields.values(), key=lambda f: f.key):
            template = f"{{{{ value_json['values'].get('{spec.key}') }}}}"
            if spec.boolean:
                add(
                    "binary_sensor",
                    f"field_{spec.key}",
                    spec.key.replace("_", " ").capitalize(),
                    value_template=f"{{{{ 'ON' if value_json['values'].get('{spec.key}') else 'OFF' }}}}",
                    payload_on="ON",
                    payload_off="OFF",
                )
            else:
                extra: dict[str, Any] = {} if spec.text else {"state_class": "measurement"}
                if spec.unit and not spec.text:
                    extra["unit_of_measurement"] = UNITS.get(spec.unit, spec.unit)
                add(
                    "sensor",
                    f"field_{spec.key}",
                    spec.key.replace("_", " ").capitalize(),
                    value_template=template,
                    **extra,
                )
        for kind in sorted(info.alarm_kinds):
            device_class = next((c for word, c in ALARM_DEVICE_CLASS.items() if word in kind), "safety")
            add(
                "binary_sensor",
                f"alarm_{kind}",
                f"Alarm {kind}",
                device_class=device_class,
                value_template=f"{{{{ value_json.alarm_states.get('{kind}', 'OFF') }}}}",
                payload_on="ON",
                payload_off="OFF",
                json_attributes_topic=state,
                json_attributes_template=f"{{{{ (value_json.alarm_details.get('{kind}') or {{}}) | tojson }}}}",
            )
        return out


def device_state(device: DeviceState | None, alarms: Iterable[Alarm], kinds: Iterable[str]) -> dict[str, Any]:
    """The state document of one device, read by its entities' value templates."""
    open_alarms = list(alarms)
    by_kind = {a.kind: a for a in open_alarms}
    values: dict[str, JsonValue] = dict(device.values) if device else {}
    online = device.online if device else None
    return {
        "online": "ON" if online else "OFF",
        "problem": "ON" if any(a.kind != "device.offline" for a in open_alarms) or online is False else "OFF",
        "values": values,
        "alarms": [_alarm_summary(a) for a in open_alarms],
        "alarm_states": {k: "ON" if k in by_kind else "OFF" for k in sorted(set(kinds) | set(by_kind))},
        "alarm_details": {k: _alarm_summary(a) for k, a in by_kind.items()},
    }


def _alarm_summary(alarm: Alarm) -> dict[str, Any]:
    return {
        "kind": alarm.kind,
        "severity": alarm.severity.value,
        "state": alarm.state.value,
        "raised_at": round(alarm.raised_at, 3),
        "acknowledged_by": alarm.acknowledged_by,
    }


def devices_from_config(config: GatewayConfig) -> dict[str, DeviceInfo]:
    """Every configured device with the fields and alarm kinds of its profile (when the profile loads)."""
    from drivers.profile import ProfileError, get_profile

    infos: dict[str, DeviceInfo] = {}
    for dev in config.devices:
        info = infos[dev.id] = DeviceInfo(id=dev.id, area=dev.area, profile=dev.profile)
        try:
            profile = get_profile(dev.profile)
        except ProfileError as exc:
            log.warning("home assistant: device %s: %s; its fields appear as they are read", dev.id, exc)
            continue
        info.model = " ".join(p for p in (profile.vendor, profile.model) if p) or profile.name
        for spec in profile.fields:
            info.fields[spec.key] = FieldInfo(
                key=spec.key, unit=spec.unit, boolean=not spec.numeric, description=spec.description
            )
            if spec.sentinels:  # '<key>_fault' carries the sentinel's name while the sensor reports one
                info.fields[f"{spec.key}_fault"] = FieldInfo(key=f"{spec.key}_fault", text=True)
        for derived in profile.derived:
            info.fields[derived.key] = FieldInfo(key=derived.key, unit=derived.unit, description=derived.description)
        info.alarm_kinds.update(rule.kind for rule in profile.rules)
    for gate in config.gates:
        infos[gate.id] = DeviceInfo(
            id=gate.id, area=gate.area, model="face-recognition gate", alarm_kinds=set(GATE_ALARM_KINDS)
        )
    for lift in config.lifts:
        infos[lift.id] = DeviceInfo(id=lift.id, area=lift.area, model="lift camera", alarm_kinds=set(LIFT_ALARM_KINDS))
    return infos


class HomeAssistantBridge:
    """The component: announces devices and alarms to Home Assistant and keeps their states current."""

    name = "home-assistant"

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.discovery = Discovery(config, config.home_assistant)
        self.devices: dict[str, DeviceInfo] = {}
        self._announced: dict[str, str] = {}  # config topic -> payload text
        self._states: dict[str, str] = {}  # state topic -> payload text
        self.connected = asyncio.Event()

    def learn(self, ctx: Context) -> bool:
        """Add devices, fields and alarm kinds seen since the last look; True if discovery must be re-sent."""
        changed = False
        for state in ctx.devices.snapshot():
            info = self.devices.get(state.id)
            if info is None:
                info = self.devices[state.id] = DeviceInfo(id=state.id, area=state.area, profile=state.profile)
                changed = True
            for key, value in state.values.items():
                if key not in info.fields:
                    info.fields[key] = FieldInfo(
                        key=key, boolean=isinstance(value, bool), text=isinstance(value, str) or key.endswith("_fault")
                    )
                    changed = True
        for alarm in ctx.alarms.active():
            info = self.devices.get(alarm.device)
            if info is None:
                info = self.devices[alarm.device] = DeviceInfo(id=alarm.device)
                changed = True
            if alarm.kind not in info.alarm_kinds and alarm.kind != "device.offline":
                info.alarm_kinds.add(alarm.kind)
                changed = True
        return changed

    def messages(self, ctx: Context) -> list[tuple[str, str]]:
        """Discovery configs and states that changed since they were last published."""
        out: list[tuple[str, str]] = []
        configs = list(self.discovery.gateway_configs())
        for info in self.devices.values():
            configs += self.discovery.device_configs(info)
        for topic, payload in configs:
            text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
            if self._announced.get(topic) != text:
                out.append((topic, text))
        alarms = ctx.alarms.active()
        by_device: dict[str, list[Alarm]] = {}
        for alarm in alarms:
            by_device.setdefault(alarm.device, []).append(alarm)
        states = {
            self.discovery.gateway_state_topic: {
                "active_alarms": len(alarms),
                "alarms": [{"device": a.device, **_alarm_summary(a)} for a in alarms],
            }
        }
        for device_id, info in self.devices.items():
            states[self.discovery.state_topic(device_id)] = device_state(
                ctx.devices.get(device_id), by_device.get(device_id, ()), info.alarm_kinds
            )
        for topic, payload in states.items():
            text = json.dumps(payload, separators=(",", ":"), sort_keys=True)
            if self._states.get(topic) != text:
                out.append((topic, text))
        return out

    def sent(self, topic: str, text: str) -> None:
        if topic.startswith(self.discovery.prefix + "/"):
            self._announced[topic] = text
        else:
            self._states[topic] = text

    async def run(self, ctx: Context) -> None:
        import aiomqtt

        from edge.pipeline.mqtt_client import Backoff, make_client

        self.devices = devices_from_config(self.config)
        backoff = Backoff.of(self.config)
        while True:
            try:
                async with make_client(self.config, role="ha") as client:
                    backoff.reset()
                    self._announced.clear()
                    self._states.clear()
                    self.connected.set()
                    log.info("home assistant discovery: connected, prefix %s", self.discovery.prefix)
                    await self._publish_loop(ctx, client)
            except aiomqtt.MqttError as exc:
                delay = backoff.next_delay()
                # logged once when the connection is lost (or first fails), not on every retry
                level = logging.WARNING if self.connected.is_set() or backoff.attempt == 1 else logging.DEBUG
                log.log(level, "home assistant discovery: broker unreachable (%s); retrying", exc)
                self.connected.clear()
                await asyncio.sleep(delay)

    async def _publish_loop(self, ctx: Context, client: Any) -> None:
        async with ctx.hub.subscribe_events() as events:
            while True:
                self.learn(ctx)
                for topic, text in self.messages(ctx):
                    await client.publish(topic, text, qos=1, retain=True)
                    self.sent(topic, text)
                # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a cancellation that arrives as
                # the queue yields, which would leave this loop running after the gateway stopped it
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.home_assistant.refresh_s):
                        await events.get()
                while not events.empty():
                    events.get_nowait()


def build_components(config: GatewayConfig) -> list[Any]:
    return [HomeAssistantBridge(config)] if config.home_assistant.enabled else []
