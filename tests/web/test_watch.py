"""``edge watch``: its state folded from real gateway messages, its rendering, and acknowledging by signed command."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import aiomqtt
import yaml
from rich.console import Console

from edge.core.types import Event, Reading, Severity
from edge.pipeline.signing import load_private_key
from edge.platform.watch import WatchState, _acknowledge, _split_keys, ack_command, render
from tests.support import async_wait_for
from tests.web.helpers import running_gateway

BASE = "ce/v1/site1/gw1"


def screen(state: WatchState, now: float) -> str:
    console = Console(file=io.StringIO(), width=140, record=True, color_system=None)
    console.print(render(state, now))
    return console.export_text()


def event(kind: str, device: str, severity: str, state: str | None, **fields) -> bytes:
    return json.dumps(
        {
            "id": f"id-{kind}",
            "kind": kind,
            "device": device,
            "severity": severity,
            "state": state,
            "ts": fields.pop("ts", 1000.0),
            "details": fields.pop("details", {}),
            **fields,
        }
    ).encode()


def test_messages_fold_into_alarms_devices_and_gate_decisions() -> None:
    state = WatchState(BASE, areas={"smoke-1": "block 3", "bin-7": "bins north"})
    state.apply(f"{BASE}/status", b'{"state": "online", "ts": 1}')
    state.apply(f"{BASE}/devices/bin-7/availability", b'{"device": "bin-7", "state": "offline"}')
    state.apply(
        f"{BASE}/telemetry/manhole-2",
        json.dumps(
            {"device": "manhole-2", "seq": 1, "readings": [{"key": "battery_pct", "value": 12, "ts": 990.0}]}
        ).encode(),
    )
    state.apply(f"{BASE}/events/bin-7", event("bin.full", "bin-7", "warning", "raised", alarm_id="a1", raised_at=900.0))
    state.apply(
        f"{BASE}/events/smoke-1", event("smoke", "smoke-1", "critical", "raised", alarm_id="a2", raised_at=940.0)
    )
    state.apply(f"{BASE}/events/lid-3", event("lid.open", "lid-3", "major", "raised", alarm_id="a3", raised_at=930.0))
    state.apply(f"{BASE}/events/lid-3", event("lid.open", "lid-3", "major", "cleared", alarm_id="a3"))
    state.apply(
        f"{BASE}/events/smoke-1",
        event(
            "smoke", "smoke-1", "critical", "acknowledged", alarm_id="a2", raised_at=940.0, acknowledged_by="platform"
        ),
    )
    state.apply(
        f"{BASE}/events/gate-east",
        event(
            "access.granted",
            "gate-east",
            "info",
            None,
            ts=995.0,
            details={"person": "Ada", "distance": 0.4, "result": "granted"},
        ),
    )
    state.apply(f"{BASE}/events/x", b"not json")
    state.apply("other/site/gw/status", b'{"state": "offline"}')

    assert state.gateway_online is True
    assert [a.alarm_id for a in state.ordered_alarms()] == ["a2", "a1"]
    assert state.alarms["a2"].state == "acknowledged"
    assert state.devices["bin-7"].online is False
    assert state.devices["manhole-2"].values == {"battery_pct": 12}
    assert state.gates[0].person == "Ada"
    assert state.bad_messages == 1
    assert state.new_critical == 1  # the smoke alarm; re-sends and acknowledgements do not count again

    text = screen(state, now=1000.0)
    assert "active alarms (2)" in text
    smoke_line = next(line for line in text.splitlines() if "smoke-1" in line)
    assert "critical" in smoke_line and "1m00s" in smoke_line and "ack by platform" in smoke_line
    assert "block 3" in smoke_line
    device_lines = [line for line in text.splitlines() if "bin-7" in line and "bin.full" not in line]
    assert "bins north" in device_lines[0]
    # devices with an area first, by area
    order = [
        name for line in text.splitlines() for name in ("bin-7", "manhole-2") if name in line and "bin.full" not in line
    ]
    assert order == ["bin-7", "manhole-2"]
    assert smoke_line.lstrip("│ ").startswith(">")  # the selected alarm
    bin_line = next(line for line in text.splitlines() if "bin.full" in line)
    assert "1m40s" in bin_line and "raised" in bin_line
    assert "lid.open" not in text
    assert "12% LOW" not in text and "12%" in text
    assert "offline" in next(line for line in text.splitlines() if "bin-7" in line and "bin.full" not in line)
    assert "Ada" in text and "granted" in text
    assert "1 unreadable messages" in text


def test_selection_moves_and_wraps() -> None:
    state = WatchState(BASE)
    for n, severity in enumerate(["warning", "critical", "info"]):
        state.apply(
            f"{BASE}/events/d{n}", event(f"k{n}", f"d{n}", severity, "raised", alarm_id=f"a{n}", raised_at=float(n))
        )
    assert state.selected_alarm().alarm_id == "a1"
    state.move(1)
    assert state.selected_alarm().alarm_id == "a0"
    state.move(2)
    assert state.selected_alarm().alarm_id == "a1"
    state.move(-1)
    assert state.selected_alarm().alarm_id == "a2"


def test_the_selection_follows_the_alarm_when_the_list_shifts() -> None:
    state = WatchState(BASE)
    state.apply(f"{BASE}/events/d0", event("bin_full", "d0", "warning", "raised", alarm_id="a0", raised_at=1.0))
    state.apply(f"{BASE}/events/d1", event("bin_full", "d1", "warning", "raised", alarm_id="a1", raised_at=2.0))
    state.move(1)
    assert state.selected_alarm().alarm_id == "a1"
    # a critical alarm arrives and goes first: row 1 is now a0, but the selection stays on a1
    state.apply(f"{BASE}/events/d2", event("smoke", "d2", "critical", "raised", alarm_id="a2", raised_at=3.0))
    assert [a.alarm_id for a in state.ordered_alarms()] == ["a2", "a0", "a1"]
    assert state.selected_alarm().alarm_id == "a1"
    # the selected alarm closes: the one that took its place is selected, never a jump to another row
    state.apply(f"{BASE}/events/d1", event("bin_full", "d1", "warning", "cleared", alarm_id="a1", closed=True))
    assert state.selected_alarm().alarm_id == "a0"


def test_a_cleared_critical_alarm_stays_until_acknowledged_and_shows_in_chinese() -> None:
    state = WatchState(
        BASE,
        names={"smoke-1": "3号楼楼梯烟感"},
        areas={"smoke-1": "b3"},
        area_names={"b3": "3号楼"},
        language="zh-CN",
        timezone="Asia/Shanghai",
    )
    raised = dict(alarm_id="a1", raised_at=1_800_000_000.0)
    state.apply(f"{BASE}/events/smoke-1", event("smoke_concentration", "smoke-1", "critical", "raised", **raised))
    state.apply(
        f"{BASE}/events/smoke-1", event("smoke_concentration", "smoke-1", "critical", "cleared", closed=False, **raised)
    )
    assert state.alarms["a1"].cleared
    text = screen(state, now=1_800_000_065.0)
    line = next(line for line in text.splitlines() if "3号楼楼梯烟感" in line)
    assert "烟雾浓度超标" in line and "紧急" in line and "已消除" in line and "3号楼" in line
    assert "16:00:00" in line  # 08:00 UTC, 24-hour time in Shanghai
    assert "1分5秒" in line
    assert "当前报警（1）" in text and "smoke_concentration" not in text
    state.apply(
        f"{BASE}/events/smoke-1",
        event("smoke_concentration", "smoke-1", "critical", "acknowledged", closed=True, **raised),
    )
    assert state.alarms == {}


def test_keys_and_commands() -> None:
    assert _split_keys("j\x1b[Aa\x1b[Bq") == ["j", "up", "a", "down", "q"]
    command = ack_command("a1", target="gw1", by="watch:ops", now=100.0, ttl=30)
    assert command["action"] == "ack_alarm" and command["args"] == {"alarm_id": "a1", "by": "watch:ops"}
    assert command["expires_at"] - command["issued_at"] == 30


async def test_watch_follows_a_live_gateway_and_acknowledges_with_a_signed_command(
    tmp_path: Path, mosquitto, platform_keys
) -> None:
    private, public = platform_keys
    commands = {"platform_public_key": {"file": str(public)}}
    async with running_gateway(tmp_path, mosquitto.port, commands=commands) as gw:
        state = WatchState(gw.base_topic)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="watch-test") as client:
            await client.subscribe(f"{gw.base_topic}/#", qos=1)

            async def follow() -> None:
                async for message in client.messages:
                    state.apply(str(message.topic), bytes(message.payload))

            reader = asyncio.create_task(follow())
            try:
                core = gw.gateway
                core.devices.declare("bin-7", area="bins north")
                await core.devices.set_availability("bin-7", False, reason="no answer")
                await core.readings.put(Reading("manhole-2", "battery_pct", 9))
                smoke = await core.alarms.update("smoke-b3-1", "smoke", active=True, severity=Severity.CRITICAL)
                await core.emit(
                    Event(
                        kind="access.denied",
                        device="gate-east",
                        severity=Severity.WARNING,
                        details={"result": "stranger", "distance": 0.72},
                    )
                )
                await async_wait_for(
                    lambda: (
                        smoke.alarm_id in state.alarms
                        and state.gates
                        and "manhole-2" in state.devices
                        and state.gateway_online
                    ),
                    15,
                    "the gateway's messages",
                )
                text = screen(state, time.time())
                assert "smoke-b3-1" in text and "Device offline" in text and "stranger" in text
                assert "gateway online" in text

                state.selected_id = smoke.alarm_id
                await _acknowledge(client, state, None, gw.gateway.config, "watch:test")
                assert "private key" in state.status_line  # no key, no command
                await _acknowledge(client, state, load_private_key(private), gw.gateway.config, "watch:test")
                await async_wait_for(
                    lambda: state.alarms[smoke.alarm_id].state == "acknowledged", 15, "the acknowledged event"
                )
                await async_wait_for(lambda: "done" in state.status_line, 15, "the command result")
                assert core.alarms.get(smoke.alarm_id).acknowledged_by == "watch:test"
                assert "ack by watch:test" in screen(state, time.time())
            finally:
                reader.cancel()


async def test_edge_watch_in_a_terminal_acknowledges_with_a_key(tmp_path: Path, mosquitto, platform_keys) -> None:
    """The real command on a pseudo-terminal: it draws, 'a' acknowledges the selected alarm, 'q' quits."""
    private, public = platform_keys
    config_file = tmp_path / "watch.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
                "buses": [{"id": "b", "url": "socket://127.0.0.1:1"}],
                "devices": [{"id": "smoke-b3-1", "bus": "b", "profile": "uniguard_smoke", "unit_id": 1}],
                "web": {"language": "en", "names": {"devices": {"smoke-b3-1": "Block 3 stair smoke"}}},
            }
        )
    )
    commands = {"platform_public_key": {"file": str(public)}}
    async with running_gateway(tmp_path, mosquitto.port, commands=commands) as gw:
        terminal = Terminal(
            [
                sys.executable,
                "-m",
                "edge",
                "watch",
                "--config",
                str(config_file),
                "--key",
                str(private),
                "--by",
                "watch:pty",
            ]
        )
        try:
            try:
                await async_wait_for(lambda: "no active alarms" in terminal.text(), 20, "the first screen")
            except AssertionError:
                raise AssertionError(f"no first screen; the terminal shows: {terminal.text()[-2000:]}") from None
            smoke = await gw.gateway.alarms.update("smoke-b3-1", "smoke", active=True, severity=Severity.CRITICAL)
            await async_wait_for(lambda: "Smoke alarm" in terminal.text(), 15, "the alarm on screen (its label)")
            alarm_line = next(line for line in terminal.text().splitlines() if "Smoke alarm" in line)
            assert "Block 3 stair smoke" in alarm_line and "smoke-b3-1" not in alarm_line  # names, not ids
            assert "\a" in terminal.text()  # the bell for a new critical alarm
            terminal.send(b"a")
            await async_wait_for(
                lambda: gw.gateway.alarms.get(smoke.alarm_id).acknowledged_by == "watch:pty",
                15,
                "the acknowledgement in the alarm book",
            )
            await async_wait_for(lambda: "done" in terminal.text(), 15, "the command result on screen")
            terminal.send("hsent 小王\r".encode())  # the closed loop from the keyboard, with a Chinese note
            await async_wait_for(
                lambda: gw.gateway.alarms.get(smoke.alarm_id).handling_note == "sent 小王", 15, "in handling"
            )
            assert gw.gateway.alarms.get(smoke.alarm_id).handling_by == "watch:pty"
            terminal.send(b"q")
            assert await asyncio.to_thread(terminal.proc.wait, 15) == 0
        finally:
            terminal.close()


class Terminal:
    """A child process on a pseudo-terminal; everything it writes is kept (escape sequences removed)."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "50"}
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self._raw = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._raw += data

    def text(self) -> str:
        with self._lock:
            raw = self._raw.decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def test_the_closed_loop_from_the_keyboard_with_a_note() -> None:
    state = WatchState(BASE)
    state.apply(f"{BASE}/events/d0", event("smoke", "d0", "critical", "raised", alarm_id="a0", raised_at=1.0))
    assert state.key("a") == ("ack_alarm", None)
    assert state.key("h") is None and state.editing == "handle_alarm"
    for key in "sent Li":
        assert state.key(key) is None
    assert state.key("q") is None and state.draft == "sent Liq"  # typing, not quitting
    assert state.key("\x7f") is None and state.draft == "sent Li"
    assert "who was sent: sent Li_" in screen(state, 2.0)
    assert state.key("\r") == ("handle_alarm", "sent Li") and state.editing is None
    state.key("r")
    assert state.key("\r") is None and state.status_line == "a note is required"  # an empty note is not sent
    state.key("n")
    state.key("\x1b")
    assert state.editing is None
    command = ack_command("a0", target="gw1", by="watch:ops", now=1.0, action="resolve_alarm", note="done")
    assert command["args"] == {"alarm_id": "a0", "by": "watch:ops", "note": "done"}
