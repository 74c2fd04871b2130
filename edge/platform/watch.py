"""``edge watch``: the compound at a glance in a terminal, from the broker, as the platform sees it.

It subscribes to the gateway's topics (native format) and shows active alarms by severity with their age
and acknowledgement state, device health (online, offline, fault, battery) and recent gate decisions.
Keys acknowledge the selected alarm with a signed ``ack_alarm`` command, exactly as the platform sends it,
so it needs the platform's private key (``--key``). Logged in to the gateway's console as one of its users
(``--user``), it also shows the alarm history (key ``H``, edge/platform/watch_history.py) and takes the loop
steps as that user, with that user's role, through the console's API (edge/platform/console_api.py).

``WatchState.apply(topic, payload)`` folds each message into a state object and ``render(state, now)``
draws it; both are pure, so the view is tested without a terminal or a broker.

Alarm events are not retained on the broker: alarms raised before ``edge watch`` started appear when the
gateway re-sends them (unacknowledged critical alarms, every ``pipeline.alarm_resend_s``) or changes them.
Device availability is retained and appears at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from edge.core.types import JsonValue
from edge.platform.console_api import ConsoleApi, ConsoleError
from edge.platform.watch_history import (
    FilterError,
    HistoryView,
    history_panel,
    load_history,
    load_steps,
    parse_filter,
)
from edge.web.i18n import gettext_for
from edge.web.plain import KINDS
from edge.web.views import AccessEntry, Health, alarm_sort_key, device_health, fmt_age, is_access_event

log = logging.getLogger(__name__)

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "major": "bold dark_orange",
    "warning": "yellow",
    "info": "cyan",
}
HEALTH_STYLE = {
    Health.ONLINE: "green",
    Health.OFFLINE: "bold red",
    Health.FAULT: "dark_orange",
    Health.UNKNOWN: "dim",
}
ACK_ACTION = "ack_alarm"
NOTE_KEYS = {"h": "handle_alarm", "r": "resolve_alarm", "n": "note_alarm"}  # the closed loop, each with a note
NOTE_MAX = 500
LOOP_STATES = ("raised", "acknowledged", "in_handling", "resolved")
COMMAND_TTL_S = 60.0
GATE_ROWS = 10
Translate = Callable[[str], str]


@dataclass(slots=True)
class AlarmRow:
    alarm_id: str
    device: str
    kind: str
    severity: str
    state: str
    raised_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    cleared: bool = False  # the condition ended, the alarm waits for an acknowledgement
    note: str | None = None


@dataclass(slots=True)
class DeviceRow:
    id: str
    online: bool | None = None
    values: dict[str, JsonValue] = field(default_factory=dict)
    last_seen: float | None = None


@dataclass(slots=True)
class WatchState:
    """Everything ``edge watch`` shows, built only from broker messages."""

    base: str  # topic prefix of the gateway: <prefix>/<site>/<gateway>
    alarms: dict[str, AlarmRow] = field(default_factory=dict)
    devices: dict[str, DeviceRow] = field(default_factory=dict)
    gates: deque[AccessEntry] = field(default_factory=lambda: deque(maxlen=GATE_ROWS))
    gateway_online: bool | None = None
    selected_id: str | None = None  # the selection follows the alarm, not the row position
    selected_index: int = 0  # where it was, for when it goes
    status_line: str = ""
    pending: dict[str, str] = field(default_factory=dict)  # request_id -> alarm_id
    editing: str | None = None  # the loop action whose note is being typed (handle_alarm, resolve_alarm, note_alarm)
    draft: str = ""
    bad_messages: int = 0
    areas: dict[str, str] = field(default_factory=dict)  # device -> site area, from the config
    new_critical: int = 0  # critical alarms raised while watching (the terminal bell rings for each)
    names: dict[str, str] = field(default_factory=dict)  # device -> display name, from web.names
    area_names: dict[str, str] = field(default_factory=dict)
    language: str = "en"
    timezone: str | None = None  # the site's (web.timezone); None: this machine's
    view: str = "live"  # live (from the broker) or history (from the console, with --user)
    history: HistoryView | None = None  # None: not logged in to the console

    # -- folding messages in --------------------------------------------------------------------
    def apply(self, topic: str, payload: bytes) -> None:
        """Fold one broker message into the state; messages this view does not know are ignored."""
        if not topic.startswith(self.base + "/"):
            return
        parts = topic[len(self.base) + 1 :].split("/")
        try:
            data = json.loads(payload) if payload else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.bad_messages += 1
            return
        if not isinstance(data, dict):
            if data is not None:
                self.bad_messages += 1
            return
        try:
            self._fold(parts, data)
        except (TypeError, ValueError, KeyError, AttributeError):  # found by bench/fuzz.py: a field of a wrong type
            self.bad_messages += 1

    def _fold(self, parts: list[str], data: dict[str, Any]) -> None:
        match parts:
            case ["status"]:
                self.gateway_online = data.get("state") == "online"
            case ["devices", device, "availability"]:
                self._device(device).online = data.get("state") == "online"
            case ["telemetry", device]:
                self._telemetry(device, data)
            case ["events", _device]:
                self._event(data)
            case ["commands", "result"]:
                self._result(data)

    def _device(self, device: str) -> DeviceRow:
        row = self.devices.get(device)
        if row is None:
            row = self.devices[device] = DeviceRow(device)
        return row

    def _telemetry(self, device: str, data: dict[str, Any]) -> None:
        row = self._device(device)
        for reading in data.get("readings") or []:
            if isinstance(reading, dict) and isinstance(reading.get("key"), str):
                row.values[reading["key"]] = reading.get("value")
                ts = reading.get("ts")
                if isinstance(ts, int | float):
                    row.last_seen = max(row.last_seen or 0.0, float(ts))
        if row.online is None:
            row.online = True

    def _event(self, data: dict[str, Any]) -> None:
        kind, device, state = data.get("kind"), data.get("device"), data.get("state")
        if not isinstance(kind, str) or not isinstance(device, str):
            self.bad_messages += 1
            return
        if kind == "device.offline" and state in ("raised", "cleared"):
            self._device(device).online = state == "cleared"
        alarm_id = data.get("alarm_id")
        closed = data.get("closed") is True
        if state in LOOP_STATES and isinstance(alarm_id, str):
            if alarm_id not in self.alarms and state == "raised" and data.get("severity") == "critical":
                self.new_critical += 1
            if closed:
                self.alarms.pop(alarm_id, None)
                return
            previous = self.alarms.get(alarm_id)
            self.alarms[alarm_id] = AlarmRow(
                alarm_id=alarm_id,
                device=device,
                kind=kind,
                severity=str(data.get("severity", "info")),
                state=state,
                raised_at=float(data.get("raised_at") or data.get("ts") or time.time()),
                acknowledged_at=data.get("acknowledged_at"),
                acknowledged_by=data.get("acknowledged_by"),
                cleared=bool(previous and previous.cleared) or data.get("cleared_at") is not None,
                note=data.get("note") if isinstance(data.get("note"), str) else (previous.note if previous else None),
            )
        elif state == "cleared" and isinstance(alarm_id, str):
            row = self.alarms.get(alarm_id)
            if data.get("closed") is False and row is not None:
                row.cleared = True  # critical / major: listed until acknowledged
            else:
                self.alarms.pop(alarm_id, None)
        elif is_access_event(kind, state):
            self.gates.appendleft(
                AccessEntry.from_fields(
                    id=str(data.get("id", "")),
                    ts=float(data.get("ts") or time.time()),
                    device=device,
                    kind=kind,
                    severity=str(data.get("severity", "info")),
                    details=data.get("details") or {},
                )
            )

    def _result(self, data: dict[str, Any]) -> None:
        request_id = data.get("request_id")
        if request_id not in self.pending:
            return
        alarm_id = self.pending[request_id]
        status = data.get("status")
        if status != "accepted":
            del self.pending[request_id]
        reason = f": {data['reason']}" if data.get("reason") else ""
        self.status_line = f"{alarm_id[:8]}: {status}{reason}"

    def key(self, key: str) -> tuple[str, str | None] | None:
        """Fold one key press in; returns (action, note) when a command is to be sent, ("history", None) when
        the history is to be loaded, ("steps", alarm id) for one alarm's steps, else None."""
        if self.editing is not None:
            if key in ("\n", "\r"):
                action, note = self.editing, self.draft.strip()
                self.editing, self.draft = None, ""
                if action == "filter" and self.history is not None:
                    return self._filter(self.history, note)
                if not note:
                    self.status_line = "a note is required"
                    return None
                return action, note
            if key == "\x1b":
                self.editing, self.draft = None, ""
            elif key in ("\x7f", "\b"):
                self.draft = self.draft[:-1]
            elif key.isprintable() and len(self.draft) < NOTE_MAX:
                self.draft += key
            return None
        if key == "H":
            return self._toggle_history()
        if self.view == "history" and self.history is not None:
            return self._history_key(key, self.history)
        if key in ("j", "down"):
            self.move(1)
        elif key in ("k", "up"):
            self.move(-1)
        elif key in ("a", "\n", "\r"):
            return ACK_ACTION, None
        elif key in NOTE_KEYS and self.selected_alarm() is not None:
            self.editing, self.draft = NOTE_KEYS[key], ""
        return None

    def _toggle_history(self) -> tuple[str, str | None] | None:
        if self.history is None:
            self.status_line = "the history needs a console login: edge watch --user NAME"
            return None
        self.view = "live" if self.view == "history" else "history"
        return ("history", None) if self.view == "history" else None

    def _history_key(self, key: str, history: HistoryView) -> tuple[str, str | None] | None:
        """Keys of the history view: select, steps, filter, reload; the loop keys act on the selected row."""
        alarm_id = history.selected_id()
        if key in ("j", "down", "k", "up"):
            history.move(1 if key in ("j", "down") else -1)
        elif key in ("\n", "\r") and alarm_id is not None:
            return "steps", alarm_id
        elif key == "/":
            self.editing = "filter"
            self.draft = " ".join(f"{k}={v}" for k, v in history.filters.items())
        elif key == "g":
            return "history", None
        elif key == "\x1b":
            self.view = "live"
        elif key == "a" and alarm_id is not None:
            return ACK_ACTION, None
        elif key in NOTE_KEYS and alarm_id is not None:
            self.editing, self.draft = NOTE_KEYS[key], ""
        return None

    def _filter(self, history: HistoryView, line: str) -> tuple[str, str | None] | None:
        try:
            history.filters = parse_filter(line)
        except FilterError as exc:
            self.status_line = str(exc)
            return None
        history.selected = 0
        return "history", None

    def target_alarm_id(self) -> str | None:
        """The alarm the loop keys act on: the selected history row in the history view, else the selected alarm."""
        if self.view == "history" and self.history is not None:
            return self.history.selected_id()
        alarm = self.selected_alarm()
        return alarm.alarm_id if alarm else None

    # -- selection and commands -----------------------------------------------------------------
    def ordered_alarms(self) -> list[AlarmRow]:
        return sorted(self.alarms.values(), key=lambda a: alarm_sort_key(a.severity, a.raised_at))

    def move(self, step: int) -> None:
        alarms = self.ordered_alarms()
        if alarms:
            index = (self._index_of_selection(alarms) + step) % len(alarms)
            self.selected_id, self.selected_index = alarms[index].alarm_id, index

    def selected_alarm(self) -> AlarmRow | None:
        alarms = self.ordered_alarms()
        if not alarms:
            return None
        index = self._index_of_selection(alarms)
        self.selected_id, self.selected_index = alarms[index].alarm_id, index
        return alarms[index]

    def _index_of_selection(self, alarms: list[AlarmRow]) -> int:
        """Where the selected alarm is now; if it went, the row that took its place."""
        for i, alarm in enumerate(alarms):
            if alarm.alarm_id == self.selected_id:
                return i
        return min(self.selected_index, len(alarms) - 1)

    def name(self, device: str) -> str:
        return self.names.get(device, device)

    def area(self, device: str) -> str:
        area = self.areas.get(device, "")
        return self.area_names.get(area, area)

    def clock(self, ts: float) -> str:
        zone = ZoneInfo(self.timezone) if self.timezone else None
        return datetime.fromtimestamp(ts, zone).strftime("%H:%M:%S")

    def health_rows(self) -> Iterator[tuple[DeviceRow, Any]]:
        kinds: dict[str, list[str]] = {}
        for alarm in self.alarms.values():
            kinds.setdefault(alarm.device, []).append(alarm.kind)
        for device in sorted(self.devices, key=lambda d: (d not in self.areas, self.areas.get(d, ""), d)):
            row = self.devices[device]
            yield row, device_health(row.online, row.values, kinds.get(device, ()))


def ack_command(
    alarm_id: str,
    *,
    target: str,
    by: str,
    now: float,
    ttl: float = COMMAND_TTL_S,
    action: str = ACK_ACTION,
    note: str | None = None,
    site_id: str = "",
    gateway_id: str = "",
) -> dict[str, Any]:
    """An unsigned ``ack_alarm`` (or ``handle_alarm`` / ``resolve_alarm`` / ``note_alarm`` with ``note``) command
    as the platform would build it (for ``site_id``/``gateway_id``)."""
    args: dict[str, Any] = {"alarm_id": alarm_id, "by": by}
    if note is not None:
        args["note"] = note
    return {
        "site_id": site_id,
        "gateway_id": gateway_id or target,
        "request_id": str(uuid.uuid4()),
        "target": target,
        "action": action,
        "args": args,
        "issued_at": round(now, 3),
        "expires_at": round(now + ttl, 3),
    }


# -- rendering ----------------------------------------------------------------------------------


def render(state: WatchState, now: float) -> RenderableType:
    """The whole screen as a rich renderable: a pure function of ``state`` and the clock."""
    _ = gettext_for(state.language)
    if state.view == "history" and state.history is not None:
        panel = history_panel(state.history, timezone=state.timezone, _=_)
        return Group(_header(state, _), panel, _footer(state, _))
    return Group(
        _header(state, _), _alarms(state, now, _), _devices(state, now, _), _gates(state, _), _footer(state, _)
    )


def _header(state: WatchState, _: Translate) -> Text:
    link = {True: (_("online"), "green"), False: (_("OFFLINE"), "bold red"), None: (_("unknown"), "dim")}[
        state.gateway_online
    ]
    text = Text.assemble(("edge watch ", "bold"), (state.base, "cyan"), "  " + _("gateway") + " ", link)
    if state.bad_messages:
        text.append("  (" + _("{n} unreadable messages").format(n=state.bad_messages) + ")", style="dim")
    return text


def _kind(kind: str, _: Translate) -> str:
    return _(KINDS[kind].label) if kind in KINDS else kind


def _age(seconds: float, _: Translate) -> str:
    return _age_words(seconds, _) if _("{n} s") != "{n} s" else fmt_age(seconds)  # English keeps "5m03s"


def _age_words(seconds: float, _: Translate) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return _("{n} s").format(n=s)
    if s < 3600:
        return _("{m} min {s} s").format(m=s // 60, s=s % 60)
    if s < 86_400:
        return _("{h} h {m} min").format(h=s // 3600, m=s % 3600 // 60)
    return _("{d} d {h} h").format(d=s // 86_400, h=s % 86_400 // 3600)


def _alarms(state: WatchState, now: float, _: Translate) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in ("", _("severity"), _("alarm"), _("device"), _("area"), _("raised at"), _("age"), _("state")):
        table.add_column(column, no_wrap=True)
    alarms = state.ordered_alarms()
    selected = state.selected_alarm()
    for a in alarms:
        acked = a.state != "raised"
        ack_text = (
            _("ack by {who}").format(who=a.acknowledged_by)
            if a.state == "acknowledged" and a.acknowledged_by
            else _(a.state)
        )
        if a.cleared:
            ack_text += " · " + _("cleared")
        is_selected = selected is not None and a.alarm_id == selected.alarm_id
        table.add_row(
            ">" if is_selected else "",
            Text(_(a.severity), style=SEVERITY_STYLE.get(a.severity, "")),
            _kind(a.kind, _),
            state.name(a.device),
            state.area(a.device),
            state.clock(a.raised_at),
            _age(now - a.raised_at, _),
            Text(ack_text, style="dim" if acked else "bold"),
            style="reverse" if is_selected else None,
        )
    title = _("active alarms ({n})").format(n=len(alarms))
    return Panel(table if alarms else Text(_("no active alarms"), style="green"), title=title, title_align="left")


def _devices(state: WatchState, now: float, _: Translate) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in (_("area"), _("device"), _("health"), _("battery"), _("last seen"), _("faults")):
        table.add_column(column, no_wrap=True)
    counts: dict[Health, int] = {}
    for row, health in state.health_rows():
        counts[health.status] = counts.get(health.status, 0) + 1
        battery = "" if health.battery is None else f"{health.battery:g}{health.battery_unit}"
        if health.low_battery:
            battery = (battery + " " + _("LOW")).strip()
        table.add_row(
            state.area(row.id),
            state.name(row.id),
            Text(_(health.status.value), style=HEALTH_STYLE[health.status]),
            Text(battery, style="bold red" if health.low_battery else ""),
            _("{age} ago").format(age=_age(now - row.last_seen, _)) if row.last_seen else "-",
            ", ".join(health.faults),
        )
    summary = ", ".join(f"{n} {_(status.value)}" for status, n in sorted(counts.items()))
    return Panel(
        table, title=_("devices ({summary})").format(summary=summary or _("none seen yet")), title_align="left"
    )


def _gates(state: WatchState, _: Translate) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in (_("time"), _("gate"), _("result"), _("person"), _("distance")):
        table.add_column(column, no_wrap=True)
    for e in state.gates:
        style = "green" if e.result == "granted" else "red" if e.result in ("denied", "stranger") else ""
        table.add_row(
            state.clock(e.ts),
            state.name(e.gate),
            Text(_(e.result), style=style),
            e.person or _("unknown"),
            "" if e.distance is None else f"{e.distance:.3f}",
        )
    return Panel(table, title=_("recent gate decisions"), title_align="left")


def _footer(state: WatchState, _: Translate) -> Text:
    if state.editing is not None:
        prompt = {
            "handle_alarm": _("who was sent"),
            "resolve_alarm": _("what was found"),
            "note_alarm": _("note"),
            "filter": _("filter (state= severity= kind= area= device= days=)"),
        }[state.editing]
        return Text.assemble((prompt + ": ", "bold"), state.draft + "_", ("   " + _("Enter sends, Esc cancels"), "dim"))
    if state.view == "history":
        text = _("j/k select   Enter steps   / filter   g reload   a ack   h sent   r resolve   n note   H live")
    else:
        text = _("up/down or j/k select   a ack   h sent someone   r resolve   n note   q quit")
        if state.history is not None:
            text += "   " + _("H history")
    keys = Text(text, style="dim")
    if state.status_line:
        keys.append("   " + state.status_line, style="bold")
    return keys


# -- running against a broker ------------------------------------------------------------------


class KeyReader:
    """Single key presses from a terminal (cbreak mode), delivered to an asyncio queue."""

    def __init__(self) -> None:
        self.keys: asyncio.Queue[str] = asyncio.Queue()
        self._saved: list[Any] | None = None

    def __enter__(self) -> KeyReader:
        import termios
        import tty

        fd = sys.stdin.fileno()
        if os.isatty(fd):
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            asyncio.get_running_loop().add_reader(fd, self._read)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self._saved is not None:
            fd = sys.stdin.fileno()
            asyncio.get_running_loop().remove_reader(fd)
            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)

    def _read(self) -> None:
        data = os.read(sys.stdin.fileno(), 32).decode(errors="ignore")
        for key in _split_keys(data):
            self.keys.put_nowait(key)


def _split_keys(data: str) -> list[str]:
    """Keys from raw terminal input; arrow keys arrive as escape sequences."""
    out: list[str] = []
    i = 0
    while i < len(data):
        if data.startswith("\x1b[A", i):
            out.append("up")
            i += 3
        elif data.startswith("\x1b[B", i):
            out.append("down")
            i += 3
        else:
            out.append(data[i])
            i += 1
    return out


def watch_language(web: Any) -> str:
    """``web.language``, or for ``auto`` the terminal's locale (LC_ALL, LC_MESSAGES, LANG)."""
    if web.language != "auto":
        return str(web.language)
    from edge.web.i18n import negotiate

    tag = next((os.environ[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(v)), "")
    tag = tag.split(".")[0].replace("_", "-")
    return negotiate(tag if tag not in ("C", "POSIX") else None, default=web.default_language)


async def watch(
    config: Any, *, key_file: Path | None, by: str, refresh_s: float = 1.0, console: ConsoleApi | None = None
) -> None:
    """Follow the gateway of ``config`` (a GatewayConfig) until 'q' or Ctrl-C; with ``console`` (logged in) also
    its history, and the loop steps as that console user."""
    from rich.live import Live

    from edge.pipeline.mqtt_client import make_client
    from edge.pipeline.signing import load_private_key
    from edge.pipeline.topics import Topics

    private_key = load_private_key(key_file) if key_file else None
    base = Topics.of(config).base
    state = WatchState(
        base,
        areas={d.id: d.area for d in config.devices if d.area},
        names=dict(config.web.names.devices),
        area_names=dict(config.web.names.areas),
        language=watch_language(config.web),
        timezone=config.web.timezone,
        history=HistoryView() if console is not None else None,
    )
    for device in config.devices:  # configured devices show (as unknown) before their first message
        state.devices[device.id] = DeviceRow(device.id)
    client = make_client(config, role="watch", identifier=f"edge-watch-{uuid.uuid4().hex[:8]}")
    async with client, asyncio.TaskGroup() as tg:
        await client.subscribe(f"{base}/#", qos=1)
        with Live(render(state, time.time()), auto_refresh=False, screen=True) as live, KeyReader() as reader:

            def redraw() -> None:
                live.update(render(state, time.time()), refresh=True)

            async def messages() -> None:
                rung = 0
                async for message in client.messages:
                    state.apply(str(message.topic), bytes(message.payload or b""))
                    if state.new_critical > rung:
                        rung = state.new_critical
                        live.console.bell()
                    redraw()

            async def ticks() -> None:
                while True:
                    await asyncio.sleep(refresh_s)
                    redraw()

            tasks = [
                tg.create_task(messages(), name="watch-messages"),
                tg.create_task(ticks(), name="watch-tick"),
            ]
            while True:
                key = await reader.keys.get()
                if key in ("q", "Q") and state.editing is None:
                    break
                command = state.key(key)
                if command is not None:
                    await perform(command, state, console=console, broker=(client, private_key, config, by))
                redraw()
            for task in tasks:
                task.cancel()


async def perform(
    command: tuple[str, str | None],
    state: WatchState,
    *,
    console: ConsoleApi | None,
    broker: tuple[Any, Any, Any, str] | None = None,
) -> None:
    """Carry out what a key asked for: load the history or an alarm's steps from the console, or take a loop
    step, as the console user (with ``console``) or as the platform with a signed command on the broker."""
    action, arg = command
    if action in ("history", "steps"):
        if console is not None and state.history is not None:
            if action == "history":
                await load_history(console, state.history)
            elif arg is not None:
                await load_steps(console, state.history, arg)
        return
    if console is not None:
        alarm_id = state.target_alarm_id()
        if alarm_id is None:
            state.status_line = "no alarm selected"
            return
        try:
            answer = await console.act(action, alarm_id, arg)
        except ConsoleError as exc:
            answer = str(exc)
        state.status_line = f"{alarm_id[:8]}: {answer}"
        if state.view == "history" and state.history is not None:
            await load_history(console, state.history)
        return
    if broker is not None:
        client, private_key, config, by = broker
        await _acknowledge(client, state, private_key, config, by, action, arg)


async def _acknowledge(
    client: Any,
    state: WatchState,
    private_key: Any,
    config: Any,
    by: str,
    action: str = ACK_ACTION,
    note: str | None = None,
) -> None:
    """Send the selected alarm's loop step as a command signed with the platform's key."""
    import aiomqtt

    from edge.pipeline.signing import sign_command

    alarm = state.selected_alarm()
    if alarm is None:
        state.status_line = "no alarm selected"
        return
    if private_key is None:
        state.status_line = "acknowledging needs the platform private key: edge watch --key FILE"
        return
    command = sign_command(
        private_key,
        ack_command(
            alarm.alarm_id,
            target=config.gateway_id,
            by=by,
            now=time.time(),
            action=action,
            note=note,
            site_id=config.site_id,
            gateway_id=config.gateway_id,
        ),
    )
    state.pending[command["request_id"]] = alarm.alarm_id
    try:
        await client.publish(f"{state.base}/commands", json.dumps(command).encode(), qos=1)
    except aiomqtt.MqttError as exc:
        state.status_line = f"{action} {alarm.alarm_id[:8]}: could not publish ({exc})"
    else:
        state.status_line = f"{action} {alarm.alarm_id[:8]} sent"
