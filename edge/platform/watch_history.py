"""The history view of ``edge watch``: the gateway's alarm history, read from its console HTTP API as one
console user (``edge watch --user``), with filters and every step of the selected alarm (who did what, when).

Keys in the view: ``/`` types a filter (``state=open severity=critical kind=smoke area=... device=... days=7``,
Enter applies, an empty line clears), ``j``/``k`` select, Enter shows the selected alarm's steps, ``g`` reloads.
``HistoryView`` holds what is shown and ``history_panel`` draws it; both are pure, so the view is tested without
a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from edge.platform.console_api import ConsoleApi, ConsoleError
from edge.web.plain import KINDS

FILTER_KEYS = ("state", "severity", "kind", "area", "device", "days")
SEVERITIES = ("critical", "major", "warning", "info")
MAX_DAYS = 366
Translate = Callable[[str], str]


class FilterError(ValueError):
    """A filter line that cannot be used; the message names the word and what is allowed."""


def parse_filter(line: str) -> dict[str, str]:
    """``"state=open severity=critical"`` -> ``{"state": "open", "severity": "critical"}``; checked here so a typo
    is named at once (the gateway checks the values again, and names the states it knows)."""
    filters: dict[str, str] = {}
    for word in line.split():
        key, sep, value = word.partition("=")
        if not sep or not value:
            raise FilterError(f"{word!r}: write key=value ({', '.join(k + '=' for k in FILTER_KEYS)})")
        if key not in FILTER_KEYS:
            raise FilterError(f"unknown filter {key!r}; use {', '.join(FILTER_KEYS)}")
        if key == "severity" and value not in SEVERITIES:
            raise FilterError(f"severity must be one of {', '.join(SEVERITIES)}, not {value!r}")
        if key == "days" and not (value.isdigit() and 1 <= int(value) <= MAX_DAYS):
            raise FilterError(f"days must be a whole number from 1 to {MAX_DAYS}, not {value!r}")
        filters[key] = value
    return filters


def query_of(filters: dict[str, str], now: float) -> dict[str, str]:
    """The console's query parameters for ``filters`` (``days`` becomes ``since``)."""
    query = {k: v for k, v in filters.items() if k != "days"}
    if "days" in filters:
        query["since"] = str(round(now - int(filters["days"]) * 86_400))
    return query


@dataclass(slots=True)
class HistoryView:
    filters: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    selected: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    steps_of: str | None = None  # the alarm whose steps are shown
    loaded_at: float | None = None
    error: str | None = None

    def show(self, answer: dict[str, Any], now: float | None = None) -> None:
        """Take the console's answer to a history query."""
        self.rows = list(answer.get("alarms") or [])
        self.count = int(answer.get("count") or 0)
        self.selected = min(self.selected, max(0, len(self.rows) - 1))
        self.loaded_at = time.time() if now is None else now
        self.error = None
        if self.steps_of not in {r["alarm_id"] for r in self.rows}:
            self.steps, self.steps_of = [], None

    def show_steps(self, alarm_id: str, steps: list[dict[str, Any]]) -> None:
        self.steps, self.steps_of = steps, alarm_id

    def move(self, step: int) -> None:
        if self.rows:
            self.selected = (self.selected + step) % len(self.rows)

    def selected_id(self) -> str | None:
        return self.rows[self.selected]["alarm_id"] if self.rows else None


def _clock(ts: float | None, timezone: str | None, *, date: bool = True) -> str:
    if ts is None:
        return ""
    zone = ZoneInfo(timezone) if timezone else None
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _who(by: str | None) -> str:
    return (by or "").removeprefix("console:")


def _kind(kind: str, _: Translate) -> str:
    return _(KINDS[kind].label) if kind in KINDS else kind


async def load_history(console: ConsoleApi, view: HistoryView) -> None:
    """Run the view's query on the console; a refusal or an unreachable console shows in the view."""
    try:
        view.show(await console.history(query_of(view.filters, time.time())))
    except ConsoleError as exc:
        view.error = str(exc)


async def load_steps(console: ConsoleApi, view: HistoryView, alarm_id: str) -> None:
    try:
        view.show_steps(alarm_id, await console.steps(alarm_id))
    except ConsoleError as exc:
        view.error = str(exc)


def history_panel(view: HistoryView, *, timezone: str | None, _: Translate) -> RenderableType:
    """The history table, and under it the selected alarm's steps."""
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in ("", _("severity"), _("alarm"), _("device"), _("raised at"), _("state"), _("response"), _("by")):
        table.add_column(column, no_wrap=True)
    for i, row in enumerate(view.rows):
        state = _("closed") if row.get("closed_at") else _(row["state"])
        by = row.get("resolved_by") or row.get("handling_by") or row.get("acknowledged_by")
        table.add_row(
            ">" if i == view.selected else "",
            _(row["severity"]),
            _kind(row["kind"], _),
            row.get("device_name") or row["device"],
            _clock(row["raised_at"], timezone),
            state,
            _duration(row.get("response_s")),
            _who(by),
            style="reverse" if i == view.selected else None,
        )
    filters = " ".join(f"{k}={v}" for k, v in view.filters.items()) or _("none")
    title = _("history: {shown} of {count} (filter: {filters})").format(
        shown=len(view.rows), count=view.count, filters=filters
    )
    parts: list[RenderableType] = [table if view.rows else Text(_("no alarms match"), style="dim")]
    if view.error:
        parts.append(Text(view.error, style="bold red"))
    if view.steps_of is not None:
        parts.append(_steps(view, timezone, _))
    return Panel(Group(*parts), title=title, title_align="left")


def _steps(view: HistoryView, timezone: str | None, _: Translate) -> Table:
    table = Table(title=_("steps of {alarm}").format(alarm=view.steps_of), expand=True, show_edge=False)
    for column in (_("time"), _("step"), _("by"), _("note")):
        table.add_column(column)
    for step in view.steps:
        table.add_row(_clock(step["ts"], timezone), _(step["step"]), _who(step.get("by")), step.get("note") or "")
    return table
