"""Open a gate and hold / release a lift door from the console, end to end through the real gateway: the relay
board is a simulated Modbus TCP device, the gate and the lift are the gateway's own components. A supervisor
clicks in headless Chromium and the lock relay pulses, the access log records who and why, the lift door is
held and released; a guard and an installer are refused by the server and nothing moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from edge.components import build_components
from edge.gate.component import GateService
from edge.lift.component import LiftCamera
from edge.web.component import WebConsole
from simulators.model import SimBus, SimDevice
from simulators.tcp import TcpSimulator
from tests.conftest import shared_file
from tests.edge.gwrun import running
from tests.support import async_wait_for, free_port, make_config
from tests.web.helpers import PASSWORD, PASSWORD_HASH, USER, client, login, web_section
from tests.web.test_guardroom_browser import open_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RELAY = {"id": "relay-1", "bus": "b1", "profile": "relay_board", "unit_id": 1}
GATE_CHANNEL, LIFT_CHANNEL = 2, 0
UNLOCK_S = 1.0


@pytest.fixture(scope="module")
def model_dir(shared_dir: Path) -> Path:
    return shared_file(shared_dir, "models")


def sections(bus_url: str, model_dir: Path) -> dict[str, Any]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # no camera answers: the actions need none
    return {
        "web": web_section(
            users=[
                {"name": USER, "password_hash": PASSWORD_HASH, "role": "guard"},
                {"name": "chief", "password_hash": PASSWORD_HASH, "role": "supervisor"},
                {"name": "fitter", "password_hash": PASSWORD_HASH, "role": "installer"},
            ],
            language="en",
        ),
        "buses": [{"id": "b1", "url": bus_url, "timeout_s": 0.5}],
        "devices": [{**RELAY, "poll_s": 0.5}],
        "gates": [
            {
                "id": "north",
                "camera": f"{nowhere}/gate",
                "door": {"relay_device": "relay-1", "relay_channel": GATE_CHANNEL, "unlock_s": UNLOCK_S},
            }
        ],
        "lifts": [
            {
                "id": "lift-1",
                "camera_url": f"{nowhere}/lift",
                "model_dir": str(model_dir),
                "fps": 2,
                "door_hold": {"device": "relay-1", "channel": LIFT_CHANNEL},
            }
        ],
    }


async def act(http: aiohttp.ClientSession, url: str, csrf: str, **body: Any) -> tuple[int, dict]:
    async with http.post(f"{url}/api/actions", json=body, headers={"X-CSRF-Token": csrf}) as r:
        return r.status, await r.json()


async def test_console_opens_the_gate_and_holds_the_lift_door_on_the_real_devices(
    tmp_path: Path, model_dir: Path, browser
) -> None:
    notes: list[str] = []
    relay = SimDevice(resolve_device(DeviceConfig(**RELAY)), log=notes.append)
    async with TcpSimulator(SimBus([relay])) as bus:
        config = make_config(tmp_path, free_port(), **sections(bus.url, model_dir))
        components = build_components(config)
        console = next(c for c in components if isinstance(c, WebConsole))
        gates = next(c for c in components if isinstance(c, GateService))
        lift = next(c for c in components if isinstance(c, LiftCamera))
        async with running(config, components) as gw, client() as guard, client() as fitter:
            await async_wait_for(lambda: console.serving.is_set() and gates.store is not None, 20, "console and gates")
            url = f"http://127.0.0.1:{console.port}"
            await async_wait_for(lambda: gw.devices.get("relay-1") and gw.devices.get("relay-1").online, 20, "relay")

            # refused by role: the guard may neither open a gate nor hold a lift door, the installer no gate
            guard_csrf = await login(guard, url)
            fitter_csrf = await login(fitter, url, "fitter", PASSWORD)
            for http, csrf, action in (
                (guard, guard_csrf, "open_gate"),
                (guard, guard_csrf, "hold_door"),
                (guard, guard_csrf, "release_door"),
                (fitter, fitter_csrf, "open_gate"),
                (fitter, fitter_csrf, "hold_door"),
            ):
                target = "north" if action == "open_gate" else "lift-1"
                status, answer = await act(http, url, csrf, action=action, target=target, text="let me")
                assert status == 403 and "may not" in answer["error"], (action, answer)
            assert notes == [] and relay.get(f"relay{GATE_CHANNEL}") is False and not lift.door_held

            # allowed: the supervisor clicks Open gate in the browser, gives the reason, the lock relay pulses
            context, page = await open_console(browser, url, user="chief")
            try:
                await page.wait_for_selector("#open-gate:not([hidden])")
                assert await guard_sees_no_controls(browser, url)
                await page.select_option("#gate-select", "north")
                await page.click("#open-gate")
                await page.fill("#ask-text", "delivery van for block 3")
                await page.click("#ask-ok")
                await async_wait_for(lambda: relay.get(f"relay{GATE_CHANNEL}") is True, 10, "the lock relay on")
                await async_wait_for(lambda: relay.get(f"relay{GATE_CHANNEL}") is False, 10, "the lock relay off")
                # the board was sent a self-releasing pulse of unlock_s, once
                assert notes == [f"relay-1: relay{GATE_CHANNEL} on for {UNLOCK_S:.1f} s"]
                logged = await async_wait_for(
                    lambda: [e for e in gates.store.access_log() if e["gate"] == "north"], 10, "the access log entry"
                )
                [entry] = logged
                assert entry["name"] == "console:chief" and entry["result"] == "granted"
                assert entry["reason"].startswith("remote unlock: delivery van for block 3 (request ")
                # the console's own access log shows the remote opening, by whom
                await page.wait_for_selector("#access tbody tr", timeout=10_000)
                assert "console:chief" in await page.text_content("#access tbody tr")

                # hold the lift door, then release it: the hold output on the relay board follows
                await page.select_option("#lift-select", "lift-1")
                await page.click("#hold-door")
                await page.fill("#ask-text", "moving furniture")
                await page.click("#ask-ok")
                # the lift marks the door held once the board has answered the write: wait for both
                await async_wait_for(
                    lambda: relay.get(f"relay{LIFT_CHANNEL}") is True and lift.door_held, 10, "the lift door held"
                )
                await page.click("#release-door")
                await async_wait_for(
                    lambda: relay.get(f"relay{LIFT_CHANNEL}") is False and not lift.door_held,
                    10,
                    "the lift door released",
                )
            finally:
                await context.close()

            # the audit entry is written when the dispatcher has answered, just after the door moved
            await async_wait_for(lambda: len(gw.history.audit()) == 8, 10, "every attempt in the audit log")
            audit = [(a.user, a.action, a.target, a.result.split(":")[0]) for a in reversed(gw.history.audit())]
            assert audit == [
                ("guard", "open_gate", "north", "refused"),
                ("guard", "hold_door", "lift-1", "refused"),
                ("guard", "release_door", "lift-1", "refused"),
                ("fitter", "open_gate", "north", "refused"),
                ("fitter", "hold_door", "lift-1", "refused"),
                ("chief", "open_gate", "north", "done"),
                ("chief", "hold_door", "lift-1", "done"),
                ("chief", "release_door", "lift-1", "done"),
            ]
            reasons = {a.action: a.reason for a in gw.history.audit() if a.user == "chief"}
            assert reasons == {
                "open_gate": "delivery van for block 3",
                "hold_door": "moving furniture",
                "release_door": None,
            }


async def guard_sees_no_controls(browser, url: str) -> bool:
    """The guard's page shows neither the gate nor the lift controls."""
    context, page = await open_console(browser, url)
    try:
        return await page.locator("#controls-section").is_hidden()
    finally:
        await context.close()
