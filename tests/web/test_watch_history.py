"""``edge watch --user``: the alarm history from the gateway's console API (who did what, when; filters by state,
severity, kind) and the loop steps with the console user's role, through a real gateway."""

from __future__ import annotations

import asyncio
import io
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from rich.console import Console

from edge.core.types import Severity
from edge.platform.console_api import ConsoleApi, ConsoleError
from edge.platform.watch import WatchState, perform, render
from edge.platform.watch_history import FilterError, HistoryView, parse_filter, query_of
from tests.support import async_wait_for
from tests.web.helpers import PASSWORD, PASSWORD_HASH, USER, running_gateway, web_section
from tests.web.test_watch import Terminal

BASE = "ce/v1/site1/gw1"
WEB = web_section(
    users=[
        {"name": USER, "password_hash": PASSWORD_HASH, "role": "guard"},
        {"name": "fitter", "password_hash": PASSWORD_HASH, "role": "installer"},
    ],
    language="en",
    names={"devices": {"smoke-b3": "Block 3 stair smoke", "bin-a": "Bin yard 1"}},
)


def screen(state: WatchState) -> str:
    console = Console(file=io.StringIO(), width=160, record=True, color_system=None)
    console.print(render(state, 0.0))
    return console.export_text()


def typed(state: WatchState, text: str) -> tuple[str, str | None] | None:
    """Type ``text`` then Enter; what the last key asked for."""
    for key in text:
        state.key(key)
    return state.key("\r")


def test_filters_are_checked_and_name_what_is_wrong() -> None:
    assert parse_filter("state=open severity=critical kind=smoke") == {
        "state": "open",
        "severity": "critical",
        "kind": "smoke",
    }
    assert parse_filter("  ") == {}
    for line, message in (
        ("colour=red", "unknown filter 'colour'; use state, severity, kind, area, device, days"),
        ("severity=urgent", "severity must be one of critical, major, warning, info, not 'urgent'"),
        ("critical", "'critical': write key=value"),
        ("days=0", "days must be a whole number from 1 to 366, not '0'"),
    ):
        with pytest.raises(FilterError, match=message):
            parse_filter(line)
    assert query_of({"days": "2", "kind": "smoke"}, now=1_000_000.0) == {"kind": "smoke", "since": "827200"}


def test_the_history_key_without_a_console_login_says_how() -> None:
    state = WatchState(BASE)
    assert state.key("H") is None and state.view == "live"
    assert state.status_line == "the history needs a console login: edge watch --user NAME"
    state = WatchState(BASE, history=HistoryView())
    assert state.key("H") == ("history", None) and state.view == "history"
    state.key("/")
    assert typed(state, "severity=loud") is None and "severity must be one of" in state.status_line
    assert state.history is not None and state.history.filters == {}
    assert state.key("\x1b") is None and state.view == "live"


async def test_the_history_and_the_loop_through_the_console_api(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port, web=WEB) as gw:
        book = gw.gateway.alarms
        smoke = await book.update(
            "smoke-b3",
            "smoke_concentration",
            active=True,
            severity=Severity.CRITICAL,
            details={"field": "concentration", "value": 684, "threshold": 300},
        )
        full = await book.update("bin-a", "bin_full", active=True, severity=Severity.WARNING)
        forced = await book.update("gate-n", "door.forced", active=True, severity=Severity.MAJOR)
        await book.update("gate-n", "door.forced", active=False)  # major: stays, marked cleared

        with pytest.raises(ConsoleError, match="console login as 'guard' refused \\(401\\)"):
            async with ConsoleApi(gw.url, USER, "wrong password"):
                pass
        async with ConsoleApi(gw.url, USER, PASSWORD) as guard, ConsoleApi(gw.url, "fitter", PASSWORD) as fitter:
            assert guard.role == "guard" and "resolve" in guard.actions
            state = WatchState(BASE, history=HistoryView(), language="en", timezone="Asia/Shanghai")
            await perform(state.key("H"), state, console=guard)
            assert state.history is not None
            history = state.history
            assert {r["alarm_id"] for r in history.rows} == {smoke.alarm_id, full.alarm_id, forced.alarm_id}
            text = screen(state)
            assert "history: 3 of 3 (filter: none)" in text
            assert "Block 3 stair smoke" in text and "Bin yard 1" in text  # names, not ids

            # filter by severity: only the smoke alarm; 'a' acknowledges it as the console user guard
            state.key("/")
            await perform(typed(state, "severity=critical"), state, console=guard)
            assert [r["alarm_id"] for r in history.rows] == [smoke.alarm_id]
            await perform(state.key("a"), state, console=guard)
            assert state.status_line == f"{smoke.alarm_id[:8]}: acknowledge done"
            assert book.get(smoke.alarm_id).acknowledged_by == f"console:{USER}"
            state.key("h")
            await perform(typed(state, "sent Wang to block 3"), state, console=guard)
            assert book.get(smoke.alarm_id).handling_note == "sent Wang to block 3"

            # who did what, when: the steps of the selected alarm, in the site's time
            await perform(state.key("\r"), state, console=guard)
            text = screen(state)
            assert f"steps of {smoke.alarm_id}" in text
            steps = text[text.index("steps of") :].splitlines()
            assert [s["step"] for s in history.steps] == ["raised", "acknowledged", "in_handling"]
            for step in history.steps[1:]:
                when = datetime.fromtimestamp(step["ts"], ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
                [line] = [line for line in steps if f"│ {step['step']} " in line]
                assert when in line and f"│ {USER} " in line, text
            assert "sent Wang to block 3" in next(line for line in steps if "in_handling" in line)

            # filter by state and by kind
            state.key("/")
            await perform(typed(state, "\x7f" * 40 + "state=in_handling"), state, console=guard)
            assert history.filters == {"state": "in_handling"}
            assert [r["alarm_id"] for r in history.rows] == [smoke.alarm_id]
            state.key("/")
            await perform(typed(state, "\x7f" * 40 + "kind=bin_full"), state, console=guard)
            assert [r["alarm_id"] for r in history.rows] == [full.alarm_id]
            state.key("/")
            await perform(typed(state, "\x7f" * 40 + "state=burning"), state, console=guard)
            assert history.error is not None and "state must be one of" in history.error  # the gateway's check

            # the installer's role may not send someone: refused by the gateway, nothing changes
            fitter_state = WatchState(BASE, history=HistoryView(), language="en")
            await perform(fitter_state.key("H"), fitter_state, console=fitter)
            assert fitter_state.history is not None
            fitter_state.history.selected = next(
                i for i, r in enumerate(fitter_state.history.rows) if r["alarm_id"] == full.alarm_id
            )
            fitter_state.key("h")
            await perform(typed(fitter_state, "someone"), fitter_state, console=fitter)
            assert "handle refused: the role 'installer' may not handle" in fitter_state.status_line
            assert book.get(full.alarm_id).handling_by is None
            audit = gw.gateway.history.audit()
            assert (audit[0].user, audit[0].action, audit[0].result.split(":")[0]) == ("fitter", "handle", "refused")


async def test_edge_watch_in_a_terminal_shows_the_history_of_its_console_user(
    tmp_path: Path, mosquitto, monkeypatch
) -> None:
    async with running_gateway(tmp_path, mosquitto.port, web=WEB) as gw:
        smoke = await gw.gateway.alarms.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
        await gw.gateway.alarms.acknowledge(smoke.alarm_id, by="console:guard")
        config_file = tmp_path / "watch.yaml"
        config_file.write_text(
            yaml.safe_dump(
                {
                    "site_id": "site1",
                    "gateway_id": "gw1",
                    "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
                    "web": {"language": "en", "port": gw.console.port},
                }
            )
        )
        monkeypatch.setenv("EDGE_WATCH_PASSWORD", PASSWORD)
        terminal = Terminal([sys.executable, "-m", "edge", "watch", "--config", str(config_file), "--user", USER])
        try:
            await async_wait_for(lambda: "H history" in terminal.text(), 20, "the first screen")
            terminal.send(b"H")
            await async_wait_for(lambda: "history: 1 of 1" in terminal.text(), 15, "the history view")
            terminal.send(b"\r")
            await async_wait_for(lambda: "steps of" in terminal.text(), 15, "the alarm's steps")
            assert "acknowledged" in terminal.text()
            terminal.send(b"Hq")
            assert await asyncio.to_thread(terminal.proc.wait, 15) == 0
        finally:
            terminal.close()
        wrong = Terminal([sys.executable, "-m", "edge", "watch", "--config", str(config_file), "--user", "nobody"])
        try:
            assert await asyncio.to_thread(wrong.proc.wait, 30) == 2
            assert "console login as 'nobody' refused (401)" in wrong.text()
        finally:
            wrong.close()
