"""The command dispatcher: every platform command comes back through here, is authenticated and answered.

A command is rejected, logged and reported as a ``command.rejected`` event when it is malformed JSON, lacks
a field or has one of the wrong type, is unsigned or badly signed (Ed25519, the platform's public key from
the config), has expired or lives longer than ``max_lifetime_s``, was already seen (replay: request ids are
kept in SQLite until they expire, so a restart does not reopen the window), or names an unknown action.
A valid command is answered ``accepted`` at once, then ``done`` or ``failed`` with the handler's reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.core.metrics import Metrics
from edge.core.runtime import CommandHandler
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Event, Incoming, Severity
from edge.pipeline.signing import SignatureError, verify_command

log = logging.getLogger(__name__)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "request_id": str, "target": str, "action": str, "args": dict,
    "issued_at": (int, float), "expires_at": (int, float), "signature": str,
}


class Rejected(Exception):
    pass


Reply = Callable[[CommandResult, Incoming, str], Awaitable[None]]


class ReplayGuard:
    """Request ids seen and not yet expired, kept on disk so a restart does not allow a replay."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (request_id TEXT PRIMARY KEY, expires_at REAL NOT NULL)")

    def first_time(self, request_id: str, expires_at: float, now: float) -> bool:
        self._db.execute("DELETE FROM seen WHERE expires_at < ?", (now,))
        try:
            self._db.execute("INSERT INTO seen VALUES (?, ?)", (request_id, expires_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def close(self) -> None:
        self._db.close()


def parse_command(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected("a command must be a JSON object")
    for name, kind in FIELDS.items():
        if name not in data:
            raise Rejected(f"missing field {name!r}")
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            expected = kind.__name__ if isinstance(kind, type) else "number"
            raise Rejected(f"field {name!r} must be {expected}")
    extra = set(data) - set(FIELDS)
    if extra:
        raise Rejected(f"unknown field(s): {', '.join(sorted(extra))}")
    return data


class Dispatcher:
    def __init__(
        self, *, public_key: Ed25519PublicKey | None, replay: ReplayGuard, metrics: Metrics,
        emit: Callable[[Event], Awaitable[None]], reply: Reply, gateway_id: str,
        max_lifetime_s: float, clock_skew_s: float, clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = public_key
        self._replay = replay
        self._metrics = metrics
        self._emit = emit
        self._reply = reply
        self._gateway_id = gateway_id
        self._max_lifetime = max_lifetime_s
        self._skew = clock_skew_s
        self._clock = clock
        self._handlers: dict[str, CommandHandler] = {}

    def register(self, action: str, handler: CommandHandler) -> None:
        if action in self._handlers:
            raise ValueError(f"action {action!r} already has a handler")
        self._handlers[action] = handler

    @property
    def actions(self) -> list[str]:
        return sorted(self._handlers)

    def verify(self, payload: bytes) -> Command:
        """The command, if it may run; raises Rejected with the reason otherwise."""
        data = parse_command(payload)
        if self._key is None:
            raise Rejected("no platform key configured: commands are disabled")
        try:
            verify_command(self._key, data)
        except SignatureError as exc:
            raise Rejected(str(exc)) from None
        now = self._clock()
        issued, expires = float(data["issued_at"]), float(data["expires_at"])
        if expires < now:
            raise Rejected("expired")
        if issued > now + self._skew:
            raise Rejected("issued in the future")
        if expires - issued > self._max_lifetime:
            raise Rejected(f"lifetime over {self._max_lifetime:g} s")
        if data["action"] not in self._handlers:
            raise Rejected(f"unknown action {data['action']!r}")
        if not self._replay.first_time(data["request_id"], expires + self._skew, now):
            raise Rejected("replayed request_id")
        return Command(data["request_id"], data["target"], data["action"], data["args"], issued, expires)

    async def handle(self, incoming: Incoming) -> CommandResult:
        request_id = _request_id_of(incoming.payload)
        try:
            command = self.verify(incoming.payload)
        except Rejected as exc:
            return await self._reject(incoming, request_id, str(exc))
        await self._answer(CommandResult(command.request_id, CommandStatus.ACCEPTED), incoming, command.target)
        try:
            result = await self._handlers[command.action](command)
        except CommandError as exc:
            result = CommandResult(command.request_id, CommandStatus.FAILED, reason=str(exc))
        except Exception as exc:  # a handler bug must still answer the platform
            log.exception("command %s (%s) failed", command.request_id, command.action)
            result = CommandResult(command.request_id, CommandStatus.FAILED, reason=f"internal error: {exc}")
        log.info("command %s %s on %s: %s", command.request_id, command.action, command.target, result.status)
        await self._answer(result, incoming, command.target)
        return result

    async def _reject(self, incoming: Incoming, request_id: str, reason: str) -> CommandResult:
        log.warning("command %s rejected: %s", request_id or "<no id>", reason)
        result = CommandResult(request_id, CommandStatus.REJECTED, reason=reason)
        await self._answer(result, incoming, self._gateway_id)
        await self._emit(Event(
            kind="command.rejected", device=self._gateway_id, severity=Severity.WARNING,
            details={"request_id": request_id, "reason": reason, "topic": incoming.topic},
        ))
        return result

    async def _answer(self, result: CommandResult, incoming: Incoming, target: str) -> None:
        self._metrics.commands.labels(result.status.value).inc()
        await self._reply(result, incoming, target)


def _request_id_of(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ""
    value = data.get("request_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


async def run_in_task(handler: Callable[[Incoming], Awaitable[Any]], incoming: Incoming) -> None:
    try:
        await handler(incoming)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("command handling crashed")
