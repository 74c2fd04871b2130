"""The durable outbox: every message bound for the platform is on disk before it counts as accepted.

One SQLite file in WAL mode. A message leaves only when the broker has acknowledged it (PUBACK), never
when it was merely handed to the MQTT client. Messages are read back in ``seq`` order, which keeps the
order of every device's stream.

Bound and eviction policy (``max_messages``), by row kind:
- state (availability): only the newest row per device and topic is kept, whatever the depth;
- past the bound, rows are evicted oldest first in this order: telemetry, then command results, then facts
  (events without a lifecycle: access decisions, lift holds, rejections);
- alarm lifecycle events are kept longest: never evicted, accepted beyond the bound when nothing else is left;
- a telemetry message that finds nothing to evict is itself refused and counted (``edge_outbox_evicted``);
- reaching the bound is itself an event (``outbox.full``), cleared below 90 % (see the writer);
- a full disk (SQLITE_FULL) raises ``DiskFull``: the writer holds the batch in memory (telemetry refused and
  counted), raises ``disk.full`` and retries every second; nothing is acknowledged to its producer until it is
  on disk.

All database work runs on one dedicated thread, so the event loop never waits on fsync.

The newest messages are also kept in memory (``TAIL_MAX``): an uplink that keeps up reads what was just
appended from there, without a round trip to the database thread. The file stays the only authority:
the tail holds copies of committed rows, and anything not certainly in it is read from the file.
"""

from __future__ import annotations

import asyncio
import enum
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    stream  TEXT    NOT NULL,
    kind    INTEGER NOT NULL,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    retain  INTEGER NOT NULL DEFAULT 0,
    created REAL    NOT NULL,
    corr    BLOB,
    resp    TEXT
);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox(kind, seq);
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
"""

TAIL_MAX = 2000  # messages kept in memory for an uplink that keeps up


class DiskFull(OSError):
    """SQLite could not write: the outbox's file system is full (SQLITE_FULL). Nothing of the batch was stored."""


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == 13 or "full" in str(exc).lower()  # 13: SQLITE_FULL


class Kind(enum.IntEnum):
    TELEMETRY = 0
    EVENT = 1  # an alarm's lifecycle step (raised, acknowledged, cleared, reminders); rows of old files too
    RESULT = 2
    STATE = 3  # availability and similar state messages: only the newest row per device and topic is kept
    FACT = 4  # an event without a lifecycle (access decision, lift hold, command rejected)


# past the bound, rows go in this order, oldest first within a kind; alarm events never go
EVICTION_ORDER = (Kind.TELEMETRY, Kind.RESULT, Kind.FACT)


@dataclass(slots=True, frozen=True)
class Message:
    """A message to publish. ``stream`` is the ordering key (the device id); ``corr``/``resp`` carry the
    MQTT 5 correlation data and response topic of a command result."""

    stream: str
    kind: Kind
    topic: str
    payload: bytes
    retain: bool = False
    corr: bytes | None = None
    resp: str | None = None


@dataclass(slots=True, frozen=True)
class Stored:
    seq: int
    message: Message
    created: float


@dataclass(slots=True, frozen=True)
class AppendResult:
    evicted: int
    dropped: int
    depth: int  # the outbox's depth after the append
    stored: tuple[Stored, ...] = ()  # the rows written, with their seq (in order)
    compacted: int = 0  # older retained-state rows of the same topics, superseded (not lost)


class Outbox:
    def __init__(self, path: Path, *, max_messages: int, synchronous: str = "FULL") -> None:
        self.path = path
        self.max_messages = max_messages
        self._synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._db: sqlite3.Connection | None = None
        self.depth = 0
        self.new_messages = asyncio.Event()
        # every row with seq > _tail_from is in _tail, in order (copies of committed rows)
        self._tail: deque[Stored] = deque()
        self._tail_from = 0

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        await self._run(self._open)
        if self.depth:
            self.new_messages.set()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.executescript(SCHEMA)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"outbox {self.path} is damaged: {check}")
        self._db = db
        self.depth = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self._tail.clear()
        self._tail_from = self._last_seq()

    def _last_seq(self) -> int:
        assert self._db is not None
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return row[0] if row else 0

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- writing ---------------------------------------------------------------------------------
    async def next_stream_seqs(self, streams: Iterable[str]) -> dict[str, int]:
        """The last sequence number used on each stream (0 for a new stream)."""
        return await self._run(self._last_seqs, list(streams))

    def _last_seqs(self, streams: list[str]) -> dict[str, int]:
        assert self._db is not None
        out = dict.fromkeys(streams, 0)
        for stream, last in self._db.execute("SELECT stream, last_seq FROM streams"):
            if stream in out:
                out[stream] = last
        return out

    async def append(self, messages: Sequence[Message], stream_seqs: dict[str, int] | None = None) -> AppendResult:
        """Store ``messages`` durably in one transaction; returns once they are on disk.

        Shielded like ``remove``: a cancelled caller does not stop the INSERT, so the count and the tail (which
        must hold every committed row above ``_tail_from``) still follow it."""
        return await _shielded(self._append_and_count(messages, stream_seqs or {}))

    async def _append_and_count(self, messages: Sequence[Message], stream_seqs: dict[str, int]) -> AppendResult:
        try:
            result = await self._run(self._append, messages, stream_seqs)
        except sqlite3.OperationalError as exc:
            if _is_full(exc):
                raise DiskFull(str(exc)) from exc
            raise
        # the count changes here, on the event loop, never on the database thread: ``remove`` changes it
        # too, and a read-modify-write from two threads loses updates
        self.depth += len(result.stored) - result.evicted - result.compacted
        result = replace(result, depth=self.depth)
        self._extend_tail(result)
        self.new_messages.set()
        return result

    def _extend_tail(self, result: AppendResult) -> None:
        stored = result.stored
        if not stored:
            return
        if result.evicted or result.compacted or len(self._tail) + len(stored) > TAIL_MAX:
            # eviction may have removed tail rows, or the uplink is not keeping up: read from the file
            self._tail.clear()
            self._tail_from = stored[-1].seq
            return
        self._tail.extend(stored)

    def _append(self, messages: Sequence[Message], stream_seqs: dict[str, int]) -> AppendResult:
        db = self._db
        assert db is not None
        now = time.time()
        evicted = dropped = compacted = 0
        rows = []
        room = self.max_messages - self.depth
        telemetry = [m for m in messages if m.kind is Kind.TELEMETRY]
        overflow = len(messages) - room
        db.execute("BEGIN IMMEDIATE")
        try:
            # state: a newer row makes the older rows of its device and topic pointless. Per device, not per topic
            # alone: ThingsBoard announces every device on the one topic v1/gateway/connect
            for stream, topic in {(m.stream, m.topic) for m in messages if m.kind is Kind.STATE}:
                compacted += db.execute(
                    "DELETE FROM outbox WHERE kind = ? AND stream = ? AND topic = ?", (int(Kind.STATE), stream, topic)
                ).rowcount
            overflow -= compacted  # those rows made room already (superseded, not lost)
            for kind in EVICTION_ORDER:
                if overflow <= 0:
                    break
                gone = db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?)",
                    (int(kind), overflow),
                ).rowcount
                evicted += gone
                overflow -= gone
            # still over: drop the incoming telemetry, oldest first; events are never refused
            drop = set(map(id, telemetry[: max(0, overflow)]))
            for m in messages:
                if id(m) in drop:
                    dropped += 1
                    continue
                rows.append((m.stream, int(m.kind), m.topic, m.payload, int(m.retain), now, m.corr, m.resp))
            db.executemany(
                "INSERT INTO outbox(stream, kind, topic, payload, retain, created, corr, resp)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            # AUTOINCREMENT gives the rows of one transaction consecutive seqs, ending at the sequence's value
            first = self._last_seq() - len(rows) + 1
            if stream_seqs:
                db.executemany(
                    "INSERT INTO streams(stream, last_seq) VALUES (?, ?)"
                    " ON CONFLICT(stream) DO UPDATE SET last_seq = excluded.last_seq",
                    stream_seqs.items(),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLITE_FULL may have rolled it back already
                db.execute("ROLLBACK")
            raise
        kept = [m for m in messages if id(m) not in drop]
        stored = tuple(Stored(first + i, m, now) for i, m in enumerate(kept))
        return AppendResult(evicted, dropped, 0, stored, compacted)

    # -- reading and acknowledging ---------------------------------------------------------------
    async def fetch(self, after_seq: int, limit: int) -> list[Stored]:
        """Up to ``limit`` messages with seq > ``after_seq``, in seq order."""
        tail = self._tail
        if after_seq >= self._tail_from:
            while tail and tail[0].seq <= after_seq:  # already handed out: the tail keeps only what is ahead
                self._tail_from = tail.popleft().seq
            return [tail[i] for i in range(min(limit, len(tail)))]
        return await self._run(self._fetch, after_seq, limit)

    def _fetch(self, after_seq: int, limit: int) -> list[Stored]:
        assert self._db is not None
        cur = self._db.execute(
            "SELECT seq, stream, kind, topic, payload, retain, created, corr, resp FROM outbox"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            Stored(seq, Message(stream, Kind(kind), topic, bytes(payload), bool(retain), corr, resp), created)
            for seq, stream, kind, topic, payload, retain, created, corr, resp in cur
        ]

    async def remove(self, seqs: Sequence[int]) -> None:
        """Forget messages the broker acknowledged.

        Shielded: a caller cancelled while the DELETE runs (the uplink's session ends on a lost connection) cannot
        stop the database thread, so the count and the tail must follow what the file did, or the depth stays too
        high for good (issue 11 finding 0's investigation)."""
        if seqs:
            await _shielded(self._remove_and_count(list(seqs)))  # DiskFull: nothing removed, the caller retries

    async def _remove_and_count(self, seqs: list[int]) -> None:
        removed = await self._run(self._remove, seqs)
        last, tail = max(seqs), self._tail
        while tail and tail[0].seq <= last:  # acknowledged: never handed out again from memory
            self._tail_from = tail.popleft().seq
        self.depth -= removed

    def _remove(self, seqs: list[int]) -> int:
        assert self._db is not None
        self._db.execute("BEGIN")
        try:
            n = self._db.executemany("DELETE FROM outbox WHERE seq = ?", ((s,) for s in seqs)).rowcount
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if _is_full(exc):
                raise DiskFull(str(exc)) from exc
            raise
        return n

    async def oldest_created(self) -> float | None:
        return await self._run(self._oldest)

    def _oldest(self) -> float | None:
        assert self._db is not None
        row = self._db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None


async def _shielded(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` to its end even if the caller is cancelled; an error it meets after the caller has gone
    (a full disk: nothing was done) is retrieved here rather than reported as never retrieved."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return await asyncio.shield(task)


def read_depth(path: Path) -> tuple[int, float | None]:
    """Depth and oldest timestamp of an outbox file, read-only (for ``edge status``)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        depth = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        row = db.execute("SELECT created FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return depth, (row[0] if row else None)
    finally:
        db.close()
