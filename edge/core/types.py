"""Core types that flow through the gateway: readings in, events and command results out.

Readings are the hot path (tens of thousands a second), so they are slotted dataclasses, not pydantic
models. Events, commands and results cross the wire, so each has an explicit ``to_dict`` that matches
its JSON Schema in docs/schemas/v1/.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

JsonValue = str | int | float | bool | None


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class AlarmState(enum.StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    IN_HANDLING = "in_handling"  # someone was sent (closed loop); the note says who
    RESOLVED = "resolved"  # handled, with a note
    CLEARED = "cleared"  # the condition ended (the alarm may stay listed until acknowledged)


class Availability(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(slots=True, frozen=True)
class Reading:
    """One value read from one device: ``device`` is the configured device id, ``key`` a profile field."""

    device: str
    key: str
    value: JsonValue
    ts: float = field(default_factory=time.time)
    # monotonic time the reading entered the gateway, for latency figures; not sent
    t_in: float = field(default_factory=time.monotonic, compare=False)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class Event:
    """An alert or a notable fact (device offline, access decision, command rejected).

    ``id`` is unique per message and stays the same on every resend, so the platform can drop duplicates.
    ``alarm_id`` ties the lifecycle messages of one alarm together (raised -> acknowledged -> cleared).
    Facts that have no lifecycle (an access decision) carry ``state`` None.
    """

    kind: str
    device: str
    severity: Severity
    state: AlarmState | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    alarm_id: str | None = None
    ts: float = field(default_factory=time.time)
    raised_at: float | None = None
    acknowledged_at: float | None = None
    cleared_at: float | None = None
    acknowledged_by: str | None = None
    by: str | None = None  # who took this lifecycle step (acknowledged, in_handling, resolved, a note)
    note: str | None = None  # what they wrote (who was sent, what was found)
    closed: bool | None = None  # alarm steps: True when this step took the alarm off the active list
    snapshot_jpeg: bytes | None = field(default=None, repr=False)

    @property
    def is_alarm(self) -> bool:
        return self.state is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "device": self.device,
            "severity": self.severity.value,
            "state": self.state.value if self.state else None,
            "ts": round(self.ts, 3),
            "details": self.details,
        }
        for name in (
            "alarm_id",
            "raised_at",
            "acknowledged_at",
            "cleared_at",
            "acknowledged_by",
            "by",
            "note",
            "closed",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 3) if isinstance(value, float) else value
        return out


class CommandStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


@dataclass(slots=True, frozen=True)
class Command:
    """A verified command from the platform (signature, expiry and replay already checked)."""

    request_id: str
    target: str
    action: str
    args: dict[str, Any]
    issued_at: float
    expires_at: float
    issuer: str = "platform"
    # the arguments as the action's model (edge/core/args.py), set by the dispatcher before the handler runs
    params: Any = field(default=None, compare=False)


@dataclass(slots=True, frozen=True)
class CommandResult:
    request_id: str
    status: CommandStatus
    reason: str | None = None
    data: dict[str, Any] | None = None
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id, "status": self.status.value, "ts": round(self.ts, 3)}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.data is not None:
            out["data"] = self.data
        return out


class CommandError(Exception):
    """Raised by a command handler: the command failed for the reason given (sent back to the platform)."""


@dataclass(slots=True, frozen=True)
class Incoming:
    """A message that came in over the uplink (a command, most often), before it is parsed or verified."""

    topic: str
    payload: bytes
    response_topic: str | None
    correlation: bytes | None
