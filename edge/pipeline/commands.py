"""The command dispatcher: every platform command comes back through here, is authenticated and answered.

A command is rejected, logged and reported as a ``command.rejected`` event when it is malformed JSON, holds a
non-finite number (named), is not version 2, lacks a field or has one of the wrong type, is unsigned or badly
signed (Ed25519 over RFC 8785, the platform's public key from the config), names another site or gateway, has
expired or lives longer than ``max_lifetime_s``, was already seen (replay: request ids are
kept in SQLite until they expire, so a restart does not reopen the window), or names an unknown action.
A valid command is answered ``accepted`` at once, then ``done`` or ``failed`` with the handler's reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.core.args import ArgsSpec, model_for, validate_args
from edge.core.metrics import Metrics
from edge.core.runtime import CommandHandler
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Event, Incoming, Severity
from edge.pipeline.rejections import RejectionAggregator
from edge.pipeline.signing import SignatureError, verify_command

log = logging.getLogger(__name__)

FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "site_id": str,
    "gateway_id": str,
    "request_id": str,
    "target": str,
    "action": str,
    "args": dict,
    "issued_at": (int, float),
    "expires_at": (int, float),
    "signature": str,
}
MIGRATION = "docs/mqtt-api.md, 'Command version 2'"


class _NonFinite:
    """Where the JSON text had NaN, Infinity or a number too large for a double."""

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _non_finite_path(value: Any, path: str) -> str | None:
    if isinstance(value, _NonFinite):
        return path
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((f"[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        where = f"{path}{key}" if str(key).startswith("[") else (f"{path}.{key}" if path else str(key))
        found = _non_finite_path(item, where)
        if found:
            return found
    return None


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
        data = json.loads(payload, parse_constant=_NonFinite, parse_float=_float)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected("a command must be a JSON object")
    where = _non_finite_path(data, "")
    if where:
        raise Rejected(f"field {where!r} is not a finite number (NaN, Infinity and overflowing numbers are refused)")
    if "v" not in data:
        raise Rejected(f"command version 1 (no 'v') is no longer accepted: sign version 2 ({MIGRATION})")
    if data["v"] != 2 or isinstance(data["v"], bool):
        raise Rejected(f"unsupported command version {data['v']!r}: this gateway accepts version 2")
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
        self,
        *,
        public_key: Ed25519PublicKey | None,
        replay: ReplayGuard,
        metrics: Metrics,
        emit: Callable[[Event], Awaitable[None]],
        reply: Reply,
        gateway_id: str,
        max_lifetime_s: float,
        clock_skew_s: float,
        clock: Callable[[], float] = time.time,
        site_id: str = "",
        response_prefixes: tuple[str, ...] = (),
        rejection_interval_s: float = 10.0,
        max_rejection_answers: int = 20,
    ) -> None:
        self.rejections = RejectionAggregator(interval_s=rejection_interval_s, max_answers=max_rejection_answers)
        self._site_id = site_id
        self._response_prefixes = tuple(response_prefixes)
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
        self._args: dict[str, ArgsSpec | None] = {}
        self._signers: dict[str, tuple[Ed25519PublicKey, frozenset[str]]] = {}

    def register(self, action: str, handler: CommandHandler, *, args: ArgsSpec | None = None) -> None:
        """``args``: the model of the action's arguments (or a function of the command giving it), checked
        before ``handler`` runs; the handler reads the validated model as ``command.params``."""
        if action in self._handlers:
            raise ValueError(f"action {action!r} already has a handler")
        self._handlers[action] = handler
        self._args[action] = args

    @property
    def actions(self) -> list[str]:
        return sorted(self._handlers)

    def verify(self, payload: bytes) -> Command:
        """The command, if it may run; raises Rejected with the reason otherwise."""
        data = parse_command(payload)
        issuer = self._authenticate(data)
        if (data["site_id"], data["gateway_id"]) != (self._site_id, self._gateway_id):
            raise Rejected(
                f"signed for {data['site_id']}/{data['gateway_id']}, not for this gateway "
                f"({self._site_id}/{self._gateway_id})"
            )
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
        return Command(data["request_id"], data["target"], data["action"], data["args"], issued, expires, issuer)

    def trust(self, issuer: str, public_key: Ed25519PublicKey, actions: frozenset[str]) -> None:
        """A second signer besides the platform (the console's own key), allowed only ``actions``."""
        if issuer == "platform" or issuer in self._signers:
            raise ValueError(f"signer {issuer!r} is already trusted")
        self._signers[issuer] = (public_key, actions)

    def _authenticate(self, data: dict[str, Any]) -> str:
        """Who signed the command: the platform, or a trusted signer allowed this action."""
        if self._key is not None:
            try:
                verify_command(self._key, data)
                return "platform"
            except SignatureError as exc:
                error = str(exc)
        else:
            error = "no platform key configured: commands are disabled"
        for issuer, (key, actions) in self._signers.items():
            try:
                verify_command(key, data)
            except SignatureError:
                continue
            if data["action"] not in actions:
                raise Rejected(f"signer {issuer!r} may not send {data['action']!r}")
            return issuer
        raise Rejected(error)

    async def handle(self, incoming: Incoming) -> CommandResult:
        request_id = _request_id_of(incoming.payload)
        try:
            command = self.verify(incoming.payload)
        except Rejected as exc:
            return await self._reject(incoming, request_id, str(exc))
        incoming = self._reply_route(incoming)
        await self._answer(CommandResult(command.request_id, CommandStatus.ACCEPTED), incoming, command.target)
        try:
            model = model_for(self._args.get(command.action), command)
            if model is not None:
                command = replace(command, params=validate_args(model, command.args))
            result = await self._handlers[command.action](command)
        except CommandError as exc:
            result = CommandResult(command.request_id, CommandStatus.FAILED, reason=str(exc))
        except Exception as exc:  # a handler bug must still answer the platform
            log.exception("command %s (%s) failed", command.request_id, command.action)
            result = CommandResult(command.request_id, CommandStatus.FAILED, reason=f"internal error: {exc}")
        log.info("command %s %s on %s: %s", command.request_id, command.action, command.target, result.status)
        await self._answer(result, incoming, command.target)
        return result

    def _reply_route(self, incoming: Incoming) -> Incoming:
        """A verified command's MQTT 5 response topic, if it lies under an allowed prefix; else the result topic."""
        topic = incoming.response_topic
        if topic is None or any(topic.startswith(p) for p in self._response_prefixes):
            return incoming
        log.warning(
            "response topic %r is not under commands.response_topic_prefixes: answering on the result topic", topic
        )
        return replace(incoming, response_topic=None)

    async def _reject(self, incoming: Incoming, request_id: str, reason: str) -> CommandResult:
        decision = self.rejections.note(reason)
        if decision.log:
            log.warning("command %s rejected: %s", request_id or "<no id>", reason)
        result = CommandResult(request_id, CommandStatus.REJECTED, reason=reason)
        self._metrics.commands.labels(result.status.value).inc()
        if decision.answer:
            # never the response topic of an unverified command: anyone could make the gateway publish anywhere
            await self._reply(result, replace(incoming, response_topic=None), self._gateway_id)
        if decision.report:
            await self._emit(
                Event(
                    kind="command.rejected",
                    device=self._gateway_id,
                    severity=Severity.WARNING,
                    details={"request_id": request_id, "reason": reason, "topic": incoming.topic},
                )
            )
        return result

    async def summarise_rejections(self) -> None:
        """Every interval: one command.rejected event with the counts of the rejections not reported one by one."""
        while True:
            await asyncio.sleep(self.rejections.interval_s)
            summary = self.rejections.summary()
            if summary is not None:
                log.warning(
                    "%d commands rejected in %.0f s: %s", summary["count"], summary["interval_s"], summary["by_reason"]
                )
                await self._emit(
                    Event(kind="command.rejected", device=self._gateway_id, severity=Severity.WARNING, details=summary)
                )

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
