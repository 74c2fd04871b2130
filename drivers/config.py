"""Config models for buses and devices (owned by the drivers package; composed in edge/config.py).

A bus is one RS-485 line (a serial port, or a serial-over-TCP converter at ``socket://host:port``) or one
Modbus TCP endpoint (``tcp://host:port``). A device names its bus, its profile (drivers/profiles/) and its
unit id, and may override the profile's poll interval, calibration, rules, part unit ids and input names.
Profile references are checked when the config loads, so a typo in a rule kind points at its YAML line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from drivers.rulespec import RuleOverride
from edge.core.configbase import Strict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"


class BusConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="bus id, referenced by devices")
    url: str = Field(description="serial port (/dev/ttyUSB0), socket://host:port, or tcp://host:port (Modbus TCP)")
    baudrate: int = Field(default=9600, ge=1200, le=921_600, description="serial baud rate (RTU buses)")
    parity: Literal["N", "E", "O"] = Field(default="N", description="serial parity")
    stopbits: Literal[1, 2] = Field(default=1, description="serial stop bits")
    timeout_s: float = Field(default=0.2, gt=0, le=10, description="answer timeout of one transaction")
    retries: int = Field(default=1, ge=0, le=5, description="retries of a failed transaction while online")
    offline_after: int = Field(default=3, ge=1, le=100, description="failed polls in a row before 'offline'")
    backoff_initial_s: float = Field(
        default=5.0, gt=0, le=3600, description="first re-poll delay of an offline device (then doubled)"
    )
    backoff_max_s: float = Field(default=60.0, gt=0, le=86_400, description="longest re-poll delay when offline")
    turnaround_s: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="extra wait after each answer (slow devices, USB adapters' latency timer); "
        "the 3.5-character silence is always kept",
    )
    reconnect_s: float = Field(default=2.0, gt=0, le=600, description="wait before reopening a lost port")

    @model_validator(mode="after")
    def _url_and_backoff(self) -> BusConfig:
        if self.url.startswith("tcp://"):
            host, _, port = self.url[6:].rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"bus url {self.url!r}: expected tcp://host:port")
        elif not self.url or "://" in self.url and not self.url.startswith(("socket://", "rfc2217://", "loop://")):
            raise ValueError(f"bus url {self.url!r}: expected a serial port, socket://host:port or tcp://host:port")
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError("backoff_initial_s must not exceed backoff_max_s")
        return self

    @property
    def is_tcp(self) -> bool:
        return self.url.startswith("tcp://")


class InputConfig(Strict):
    """Names one input of a digital-input module and, optionally, the alarm it raises."""

    channel: int = Field(ge=0, le=124, description="input number on the module (0-based)")
    key: str = Field(pattern=KEY_PATTERN, description="reading key, e.g. beam_north, button_lobby")
    nc: bool = Field(default=True, description="normally closed contact: open (0) means active")
    alarm: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,47}(\.[a-z0-9_]{1,32})?$",
        description="alarm kind while active (beam_interrupted, emergency_button, tamper, door_open); "
        "add '.suffix' when two inputs of a module raise the same kind",
    )
    rule: RuleOverride | None = Field(default=None, description="knobs of that alarm (hold times, severity)")


class DeviceConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="device id, unique in the gateway; a topic level")
    bus: str = Field(description="id of the bus the device is on")
    profile: str = Field(description="device profile name (drivers/profiles/<name>.yaml)")
    unit_id: int | None = Field(
        default=None, ge=1, le=247, description="Modbus unit id, 1-247 (default: the profile's)"
    )
    units: dict[str, int] = Field(
        default_factory=dict, description="unit id per part of a composite device (manhole: tilt, water, lid)"
    )
    area: str | None = Field(default=None, description="site area shown in the console, e.g. 'block 3'")
    poll_s: float | None = Field(default=None, ge=0, le=86_400, description="poll interval (default: the profile's)")
    calibration: dict[str, float] = Field(
        default_factory=dict, description="calibration knobs of the profile (bin empty/full distance, tilt)"
    )
    rules: dict[str, RuleOverride] = Field(default_factory=dict, description="per-kind overrides of the rules")
    channels: int | None = Field(default=None, ge=1, le=125, description="channel count for channel profiles")
    inputs: list[InputConfig] = Field(default_factory=list, description="names of a digital-input module's inputs")
    report: Literal["every_poll", "on_change"] = Field(
        default="every_poll",
        description="every_poll: every value of every poll goes to the pipeline and the platform; on_change: "
        "only values that differ from the last one sent (report by exception): poll fast for quick alarms "
        "without flooding the uplink",
    )
    report_every_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="with report: on_change, send every value again at least this often even if unchanged "
        "(a heartbeat, so the platform knows the values are current); default never",
    )

    @model_validator(mode="after")
    def _report_period_needs_on_change(self) -> DeviceConfig:
        if self.report_every_s is not None and self.report != "on_change":
            raise ValueError(
                f"report_every_s is set but report is {self.report!r}: report_every_s only applies to "
                "report: on_change (every_poll already sends every value of every poll)"
            )
        return self

    @model_validator(mode="after")
    def _fits_profile(self) -> DeviceConfig:
        from drivers.device import resolve_device  # late: profiles load from disk

        resolve_device(self)
        return self
