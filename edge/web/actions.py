"""What people do from the console, with roles, through the gateway's command dispatcher, into the audit log.

Every console action becomes a command signed with the console's own Ed25519 key (``web.console_key``, by
default ``<data_dir>/console.key``, created on first start, mode 600; never the platform's key). The key is
trusted by the dispatcher as a second signer allowed only the actions the console maps to, so a console
action passes the same checks as a platform command (signature, lifetime, replay, handler) and is answered
and reported the same way. Before that, the user's role (``web.users[].role``, ``web.roles``) must allow it.
Each attempt, allowed or refused, goes into the audit log of the alarm history with user, time and reason.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.types import CommandStatus, Incoming
from edge.pipeline.signing import generate_keypair, load_private_key, sign_command

if TYPE_CHECKING:
    from edge.core.runtime import Context
    from edge.web.config import WebConfig

log = logging.getLogger(__name__)

ISSUER = "console"
COMMAND_TTL_S = 30.0
REASON_MAX = 300
# console action -> (dispatcher action, needs an alarm, needs a reason or note)
ACTIONS: dict[str, tuple[str, bool, bool]] = {
    "acknowledge": ("ack_alarm", True, False),
    "handle": ("handle_alarm", True, True),
    "note": ("note_alarm", True, True),
    "resolve": ("resolve_alarm", True, True),
    "reset": ("reset", False, True),
    "open_gate": ("unlock", False, True),
    "hold_door": ("hold_door", False, True),
    "release_door": ("release_door", False, False),
}


class ActionRefused(Exception):
    """The action is not allowed or not well formed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: str
    alarm_id: str | None = None
    target: str | None = None  # device (reset), gate (open_gate), lift (hold_door, release_door)
    text: str | None = None  # the note or the reason
    seconds: float | None = None  # hold_door


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    status: str  # done, failed, rejected
    reason: str | None
    data: dict[str, Any] | None


def load_console_key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_keypair(path, path.with_suffix(".pub"))
        log.info("created the console's command key %s", path)
    return load_private_key(path)


class ConsoleActions:
    def __init__(self, ctx: Context, config: WebConfig) -> None:
        self._ctx = ctx
        self._roles = {u.name: u.role for u in config.users}
        self._allowed: dict[str, frozenset[str]] = {
            str(role): frozenset(str(a) for a in actions) for role, actions in config.roles.items()
        }
        self._key = load_console_key(config.console_key or ctx.data_dir / "console.key")
        trust = getattr(ctx.commands, "trust", None)
        if trust is not None:
            trust(ISSUER, self._key.public_key(), frozenset(command for command, _, _ in ACTIONS.values()))

    def role_of(self, user: str) -> str:
        return self._roles.get(user, "guard")

    def allowed(self, user: str) -> list[str]:
        return sorted(self._allowed.get(self.role_of(user), frozenset()))

    async def perform(self, user: str, request: ActionRequest) -> ActionOutcome:
        role = self.role_of(user)
        try:
            command = self._command(user, role, request)
        except ActionRefused as exc:
            self._audit(user, role, request, f"refused: {exc}")
            raise
        result = await self._ctx.commands.handle(  # type: ignore[attr-defined]
            Incoming(f"console/{user}", json.dumps(command).encode(), None, None)
        )
        outcome = ActionOutcome(result.status.value, result.reason, result.data)
        self._audit(
            user,
            role,
            request,
            outcome.status if result.status is CommandStatus.DONE else f"{outcome.status}: {outcome.reason}",
        )
        log.info(
            "console %s (%s): %s %s -> %s",
            user,
            role,
            request.action,
            request.target or request.alarm_id,
            outcome.status,
        )
        return outcome

    def _command(self, user: str, role: str, request: ActionRequest) -> dict[str, Any]:
        spec = ACTIONS.get(request.action)
        if spec is None:
            raise ActionRefused(f"unknown action {request.action!r}", 404)
        if request.action not in self._allowed.get(role, frozenset()):
            raise ActionRefused(f"the role {role!r} may not {request.action}", 403)
        command_action, needs_alarm, needs_text = spec
        text = " ".join((request.text or "").split())
        if needs_text and not text:
            raise ActionRefused("a reason is required" if not needs_alarm else "a note is required", 400)
        if len(text) > REASON_MAX:
            raise ActionRefused(f"the text is longer than {REASON_MAX} characters", 400)
        by = f"{ISSUER}:{user}"
        args: dict[str, Any]
        if needs_alarm:
            if not request.alarm_id:
                raise ActionRefused("an alarm id is required", 400)
            target = self._ctx.config.gateway_id
            args = {"alarm_id": request.alarm_id, "by": by}
            if needs_text:
                args["note"] = text
        else:
            if not request.target:
                raise ActionRefused("a target is required", 400)
            target = request.target
            args = self._device_args(request, by, text)
        now = time.time()
        config = self._ctx.config
        return sign_command(
            self._key,
            {
                "site_id": config.site_id,
                "gateway_id": config.gateway_id,
                "request_id": str(uuid.uuid4()),
                "target": target,
                "action": command_action,
                "args": args,
                "issued_at": round(now, 3),
                "expires_at": round(now + COMMAND_TTL_S, 3),
            },
        )

    @staticmethod
    def _device_args(request: ActionRequest, by: str, reason: str) -> dict[str, Any]:
        if request.action == "open_gate":
            return {"gate": request.target, "by": by, "reason": reason}  # the gate's access log keeps both
        if request.action == "hold_door":
            return {"lift": request.target, "seconds": request.seconds or 60}
        if request.action == "release_door":
            return {"lift": request.target}
        return {}  # reset: the device's own write action

    def _audit(self, user: str, role: str, request: ActionRequest, result: str) -> None:
        history = self._ctx.history
        if history is None:
            return
        history.record_action(
            user=user,
            role=role,
            action=request.action,
            target=request.target,
            alarm_id=request.alarm_id,
            reason=request.text,
            result=result,
        )
