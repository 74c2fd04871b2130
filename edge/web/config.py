"""Config model of the guard-room web console, metrics and health endpoints (owned by edge.web).

Users are stored as scrypt hashes (``edge web hash-password`` prints one); a password may instead come
from a file or the environment (a systemd credential), hashed in memory at start-up. Every page and
endpoint needs a login except ``/health``; ``/metrics`` also accepts a bearer token for Prometheus.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from edge.core.configbase import Secret, Strict, require_unique
from edge.web.passwords import check_hash_format

USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class WebUser(Strict):
    name: str = Field(pattern=USER_PATTERN, description="login name")
    password_hash: str | None = Field(
        default=None,
        max_length=512,
        description="scrypt hash from `edge web hash-password` (scrypt$n$r$p$salt$hash)",
    )
    password: Secret | None = Field(
        default=None,
        description="the password itself from a file or environment variable (hashed at start-up)",
    )

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
    max_sessions: int = Field(
        default=64, ge=1, le=10_000, description="sessions kept at once; oldest go first"
    )

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
        default=8 * 1024 * 1024, ge=0, le=256 * 1024 * 1024,
        description="memory for access snapshots in all; past it the oldest entries lose theirs",
    )
    refresh_s: float = Field(
        default=2.0, ge=0.2, le=60, description="device health is pushed to browsers at most this often"
    )

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: list[WebUser]) -> list[WebUser]:
        require_unique([u.name for u in users], "user")
        return users

    @model_validator(mode="after")
    def _someone_can_log_in(self) -> WebConfig:
        if self.enabled and not self.users:
            raise ValueError(
                "web.enabled needs at least one entry in web.users (no page answers without login)"
            )
        return self
