"""The gateway configuration: one YAML file validated into typed, immutable models.

Each part of the gateway owns the model of its section (drivers/config.py for buses and devices,
edge/gate/config.py, edge/lift/config.py, edge/falls/config.py, edge/web/config.py); this module composes
them, loads the file and turns validation errors into messages that name the field and its line:
``devices[3].unit_id: must be between 1 and 247 (line 42)``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import Field, ValidationError, create_model, field_validator, model_validator

from drivers.config import BusConfig, DeviceConfig
from edge.core.configbase import Secret, Strict, require_unique
from edge.falls.config import FallCameraConfig
from edge.gate.config import GateConfig
from edge.homeassistant.discovery import HomeAssistantConfig
from edge.lift.config import LiftConfig
from edge.pipeline.alarm_policy import AlarmsConfig
from edge.web.config import WebConfig

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class TlsConfig(Strict):
    ca_file: Path = Field(description="CA bundle that signed the broker's certificate")
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(default=None, description="client private key (mutual TLS)")
    key_password: Secret | None = Field(default=None, description="password of the client key, if encrypted")
    check_hostname: bool = Field(default=True, description="verify the broker's host name against its certificate")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self


class BrokerAddress(Strict):
    host: str = Field(min_length=1, description="broker node host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker node port")


class MqttConfig(Strict):
    host: str = Field(default="127.0.0.1", description="broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port (8883 for TLS)")
    brokers: list[BrokerAddress] = Field(
        default_factory=list,
        max_length=16,
        description="nodes of one clustered broker, tried in turn: a lost or refused connection moves to the next; "
        "when given, host and port are not used",
    )
    protocol: Literal["5", "3.1.1"] = Field(default="5", description="MQTT protocol version")
    client_id: str | None = Field(default=None, description="client id; default '<site_id>-<gateway_id>'")
    username: str | None = Field(default=None, description="broker user name")
    password: Secret | None = Field(default=None, description="broker password (file or env preferred)")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; no plaintext fallback when set")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive")
    connect_timeout_s: float = Field(
        default=10.0,
        ge=1,
        le=120,
        description="wait this long for the broker's CONNACK, then try the next node (or back off)",
    )
    topic_prefix: str = Field(
        default="ce/v1",
        pattern=r"^[^#+/$][^#+]*[^#+/]$|^[^#+/$]$",
        description="first topic levels, before site and gateway ids (no wildcards, no leading or trailing /)",
    )
    format: Literal["native", "thingsboard"] = Field(
        default="native", description="uplink format: the project's topic contract or the ThingsBoard gateway API"
    )
    max_message_bytes: int | None = Field(
        default=None,
        ge=1024,
        le=268_435_455,
        description="largest MQTT packet the broker takes (mosquitto's message_size_limit); bigger events go "
        "without their picture; default: only the CONNACK's Maximum Packet Size, if any",
    )
    max_inflight: int = Field(default=64, ge=1, le=1000, description="QoS 1 messages awaiting PUBACK at once")
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60, description="first reconnect delay")
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600, description="reconnect delay cap (with jitter)")

    @property
    def nodes(self) -> list[tuple[str, int]]:
        """The broker nodes to try, in order."""
        return [(b.host, b.port) for b in self.brokers] or [(self.host, self.port)]

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class OutboxConfig(Strict):
    path: Path | None = Field(default=None, description="SQLite file; default <data_dir>/outbox.db")
    max_messages: int = Field(
        default=200_000,
        ge=100,
        le=50_000_000,
        description="bound on queued messages; past it the oldest telemetry goes, alarm events never",
    )
    max_readings_per_message: int = Field(default=500, ge=1, le=10_000, description="telemetry batch size")
    min_write_interval_ms: float = Field(
        default=10.0,
        ge=0,
        le=1000,
        description="group commit: at most one outbox write per interval; a write after a quiet spell goes at once",
    )
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite synchronous mode: FULL survives power cuts, NORMAL only crashes"
    )


class PipelineConfig(Strict):
    queue_size: int = Field(default=20_000, ge=10, le=1_000_000, description="bounded reading queue")
    alarm_resend_s: float = Field(
        default=300.0, ge=5, le=86_400, description="re-send unacknowledged critical alarms this often"
    )
    telemetry: bool = Field(default=True, description="forward raw readings as telemetry besides alarms")


class CommandsConfig(Strict):
    platform_public_key: Secret | None = Field(
        default=None, description="Ed25519 public key of the platform (PEM or 32 raw bytes in base64)"
    )
    max_lifetime_s: float = Field(
        default=300.0, gt=0, le=86_400, description="longest expires_at - issued_at a command may have"
    )
    clock_skew_s: float = Field(default=30.0, ge=0, le=3600, description="tolerated clock difference")
    max_queued: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="incoming command messages queued at most; past it they are dropped and counted",
    )
    max_concurrent: int = Field(default=8, ge=1, le=256, description="commands handled at once")
    max_rate_per_s: float = Field(
        default=200.0,
        ge=1,
        le=100_000,
        description="incoming command messages taken per second at most (bursts up to max_queued); the rest are "
        "dropped and counted, so a flood cannot starve the alarms",
    )
    connection: Literal["own", "shared"] = Field(
        default="own",
        description="'own': a second MQTT connection (client id '<client_id>-cmd') in a small process takes the "
        "command topics, so a flood never reaches the connection that carries the alarms; 'shared': one "
        "connection for both (a broker that allows one connection per device)",
    )
    max_bytes: int = Field(
        default=16 * 2**20,
        ge=1024,
        le=268_435_455,
        description="largest command message taken (enrolment photos travel in commands); larger ones are dropped "
        "and counted",
    )
    rejection_summary_s: float = Field(
        default=10.0,
        ge=1,
        le=3600,
        description="rejections after the first of an interval are counted into one command.rejected summary",
    )
    max_rejection_answers: int = Field(
        default=20, ge=0, le=10_000, description="rejected answers sent per rejection_summary_s interval at most"
    )
    response_topic_prefixes: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="MQTT 5 response topics honoured only under these prefixes (and only for verified commands); "
        "otherwise answers go to <base>/commands/result",
    )

    @field_validator("response_topic_prefixes")
    @classmethod
    def _no_wildcards(cls, prefixes: list[str]) -> list[str]:
        for prefix in prefixes:
            if not prefix or "#" in prefix or "+" in prefix or prefix.startswith("$"):
                raise ValueError(f"{prefix!r}: a topic prefix, without wildcards or a leading $")
        return prefixes


class GatewayConfig(Strict):
    site_id: str = Field(pattern=ID_PATTERN, description="compound id; the second topic level")
    gateway_id: str = Field(pattern=ID_PATTERN, description="this gateway's id; the third topic level")
    data_dir: Path = Field(default=Path("var"), description="where the outbox, stores and state live")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="uplink broker connection")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="durable SQLite outbox")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig, description="reading queue and rules")
    commands: CommandsConfig = Field(default_factory=CommandsConfig, description="signed platform commands")
    alarms: AlarmsConfig = Field(
        default_factory=AlarmsConfig, description="alarm lifecycle (response targets) and the alarm history"
    )
    buses: list[BusConfig] = Field(default_factory=list, description="RS-485 / Modbus TCP buses")
    devices: list[DeviceConfig] = Field(default_factory=list, description="devices on those buses")
    gates: list[GateConfig] = Field(default_factory=list, description="face-recognition gates")
    lifts: list[LiftConfig] = Field(default_factory=list, description="lift cameras")
    falls: list[FallCameraConfig] = Field(default_factory=list, description="falling-object (facade) cameras")
    web: WebConfig = Field(default_factory=WebConfig, description="guard-room console, /metrics, /health")
    home_assistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant MQTT discovery"
    )

    @field_validator("devices")
    @classmethod
    def _unique_device_ids(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        require_unique([d.id for d in devices], "device id")
        return devices

    @field_validator("buses")
    @classmethod
    def _unique_bus_ids(cls, buses: list[BusConfig]) -> list[BusConfig]:
        require_unique([b.id for b in buses], "bus id")
        return buses

    @model_validator(mode="after")
    def _devices_on_known_buses(self) -> GatewayConfig:
        bus_ids = {bus.id for bus in self.buses}
        for device in self.devices:
            if device.bus not in bus_ids:
                raise ValueError(f"device {device.id!r} names bus {device.bus!r}, which is not configured")
        return self

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.data_dir / "outbox.db"

    @property
    def history_path(self) -> Path:
        return self.alarms.history.path or self.outbox_path.parent / "history.db"

    def area_of(self, device: str) -> str | None:
        """The site area of a device, gate, lift or facade camera id (None when it has none or is not configured)."""
        sections: tuple[Sequence[DeviceConfig | GateConfig | LiftConfig | FallCameraConfig], ...] = (
            self.devices,
            self.gates,
            self.lifts,
            self.falls,
        )
        for items in sections:
            for item in items:
                if item.id == device:
                    return item.area
        return None


@dataclass(frozen=True, slots=True)
class ExtraSection:
    """A config section that a tool outside the runtime adds for itself (the benchmarks' synthetic load)."""

    name: str
    model: type[Strict]
    description: str


_EXTRA_SECTIONS: dict[str, ExtraSection] = {}

# Sections that ``edge run`` does not know, and where they are read instead.
FOREIGN_SECTIONS = {
    "loadgen": "the synthetic load is a benchmark tool: run this file with `python -m simulators.loadgen run "
    "--config FILE`, not `edge run`",
}


def register_section(name: str, model: type[Strict], *, description: str) -> None:
    """Add an optional top-level section (default none), read by the code that registers it."""
    _EXTRA_SECTIONS[name] = ExtraSection(name, model, description)
    _composed_model.cache_clear()


@functools.cache
def _composed_model() -> type[GatewayConfig]:
    if not _EXTRA_SECTIONS:
        return GatewayConfig
    fields: dict[str, Any] = {
        s.name: (s.model | None, Field(default=None, description=s.description)) for s in _EXTRA_SECTIONS.values()
    }
    model: type[GatewayConfig] = create_model("GatewayConfig", __base__=GatewayConfig, **fields)
    return model


def config_model() -> type[GatewayConfig]:
    """The model ``parse_config`` validates against: GatewayConfig plus any registered sections."""
    return _composed_model()


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    message: str
    line: int | None

    def __str__(self) -> str:
        suffix = f" (line {self.line})" if self.line else ""
        return f"{self.where}: {self.message}{suffix}"


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every one of them."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


class WiredSection(Protocol):
    """An item of a section that names devices of the buses (a gate's relay, a lift's door contact)."""

    @property
    def id(self) -> str: ...

    def device_references(self) -> list[tuple[str, str]]: ...


def reference_problems(config: GatewayConfig) -> list[Problem]:
    """Wiring mistakes between sections: gates and lifts with duplicate ids, ids shared with a device, or naming
    devices that are not configured. ``edge check-config`` and ``edge run`` report them with the rest."""
    problems: list[Problem] = []
    devices = {d.id for d in config.devices}
    sections: tuple[tuple[str, Sequence[WiredSection]], ...] = (
        ("gates", config.gates),
        ("lifts", config.lifts),
        ("falls", config.falls),
    )
    for section, items in sections:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.id in seen:
                problems.append(Problem(f"{section}[{i}].id", f"{item.id!r} is used twice", None))
            if item.id in devices:
                problems.append(Problem(f"{section}[{i}].id", f"{item.id!r} is also a device id", None))
            seen.add(item.id)
            for where, device in item.device_references():
                if device not in devices:
                    problems.append(Problem(f"{section}[{i}].{where}", f"device {device!r} is not configured", None))
    known = devices | {item.id for _, items in sections for item in items}
    plan = config.web.plan
    for where, ids in (
        ("web.names.devices", config.web.names.devices),
        ("web.plan.positions", plan.positions if plan else {}),
    ):
        for name in ids:
            if name not in known:
                problems.append(
                    Problem(f"{where}.{name}", "not a configured device, gate, lift or facade camera", None)
                )
    return problems


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [Problem("<file>", exc.strerror or str(exc), None)]) from exc
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> GatewayConfig:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(source, [Problem("<yaml>", str(getattr(exc, "problem", exc)), line)]) from exc
    if not isinstance(data, dict):
        raise ConfigError(source, [Problem("<root>", "the file must be a mapping of sections", 1)])
    model = config_model()
    try:
        return model.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(source, [_problem(err, node) for err in exc.errors()]) from exc


def _foreign_section_message(loc: list[Any], message: str) -> str:
    if len(loc) == 1 and loc[0] in FOREIGN_SECTIONS and loc[0] not in _EXTRA_SECTIONS:
        return f"{message}: {FOREIGN_SECTIONS[loc[0]]}"
    return message


def _problem(err: Any, root: yaml.Node | None) -> Problem:
    loc = [part for part in err["loc"] if not _is_union_tag(part)]
    where = _format_loc(loc) or "<root>"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = _foreign_section_message(loc, "unknown key")
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return Problem(where, message, _line_of(root, loc))


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the tag of a discriminated union, or 'function-after[...]', to the location
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _format_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The line of the deepest YAML node that the error location reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line
