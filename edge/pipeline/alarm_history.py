"""The gateway's alarm history: every lifecycle step of every alarm, with who and when, in SQLite.

Fed by the gateway's ``emit`` (the same events that go to the outbox), so it works while the uplink is
down and sees every step: raised, reminded, acknowledged, in_handling, resolved, cleared, escalated, notes,
and the actions people took on an alarm (a detector reset, a gate opened), recorded with ``record_action``.
Its own file beside the outbox (WAL, ``synchronous=NORMAL``: the outbox is the durable copy of the events;
a power cut may lose the last history rows, never an event to the platform).

Two tables: ``alarms`` (one row per alarm, its current state and times) and ``steps`` (one row per step).
Queries filter by time, area, kind, severity, state and device; ``export_csv`` writes the same rows.
Retention: closed alarms older than ``retention_days`` go, and past ``max_alarms`` the oldest closed ones.
Response time is acknowledged_at - raised_at; handling time resolved_at - acknowledged_at; both are also
Prometheus histograms per severity.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Histogram

from edge.core.types import AlarmState, Event
from edge.pipeline.alarm_book import ESCALATED_KIND, NOTE_KIND

PRUNE_EVERY_S = 3600.0
MAX_LIMIT = 5000
OPEN_STATES = ("open", "closed")
RESPONSE_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 4 * 3600)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    alarm_id TEXT PRIMARY KEY, kind TEXT NOT NULL, device TEXT NOT NULL, area TEXT, severity TEXT NOT NULL,
    state TEXT NOT NULL, raised_at REAL NOT NULL, acknowledged_at REAL, acknowledged_by TEXT,
    handling_at REAL, handling_by TEXT, handling_note TEXT, resolved_at REAL, resolved_by TEXT,
    resolved_note TEXT, cleared_at REAL, escalated_at REAL, closed_at REAL, reminders INTEGER NOT NULL DEFAULT 0,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS alarms_raised ON alarms (raised_at);
CREATE INDEX IF NOT EXISTS alarms_kind ON alarms (kind, raised_at);
CREATE INDEX IF NOT EXISTS alarms_area ON alarms (area, raised_at);
CREATE INDEX IF NOT EXISTS alarms_severity ON alarms (severity, raised_at);
CREATE INDEX IF NOT EXISTS alarms_state ON alarms (state, raised_at);
CREATE INDEX IF NOT EXISTS alarms_closed ON alarms (closed_at);
CREATE INDEX IF NOT EXISTS alarms_severity_state ON alarms (severity, state, raised_at);
CREATE INDEX IF NOT EXISTS alarms_device ON alarms (device, raised_at);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY, alarm_id TEXT NOT NULL, ts REAL NOT NULL, step TEXT NOT NULL, by TEXT, note TEXT,
    event_id TEXT
);
CREATE INDEX IF NOT EXISTS steps_alarm ON steps (alarm_id, ts);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, user TEXT NOT NULL, role TEXT, action TEXT NOT NULL,
    target TEXT, alarm_id TEXT, reason TEXT, result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_ts ON audit (ts);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """Filters of a history search; every one optional. ``state`` is a loop state, ``open`` or ``closed``."""

    since: float | None = None
    until: float | None = None
    area: str | None = None
    kind: str | None = None
    severity: str | None = None
    state: str | None = None
    device: str | None = None
    limit: int = 200
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")
        valid = {s.value for s in AlarmState} | set(OPEN_STATES)
        if self.state is not None and self.state not in valid:
            raise ValueError(f"state must be one of {', '.join(sorted(valid))}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmRecord:
    alarm_id: str
    kind: str
    device: str
    area: str | None
    severity: str
    state: str
    raised_at: float
    acknowledged_at: float | None
    acknowledged_by: str | None
    handling_at: float | None
    handling_by: str | None
    handling_note: str | None
    resolved_at: float | None
    resolved_by: str | None
    resolved_note: str | None
    cleared_at: float | None
    escalated_at: float | None
    closed_at: float | None
    reminders: int
    details: dict[str, Any]

    @property
    def response_s(self) -> float | None:
        return None if self.acknowledged_at is None else round(self.acknowledged_at - self.raised_at, 1)

    @property
    def handling_s(self) -> float | None:
        if self.resolved_at is None or self.acknowledged_at is None:
            return None
        return round(self.resolved_at - self.acknowledged_at, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "response_s": self.response_s, "handling_s": self.handling_s}


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    alarm_id: str
    ts: float
    step: str  # raised, reminded, acknowledged, in_handling, resolved, cleared, escalated, note, or an action
    by: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class DaySummary:
    day: str  # YYYY-MM-DD in the site's time zone
    alarms: int
    acknowledged: int
    escalated: int
    resolved: int
    mean_response_s: float | None
    max_response_s: float | None
    mean_handling_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    ts: float
    user: str
    role: str | None
    action: str
    target: str | None
    alarm_id: str | None
    reason: str | None
    result: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECORD_COLUMNS = [f.name for f in fields(AlarmRecord)]
CSV_COLUMNS = [c for c in RECORD_COLUMNS if c != "details"] + ["response_s", "handling_s", "details"]


class HistoryMetrics:
    """Registered once per registry (a gateway that runs again reuses them)."""

    _by_registry: weakref.WeakKeyDictionary[CollectorRegistry, HistoryMetrics] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, registry: CollectorRegistry | None) -> HistoryMetrics:
        if registry is None:
            return cls(CollectorRegistry())
        metrics = cls._by_registry.get(registry)
        if metrics is None:
            metrics = cls._by_registry[registry] = cls(registry)
        return metrics

    def __init__(self, registry: CollectorRegistry) -> None:
        self.response = Histogram(
            "edge_alarm_response_seconds",
            "Time from raised to acknowledged, per severity",
            ["severity"],
            buckets=RESPONSE_BUCKETS,
            registry=registry,
        )
        self.handling = Histogram(
            "edge_alarm_handling_seconds",
            "Time from acknowledged to resolved, per severity",
            ["severity"],
            buckets=RESPONSE_BUCKETS,
            registry=registry,
        )
        self.escalations = Counter(
            "edge_alarm_escalations",
            "Alarms past their response target, per severity",
            ["severity"],
            registry=registry,
        )
        self.steps = Counter(
            "edge_alarm_steps", "Alarm lifecycle steps recorded, per step", ["step"], registry=registry
        )


class AlarmHistory:
    """The history store. ``record(event)`` for every emitted event (facts without an alarm are skipped)."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: float = 180.0,
        max_alarms: int = 1_000_000,
        area_of: Callable[[str], str | None] = lambda device: None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._retention_s = retention_days * 86_400
        self._max_alarms = max_alarms
        self._area_of = area_of
        self._clock = clock
        self.metrics = HistoryMetrics.of(registry)
        self._pruned_at = 0.0
        self.prune()

    def close(self) -> None:
        self._db.close()

    # -- writing ------------------------------------------------------------------------------------
    def record(self, event: Event) -> None:
        if event.alarm_id is None:
            return
        step = _step_of(event)
        if step is None:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._upsert(event, step)
            self._db.execute(
                "INSERT INTO steps (alarm_id, ts, step, by, note, event_id) VALUES (?, ?, ?, ?, ?, ?)",
                (event.alarm_id, event.ts, step, event.by, event.note, event.id),
            )
        self._observe(event, step)
        if self._clock() - self._pruned_at >= PRUNE_EVERY_S:
            self.prune()

    def _upsert(self, event: Event, step: str) -> None:
        db, alarm_id, ts = self._db, event.alarm_id, event.ts
        if step == "raised":
            details = json.dumps(event.details, default=str, ensure_ascii=False)
            db.execute(
                "INSERT INTO alarms (alarm_id, kind, device, area, severity, state, raised_at, details) "
                "VALUES (?, ?, ?, ?, ?, 'raised', ?, ?) ON CONFLICT(alarm_id) DO NOTHING",
                (
                    alarm_id,
                    event.kind,
                    event.device,
                    self._area_of(event.device),
                    event.severity.value,
                    event.raised_at or ts,
                    details,
                ),
            )
            return
        updates: dict[str, Any] = {}
        if step == "reminded":
            db.execute("UPDATE alarms SET reminders = reminders + 1 WHERE alarm_id = ?", (alarm_id,))
        elif step == "acknowledged":
            updates = {"state": step, "acknowledged_at": ts, "acknowledged_by": event.by or event.acknowledged_by}
        elif step == "in_handling":
            updates = {"state": step, "handling_at": ts, "handling_by": event.by, "handling_note": event.note}
        elif step == "resolved":
            updates = {"state": step, "resolved_at": ts, "resolved_by": event.by, "resolved_note": event.note}
        elif step == "cleared":
            updates = {"cleared_at": ts}
        elif step == "escalated":
            updates = {"escalated_at": ts}
        if event.closed:
            updates["closed_at"] = ts
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in updates)
            db.execute(f"UPDATE alarms SET {assignments} WHERE alarm_id = ?", (*updates.values(), alarm_id))

    def _observe(self, event: Event, step: str) -> None:
        severity = event.severity.value
        self.metrics.steps.labels(step).inc()
        if step == "acknowledged" and event.raised_at is not None:
            self.metrics.response.labels(severity).observe(max(0.0, event.ts - event.raised_at))
        elif step == "resolved" and event.acknowledged_at is not None:
            self.metrics.handling.labels(severity).observe(max(0.0, event.ts - event.acknowledged_at))
        elif step == "escalated":
            self.metrics.escalations.labels(severity).inc()

    def record_action(
        self,
        *,
        user: str,
        role: str | None,
        action: str,
        target: str | None,
        alarm_id: str | None,
        reason: str | None,
        result: str,
    ) -> None:
        """The audit log of people's actions; an action on an alarm is also a step of that alarm."""
        now = self._clock()
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO audit (ts, user, role, action, target, alarm_id, reason, result) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, user, role, action, target, alarm_id, reason, result),
            )
            if alarm_id is not None and result == "done" and action not in LOOP_ACTIONS:
                self._db.execute(
                    "INSERT INTO steps (alarm_id, ts, step, by, note) VALUES (?, ?, ?, ?, ?)",
                    (alarm_id, now, action, user, reason),
                )

    def prune(self) -> int:
        now = self._clock()
        self._pruned_at = now
        cutoff = now - self._retention_s
        with self._db:
            self._db.execute("BEGIN")
            gone = [
                r[0]
                for r in self._db.execute(
                    "SELECT alarm_id FROM alarms WHERE closed_at IS NOT NULL AND raised_at < ?", (cutoff,)
                )
            ]
            excess = self._db.execute("SELECT COUNT(*) FROM alarms").fetchone()[0] - len(gone) - self._max_alarms
            if excess > 0:
                gone += [
                    r[0]
                    for r in self._db.execute(
                        "SELECT alarm_id FROM alarms WHERE closed_at IS NOT NULL AND raised_at >= ? "
                        "ORDER BY raised_at LIMIT ?",
                        (cutoff, excess),
                    )
                ]
            for chunk in _chunks(gone, 500):
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM steps WHERE alarm_id IN ({marks})", chunk)
                self._db.execute(f"DELETE FROM alarms WHERE alarm_id IN ({marks})", chunk)
            self._db.execute("DELETE FROM audit WHERE ts < ?", (cutoff,))
        return len(gone)

    # -- reading ------------------------------------------------------------------------------------
    def search(self, query: HistoryQuery) -> list[AlarmRecord]:
        where, params = _where(query)
        sql = f"SELECT {', '.join(RECORD_COLUMNS)} FROM alarms {where} ORDER BY raised_at DESC LIMIT ? OFFSET ?"
        return [_record(row) for row in self._db.execute(sql, (*params, query.limit, query.offset))]

    def count(self, query: HistoryQuery) -> int:
        where, params = _where(query)
        return int(self._db.execute(f"SELECT COUNT(*) FROM alarms {where}", params).fetchone()[0])

    def get(self, alarm_id: str) -> AlarmRecord | None:
        row = self._db.execute(
            f"SELECT {', '.join(RECORD_COLUMNS)} FROM alarms WHERE alarm_id = ?", (alarm_id,)
        ).fetchone()
        return _record(row) if row else None

    def steps(self, alarm_id: str) -> list[StepRecord]:
        rows = self._db.execute(
            "SELECT alarm_id, ts, step, by, note FROM steps WHERE alarm_id = ? ORDER BY ts, id", (alarm_id,)
        )
        return [StepRecord(alarm_id=r[0], ts=r[1], step=r[2], by=r[3], note=r[4]) for r in rows]

    def audit(self, *, limit: int = 200) -> list[AuditRecord]:
        rows = self._db.execute(
            "SELECT ts, user, role, action, target, alarm_id, reason, result FROM audit ORDER BY ts DESC, id DESC "
            "LIMIT ?",
            (limit,),
        )
        return [
            AuditRecord(
                ts=r[0], user=r[1], role=r[2], action=r[3], target=r[4], alarm_id=r[5], reason=r[6], result=r[7]
            )
            for r in rows
        ]

    def export_csv(self, query: HistoryQuery, *, timezone: str = "UTC") -> str:
        """The rows of ``query`` as CSV, times as ISO 8601 in the site's time zone."""
        zone = ZoneInfo(timezone)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for record in self.search(query):
            row = record.to_dict()
            values = []
            for column in CSV_COLUMNS:
                value = row[column]
                if column.endswith("_at") and isinstance(value, float):
                    value = datetime.fromtimestamp(value, zone).isoformat(timespec="seconds")
                elif column == "details":
                    value = json.dumps(value, ensure_ascii=False)
                values.append("" if value is None else value)
            writer.writerow(values)
        return out.getvalue()

    def daily_summary(self, *, days: int = 7, timezone: str = "UTC") -> list[DaySummary]:
        """Alarms per day (raised that day, site time), with response and handling times."""
        zone = ZoneInfo(timezone)
        now = self._clock()
        offset = datetime.fromtimestamp(now, zone).utcoffset()
        shift = offset.total_seconds() if offset else 0.0
        since = now - days * 86_400
        rows = self._db.execute(
            "SELECT date(raised_at + ?, 'unixepoch') AS day, COUNT(*), COUNT(acknowledged_at), COUNT(escalated_at), "
            "COUNT(resolved_at), AVG(acknowledged_at - raised_at), MAX(acknowledged_at - raised_at), "
            "AVG(resolved_at - acknowledged_at) FROM alarms WHERE raised_at >= ? GROUP BY day ORDER BY day DESC",
            (shift, since),
        )
        return [
            DaySummary(
                day=r[0],
                alarms=r[1],
                acknowledged=r[2],
                escalated=r[3],
                resolved=r[4],
                mean_response_s=_round(r[5]),
                max_response_s=_round(r[6]),
                mean_handling_s=_round(r[7]),
            )
            for r in rows
        ]


LOOP_ACTIONS = ("acknowledge", "handle", "resolve", "note")


def _step_of(event: Event) -> str | None:
    if event.state is None:
        return {ESCALATED_KIND: "escalated", NOTE_KIND: "note"}.get(event.kind)
    if event.state is AlarmState.RAISED and event.details.get("reminder"):
        return "reminded"
    return event.state.value


def _where(query: HistoryQuery) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    params: list[Any] = []
    if query.since is not None:
        clauses.append("raised_at >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append("raised_at < ?")
        params.append(query.until)
    for column in ("area", "kind", "severity", "device"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.state == "open":
        clauses.append("closed_at IS NULL")
    elif query.state == "closed":
        clauses.append("closed_at IS NOT NULL")
    elif query.state == AlarmState.CLEARED.value:
        clauses.append("cleared_at IS NOT NULL")
    elif query.state is not None:
        clauses.append("state = ?")
        params.append(query.state)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)


def _record(row: tuple[Any, ...]) -> AlarmRecord:
    values = dict(zip(RECORD_COLUMNS, row, strict=True))
    values["details"] = json.loads(values["details"] or "{}")
    return AlarmRecord(**values)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
