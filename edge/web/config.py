"""Config model of the guard-room web console, metrics and health endpoints (owned by edge.web).

Users are stored as argon2id hashes (``edge web hash-password`` prints one; older scrypt hashes still
verify); a password may instead come from a file or the environment (a systemd credential), hashed in
memory at start-up. Every page and
endpoint needs a login except ``/health``; ``/metrics`` also accepts a bearer token for Prometheus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from edge.core.configbase import Secret, Strict, require_unique
from edge.core.types import Severity
from edge.web.passwords import check_hash_format

USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"

Role = Literal["guard", "supervisor", "installer"]
Action = Literal["acknowledge", "handle", "note", "resolve", "reset", "open_gate", "hold_door", "release_door"]
DEFAULT_ROLES: dict[Role, list[Action]] = {
    "guard": ["acknowledge", "handle", "note", "resolve"],
    "supervisor": ["acknowledge", "handle", "note", "resolve", "open_gate", "hold_door", "release_door"],
    "installer": ["acknowledge", "note", "reset"],
}


class KindOverride(Strict):
    label: str | None = Field(default=None, max_length=80, description="the site's own name of this alarm kind")
    instruction: str | None = Field(
        default=None, max_length=300, description="what the guard does (whom to call), in the site's language"
    )


class Names(Strict):
    devices: dict[str, str] = Field(
        default_factory=dict, description="display name per device, gate or lift id (e.g. 3号楼楼梯烟感)"
    )
    areas: dict[str, str] = Field(default_factory=dict, description="display name per site area")

    @field_validator("devices", "areas")
    @classmethod
    def _short(cls, names: dict[str, str]) -> dict[str, str]:
        for key, name in names.items():
            if not 1 <= len(name) <= 80:
                raise ValueError(f"{key}: a display name has 1 to 80 characters")
        return names


class SeverityAlert(Strict):
    sound: bool = Field(description="beep for a new unacknowledged alarm of this severity (after 'Sound on')")
    flash: bool = Field(description="flash the row and the screen")
    repeat_s: float = Field(
        default=0, ge=0, le=3600, description="repeat the alert this often until acknowledged; 0 once"
    )


def _default_alerts() -> dict[Severity, SeverityAlert]:
    return {
        Severity.CRITICAL: SeverityAlert(sound=True, flash=True, repeat_s=10),
        Severity.MAJOR: SeverityAlert(sound=True, flash=True, repeat_s=30),
        Severity.WARNING: SeverityAlert(sound=False, flash=False),
        Severity.INFO: SeverityAlert(sound=False, flash=False),
    }


class PlanConfig(Strict):
    image: Path = Field(description="site plan image (PNG, JPEG or SVG) shown with the devices on it")
    positions: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="device, gate or lift id -> [x, y] on the plan, 0-1 from the top left"
    )

    @field_validator("positions")
    @classmethod
    def _inside(cls, positions: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for key, (x, y) in positions.items():
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"{key}: x and y are fractions of the plan, between 0 and 1")
        return positions


class AlarmPicturesConfig(Strict):
    folder: Path | None = Field(
        default=None, description="where alarm pictures are kept; default <data_dir>/alarm-pictures"
    )
    max_count: int = Field(default=500, ge=1, le=100_000, description="pictures kept; past it the oldest go first")
    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024 * 1024 * 1024,
        description="disk for all pictures together; past it the oldest go first",
    )


class WebUser(Strict):
    name: str = Field(pattern=USER_PATTERN, description="login name")
    password_hash: str | None = Field(
        default=None,
        max_length=512,
        description="argon2id hash from `edge web hash-password` ($argon2id$...; older scrypt$n$r$p$salt$hash too)",
    )
    password: Secret | None = Field(
        default=None,
        description="the password itself from a file or environment variable (hashed at start-up)",
    )
    role: Role = Field(default="guard", description="what this user may do: guard, supervisor or installer")

    @field_validator("password_hash")
    @classmethod
    def _hash_format(cls, value: str | None) -> str | None:
        if value is not None:
            check_hash_format(value)
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> WebUser:
        if (self.password_hash is None) == (self.password is None):
            raise ValueError(f"user {self.name!r}: give exactly one of password_hash or password")
        return self


class SessionConfig(Strict):
    cookie_name: str = Field(
        default="edge_session", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="name of the session cookie"
    )
    secure: bool = Field(
        default=False, description="mark the cookie Secure (set it when a TLS proxy fronts the console)"
    )
    idle_timeout_s: float = Field(
        default=8 * 3600.0,
        ge=60,
        le=7 * 86_400,
        description="a session ends after this long without a request",
    )
    max_age_s: float = Field(
        default=24 * 3600.0,
        ge=60,
        le=30 * 86_400,
        description="a session ends this long after login, whatever",
    )
    max_sessions: int = Field(default=64, ge=1, le=10_000, description="sessions kept at once; oldest go first")

    @model_validator(mode="after")
    def _idle_within_max(self) -> SessionConfig:
        if self.idle_timeout_s > self.max_age_s:
            raise ValueError("idle_timeout_s must not exceed max_age_s")
        return self


class WebConfig(Strict):
    enabled: bool = Field(default=False, description="serve the console, /metrics and /health")
    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8080, ge=0, le=65535, description="listen port (0 picks a free one, for tests)")
    users: list[WebUser] = Field(default_factory=list, description="who may log in to the console")
    session: SessionConfig = Field(default_factory=SessionConfig, description="login sessions (cookie)")
    metrics_token: Secret | None = Field(
        default=None,
        description="bearer token that opens /metrics without a login (Prometheus `authorization` setting)",
    )
    login_attempts: int = Field(
        default=5, ge=1, le=1000, description="failed logins per client address before it must wait"
    )
    login_lockout_s: float = Field(
        default=60.0, ge=1, le=86_400, description="how long a client waits after too many failed logins"
    )
    access_log_size: int = Field(
        default=200, ge=1, le=10_000, description="access decisions (with snapshots) kept for the console"
    )
    snapshot_max_bytes: int = Field(
        default=256 * 1024, ge=1024, le=8 * 1024 * 1024, description="larger access snapshots are not kept"
    )
    snapshot_budget_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        le=256 * 1024 * 1024,
        description="memory for access snapshots in all; past it the oldest entries lose theirs",
    )
    alarm_pictures: AlarmPicturesConfig = Field(
        default_factory=AlarmPicturesConfig,
        description="alarm snapshots (e-bike, gate, falling object) on disk, bounded, kept over a restart",
    )
    refresh_s: float = Field(
        default=2.0, ge=0.2, le=60, description="device health is pushed to browsers at most this often"
    )
    language: Literal["auto", "zh-CN", "en"] = Field(
        default="auto", description="console and edge watch language; auto follows the browser"
    )
    default_language: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description="language when auto finds neither in the browser's list"
    )
    timezone: str = Field(default="Asia/Shanghai", description="the site's time zone (IANA name); 24-hour times")
    names: Names = Field(default_factory=Names, description="display names of devices and areas")
    alarm_kinds: dict[str, KindOverride] = Field(
        default_factory=dict, description="per alarm kind: the site's own label and instruction"
    )
    alerts: dict[Severity, SeverityAlert] = Field(
        default_factory=_default_alerts, description="sound, flash and repeat per severity"
    )
    roles: dict[Role, list[Action]] = Field(
        default_factory=lambda: dict(DEFAULT_ROLES), description="the actions each role may take"
    )
    console_key: Path | None = Field(
        default=None,
        description="the console's own Ed25519 private key (PEM) for its commands; default <data_dir>/console.key",
    )
    plan: PlanConfig | None = Field(default=None, description="site plan with device positions")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: list[WebUser]) -> list[WebUser]:
        require_unique([u.name for u in users], "user")
        return users

    @model_validator(mode="after")
    def _someone_can_log_in(self) -> WebConfig:
        if self.enabled and not self.users:
            raise ValueError("web.enabled needs at least one entry in web.users (no page answers without login)")
        return self
