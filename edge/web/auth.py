"""Console logins: users with argon2id hashes (older scrypt ones still verify), in-memory sessions, and a
throttle on failed attempts.

Sessions live in the gateway process only: a restart logs everyone out, which is acceptable for a guard
room and keeps session secrets off the disk.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.web.config import SessionConfig, WebUser
from edge.web.passwords import hash_password, verify_password

Clock = Callable[[], float]


class UserDirectory:
    """Login names and their hashes; passwords given as secrets are hashed once at start-up."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self._hashes = hashes
        # an unknown name is checked against this, so timing does not tell which names exist
        self._decoy = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def from_config(cls, users: list[WebUser]) -> UserDirectory:
        hashes: dict[str, str] = {}
        for user in users:
            if user.password_hash is not None:
                hashes[user.name] = user.password_hash
            else:
                assert user.password is not None
                try:
                    hashes[user.name] = hash_password(user.password.reveal())
                except ValueError as exc:
                    raise ValueError(f"web.users[{user.name}].password: {exc}") from None
        return cls(hashes)

    # password checks at once, and waiting for a turn: each costs ~19 MiB and tens of ms of a core, in the
    # process that carries the alarms; past the queue a guess is refused without hashing (LoginBusy)
    MAX_CHECKS = 2
    MAX_WAITING = 8

    async def check(self, name: str, password: str) -> bool:
        if not hasattr(self, "_checks"):
            self._checks = asyncio.Semaphore(self.MAX_CHECKS)
            self._waiting = 0
        if self._waiting >= self.MAX_WAITING:
            raise LoginBusy("too many logins at once")
        encoded = self._hashes.get(name)
        self._waiting += 1
        try:
            async with self._checks:
                ok = await asyncio.to_thread(verify_password, password, encoded or self._decoy)
        finally:
            self._waiting -= 1
        return ok and encoded is not None


class LoginBusy(Exception):
    """More password checks are waiting than the console allows: try again shortly."""


@dataclass(slots=True)
class Session:
    token: str
    user: str
    csrf: str
    created: float
    last_used: float
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class SessionStore:
    def __init__(self, config: SessionConfig, *, clock: Clock = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, user: str) -> Session:
        self._expire()
        while len(self._sessions) >= self._config.max_sessions:
            _, oldest = self._sessions.popitem(last=False)
            oldest.closed.set()
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(24), now, now)
        self._sessions[session.token] = session
        return session

    def get(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session for a cookie value, or None; ``touch`` counts this as activity."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if not self.is_live(session):
            self.end(session)
            return None
        if touch:
            session.last_used = self._clock()
        return session

    def is_live(self, session: Session) -> bool:
        now = self._clock()
        return (
            session.token in self._sessions
            and now - session.created < self._config.max_age_s
            and now - session.last_used < self._config.idle_timeout_s
        )

    def end(self, session: Session) -> None:
        self._sessions.pop(session.token, None)
        session.closed.set()

    def end_all(self) -> None:
        for session in list(self._sessions.values()):
            self.end(session)

    def _expire(self) -> None:
        for session in [s for s in self._sessions.values() if not self.is_live(s)]:
            self.end(session)


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class LoginThrottle:
    """After ``attempts`` failures from one address, that address waits ``lockout_s`` before trying again."""

    def __init__(self, attempts: int, lockout_s: float, *, clock: Clock = time.monotonic, max_tracked: int = 4096):
        self._attempts = attempts
        self._lockout_s = lockout_s
        self._clock = clock
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def begin(self, client: str) -> float:
        """Start an attempt: 0 if it may go ahead (it then counts as a failure until ``succeeded``), else the
        seconds to wait. Counting before the password check is awaited is what holds under concurrent guesses:
        ten guesses sent at once no longer all see zero failures."""
        wait = self.retry_after(client)
        if wait <= 0:
            self.failed(client)
        return wait

    def retry_after(self, client: str) -> float:
        """Seconds this client must still wait; 0 if it may try now."""
        count, last = self._failures.get(client, (0, 0.0))
        if count < self._attempts:
            return 0.0
        left = self._lockout_s - (self._clock() - last)
        if left <= 0:
            del self._failures[client]
            return 0.0
        return left

    def failed(self, client: str) -> None:
        count, _ = self._failures.pop(client, (0, 0.0))
        self._failures[client] = (count + 1, self._clock())
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def not_checked(self, client: str) -> None:
        """Undo ``begin`` for an attempt refused before its password was checked (busy, empty form)."""
        count, last = self._failures.pop(client, (0, 0.0))
        if count > 1:
            self._failures[client] = (count - 1, last)
