"""``edge watch``: the compound at a glance in a terminal, from the broker, as the platform sees it.

It subscribes to the gateway's topics (native format) and shows active alarms by severity with their age
and acknowledgement state, device health (online, offline, fault, battery) and recent gate decisions.
Keys acknowledge the selected alarm with a signed ``ack_alarm`` command, exactly as the platform sends it,
so it needs the platform's private key (``--key``).

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from edge.core.types import JsonValue
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
COMMAND_TTL_S = 60.0
GATE_ROWS = 10


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
    selected: int = 0
    status_line: str = ""
    pending: dict[str, str] = field(default_factory=dict)  # request_id -> alarm_id
    bad_messages: int = 0
    areas: dict[str, str] = field(default_factory=dict)  # device -> site area, from the config
    new_critical: int = 0  # critical alarms raised while watching (the terminal bell rings for each)

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
        if state in ("raised", "acknowledged") and isinstance(alarm_id, str):
            if alarm_id not in self.alarms and state == "raised" and data.get("severity") == "critical":
                self.new_critical += 1
            self.alarms[alarm_id] = AlarmRow(
                alarm_id=alarm_id,
                device=device,
                kind=kind,
                severity=str(data.get("severity", "info")),
                state=state,
                raised_at=float(data.get("raised_at") or data.get("ts") or time.time()),
                acknowledged_at=data.get("acknowledged_at"),
                acknowledged_by=data.get("acknowledged_by"),
            )
        elif state == "cleared" and isinstance(alarm_id, str):
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
        self.selected = min(self.selected, max(0, len(self.alarms) - 1))

    def _result(self, data: dict[str, Any]) -> None:
        request_id = data.get("request_id")
        if request_id not in self.pending:
            return
        alarm_id = self.pending[request_id]
        status = data.get("status")
        if status != "accepted":
            del self.pending[request_id]
        reason = f": {data['reason']}" if data.get("reason") else ""
        self.status_line = f"ack {alarm_id[:8]}: {status}{reason}"

    # -- selection and commands -----------------------------------------------------------------
    def ordered_alarms(self) -> list[AlarmRow]:
        return sorted(self.alarms.values(), key=lambda a: alarm_sort_key(a.severity, a.raised_at))

    def move(self, step: int) -> None:
        if self.alarms:
            self.selected = (self.selected + step) % len(self.alarms)

    def selected_alarm(self) -> AlarmRow | None:
        alarms = self.ordered_alarms()
        return alarms[self.selected] if 0 <= self.selected < len(alarms) else None

    def health_rows(self) -> Iterator[tuple[DeviceRow, Any]]:
        kinds: dict[str, list[str]] = {}
        for alarm in self.alarms.values():
            kinds.setdefault(alarm.device, []).append(alarm.kind)
        for device in sorted(self.devices, key=lambda d: (d not in self.areas, self.areas.get(d, ""), d)):
            row = self.devices[device]
            yield row, device_health(row.online, row.values, kinds.get(device, ()))


def ack_command(
    alarm_id: str, *, target: str, by: str, now: float, ttl: float = COMMAND_TTL_S
) -> dict[str, Any]:
    """An unsigned ``ack_alarm`` command as the platform would build it."""
    return {
        "request_id": str(uuid.uuid4()),
        "target": target,
        "action": ACK_ACTION,
        "args": {"alarm_id": alarm_id, "by": by},
        "issued_at": round(now, 3),
        "expires_at": round(now + ttl, 3),
    }


# -- rendering ----------------------------------------------------------------------------------


def render(state: WatchState, now: float) -> RenderableType:
    """The whole screen as a rich renderable: a pure function of ``state`` and the clock."""
    return Group(_header(state), _alarms(state, now), _devices(state, now), _gates(state), _footer(state))


def _header(state: WatchState) -> Text:
    link = {True: ("online", "green"), False: ("OFFLINE", "bold red"), None: ("unknown", "dim")}[
        state.gateway_online
    ]
    text = Text.assemble(("edge watch ", "bold"), (state.base, "cyan"), "  gateway ", link)
    if state.bad_messages:
        text.append(f"  ({state.bad_messages} unreadable messages)", style="dim")
    return text


def _alarms(state: WatchState, now: float) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in ("", "severity", "alarm", "device", "area", "age", "state"):
        table.add_column(column, no_wrap=True)
    alarms = state.ordered_alarms()
    for index, a in enumerate(alarms):
        acked = a.state == "acknowledged"
        ack_text = f"ack by {a.acknowledged_by}" if acked and a.acknowledged_by else a.state
        table.add_row(
            ">" if index == state.selected else "",
            Text(a.severity, style=SEVERITY_STYLE.get(a.severity, "")),
            a.kind,
            a.device,
            state.areas.get(a.device, ""),
            fmt_age(now - a.raised_at),
            Text(ack_text, style="dim" if acked else "bold"),
            style="reverse" if index == state.selected else None,
        )
    title = f"active alarms ({len(alarms)})"
    return Panel(
        table if alarms else Text("no active alarms", style="green"), title=title, title_align="left"
    )


def _devices(state: WatchState, now: float) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in ("area", "device", "health", "battery", "last seen", "faults"):
        table.add_column(column, no_wrap=True)
    counts: dict[Health, int] = {}
    for row, health in state.health_rows():
        counts[health.status] = counts.get(health.status, 0) + 1
        battery = "" if health.battery is None else f"{health.battery:g}{health.battery_unit}"
        if health.low_battery:
            battery = (battery + " LOW").strip()
        table.add_row(
            state.areas.get(row.id, ""),
            row.id,
            Text(health.status.value, style=HEALTH_STYLE[health.status]),
            Text(battery, style="bold red" if health.low_battery else ""),
            fmt_age(now - row.last_seen) + " ago" if row.last_seen else "-",
            ", ".join(health.faults),
        )
    summary = ", ".join(f"{n} {status.value}" for status, n in sorted(counts.items()))
    return Panel(table, title=f"devices ({summary or 'none seen yet'})", title_align="left")


def _gates(state: WatchState) -> Panel:
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in ("time", "gate", "result", "person", "distance"):
        table.add_column(column, no_wrap=True)
    for e in state.gates:
        style = "green" if e.result == "granted" else "red" if e.result in ("denied", "stranger") else ""
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(e.ts)),
            e.gate,
            Text(e.result, style=style),
            e.person or "unknown",
            "" if e.distance is None else f"{e.distance:.3f}",
        )
    return Panel(table, title="recent gate decisions", title_align="left")


def _footer(state: WatchState) -> Text:
    keys = Text("up/down or j/k select   a ack selected alarm   q quit", style="dim")
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


async def watch(config: Any, *, key_file: Path | None, by: str, refresh_s: float = 1.0) -> None:
    """Follow the gateway of ``config`` (a GatewayConfig) until 'q' or Ctrl-C."""
    import aiomqtt
    from rich.live import Live

    from edge.pipeline.signing import load_private_key
    from edge.pipeline.uplink import tls_context

    private_key = load_private_key(key_file) if key_file else None
    mqtt = config.mqtt
    base = f"{mqtt.topic_prefix}/{config.site_id}/{config.gateway_id}"
    state = WatchState(base, areas={d.id: d.area for d in config.devices if d.area})
    for device in config.devices:  # configured devices show (as unknown) before their first message
        state.devices[device.id] = DeviceRow(device.id)
    client = aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        identifier=f"edge-watch-{uuid.uuid4().hex[:8]}",
        username=mqtt.username,
        password=mqtt.password.reveal() if mqtt.password else None,
        tls_context=tls_context(config),
        protocol=aiomqtt.ProtocolVersion.V5 if mqtt.protocol == "5" else aiomqtt.ProtocolVersion.V311,
    )
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
                if key in ("q", "Q"):
                    break
                if key in ("j", "down"):
                    state.move(1)
                elif key in ("k", "up"):
                    state.move(-1)
                elif key in ("a", "\n", "\r"):
                    await _acknowledge(client, state, private_key, config, by)
                redraw()
            for task in tasks:
                task.cancel()


async def _acknowledge(client: Any, state: WatchState, private_key: Any, config: Any, by: str) -> None:
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
        private_key, ack_command(alarm.alarm_id, target=config.gateway_id, by=by, now=time.time())
    )
    state.pending[command["request_id"]] = alarm.alarm_id
    try:
        await client.publish(f"{state.base}/commands", json.dumps(command).encode(), qos=1)
    except aiomqtt.MqttError as exc:
        state.status_line = f"ack {alarm.alarm_id[:8]}: could not publish ({exc})"
    else:
        state.status_line = f"ack {alarm.alarm_id[:8]} sent"
