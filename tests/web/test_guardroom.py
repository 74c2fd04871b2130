"""The closed loop over HTTP against a real gateway (uplink down): actions by role through the dispatcher with
the console's own key, the audit log, history search, CSV and the per-day summary, alarm pictures."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import aiohttp

from edge.core.types import AlarmState, Severity
from edge.pipeline.signing import load_private_key, sign_command
from tests.support import async_wait_for
from tests.web.helpers import PASSWORD, PASSWORD_HASH, USER, client, login, running_gateway, web_section


def roles_web(**overrides) -> dict:
    return web_section(
        users=[
            {"name": USER, "password_hash": PASSWORD_HASH, "role": "guard"},
            {"name": "chief", "password_hash": PASSWORD_HASH, "role": "supervisor"},
            {"name": "fitter", "password_hash": PASSWORD_HASH, "role": "installer"},
        ],
        language="zh-CN",
        names={"devices": {"smoke-b3": "3号楼楼梯烟感"}, "areas": {"block 3": "3号楼"}},
        **overrides,
    )


BUSES = [{"id": "bus1", "url": "socket://127.0.0.1:1"}]  # never opened: no bus component runs here
DEVICES = [{"id": "smoke-b3", "bus": "bus1", "profile": "smoke_concentration", "unit_id": 3, "area": "block 3"}]


async def act(http: aiohttp.ClientSession, url: str, csrf: str, **body) -> tuple[int, dict]:
    async with http.post(f"{url}/api/actions", json=body, headers={"X-CSRF-Token": csrf}) as r:
        return r.status, await r.json()


async def test_the_closed_loop_by_role_with_audit_and_history(tmp_path: Path, closed_port: int) -> None:
    async with (
        running_gateway(tmp_path, closed_port, web=roles_web(), buses=BUSES, devices=DEVICES) as gw,
        client() as guard,
        client() as fitter,
    ):
        book = gw.gateway.alarms
        guard_csrf = await login(guard, gw.url)
        fitter_csrf = await login(fitter, gw.url, "fitter", PASSWORD)
        alarm = await book.update(
            "smoke-b3",
            "smoke_concentration",
            active=True,
            severity=Severity.CRITICAL,
            details={"field": "concentration", "value": 684, "threshold": 300},
        )
        async with guard.get(f"{gw.url}/api/state") as r:
            meta = (await r.json())["console"]
        assert meta["role"] == "guard" and "resolve" in meta["actions"] and "reset" not in meta["actions"]
        assert meta["language"] == "zh-CN" and meta["timezone"] == "Asia/Shanghai"

        # refused: a guard may not reset a detector; a note is required; the refusal is audited
        status, answer = await act(guard, gw.url, guard_csrf, action="reset", target="smoke-b3", text="x")
        assert status == 403 and "guard" in answer["error"]
        status, answer = await act(guard, gw.url, guard_csrf, action="handle", alarm_id=alarm.alarm_id, text=" ")
        assert status == 400 and "note" in answer["error"]
        status, _ = await act(guard, gw.url, guard_csrf, action="open_gate", target="north", text="delivery")
        assert status == 403
        async with guard.get(f"{gw.url}/api/audit") as r:
            assert r.status == 403  # supervisors and installers only

        status, answer = await act(guard, gw.url, guard_csrf, action="acknowledge", alarm_id=alarm.alarm_id)
        assert status == 200 and answer["status"] == "done", answer
        assert book.get(alarm.alarm_id).acknowledged_by == f"console:{USER}"
        status, _ = await act(
            guard, gw.url, guard_csrf, action="handle", alarm_id=alarm.alarm_id, text="派小王去3号楼楼梯"
        )
        assert status == 200 and book.get(alarm.alarm_id).state is AlarmState.IN_HANDLING
        await book.update("smoke-b3", "smoke_concentration", active=False)
        assert book.get(alarm.alarm_id) is not None  # in handling: listed until resolved
        status, _ = await act(
            guard, gw.url, guard_csrf, action="resolve", alarm_id=alarm.alarm_id, text="厨房油烟，已通风"
        )
        assert status == 200 and book.get(alarm.alarm_id) is None
        # allowed for the installer; the gateway has no bus here, so the dispatcher answers failed, and says why
        status, answer = await act(
            fitter, gw.url, fitter_csrf, action="reset", target="smoke-b3", alarm_id=alarm.alarm_id, text="探测器已清洁"
        )
        assert status == 409 and answer["status"] == "rejected" and "unknown action 'reset'" in answer["reason"]

        async with fitter.get(f"{gw.url}/api/audit") as r:
            audit = await r.json()
        actions = [(a["user"], a["action"], a["result"].split(":")[0]) for a in reversed(audit)]
        assert actions == [
            ("guard", "reset", "refused"),
            ("guard", "handle", "refused"),
            ("guard", "open_gate", "refused"),
            ("guard", "acknowledge", "done"),
            ("guard", "handle", "done"),
            ("guard", "resolve", "done"),
            ("fitter", "reset", "rejected"),
        ]
        assert audit[0]["reason"] == "探测器已清洁" and audit[0]["role"] == "installer"

        # the history has every step, with who and when, and the alarm in plain Chinese
        async with guard.get(f"{gw.url}/api/alarms/{alarm.alarm_id}/steps") as r:
            steps = (await r.json())["steps"]
        assert [s["step"] for s in steps] == ["raised", "acknowledged", "in_handling", "cleared", "resolved"]
        assert steps[2]["note"] == "派小王去3号楼楼梯" and steps[2]["by"] == f"console:{USER}"
        async with guard.get(f"{gw.url}/api/history", params={"kind": "smoke_concentration"}) as r:
            found = await r.json()
        assert found["count"] == 1
        row = found["alarms"][0]
        assert row["device_name"] == "3号楼楼梯烟感" and row["state"] == "resolved" and row["closed_at"]
        assert row["text"]["zh-CN"] == "烟雾浓度 684 ppm，超过报警值 300 ppm"
        assert row["response_s"] is not None and row["handling_s"] is not None
        async with guard.get(f"{gw.url}/api/history", params={"state": "burning"}) as r:
            assert r.status == 400 and "state must be one of" in (await r.json())["error"]

        async with guard.get(f"{gw.url}/api/history.csv", params={"severity": "critical"}) as r:
            assert r.headers["Content-Type"].startswith("text/csv")
            text = (await r.read()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["alarm_id"] for r in rows] == [alarm.alarm_id] and rows[0]["resolved_note"] == "厨房油烟，已通风"
        assert rows[0]["raised_at"].endswith("+08:00")
        async with guard.get(f"{gw.url}/api/history/summary", params={"days": 1}) as r:
            days = await r.json()
        assert days[0]["alarms"] == 1 and days[0]["resolved"] == 1
        async with guard.get(f"{gw.url}/api/i18n") as r:
            lang = await r.json()
        assert lang["language"] == "zh-CN" and lang["messages"]["Acknowledge"] == "确认"
        assert lang["kinds"]["smoke_concentration"]["label"] == "烟雾浓度超标"


async def test_the_console_key_is_its_own_and_limited_to_the_console_actions(
    tmp_path: Path, closed_port: int, platform_keys
) -> None:
    _, public = platform_keys
    commands = {"platform_public_key": {"file": str(public)}}
    async with running_gateway(tmp_path, closed_port, commands=commands) as gw:
        key_file = gw.gateway.config.data_dir / "console.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert key_file.read_bytes() != platform_keys[0].read_bytes()
        console_key = load_private_key(key_file)
        now = time.time()
        command = sign_command(
            console_key,
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "request_id": "r-1",
                "target": "gw1",
                "action": "enrol_resident",
                "args": {},
                "issued_at": now,
                "expires_at": now + 30,
            },
        )
        from edge.core.types import Incoming

        result = await gw.gateway.dispatcher.handle(Incoming("t", json.dumps(command).encode(), None, None))
        assert result.status.value == "rejected"
        assert result.reason in ("signer 'console' may not send 'enrol_resident'", "unknown action 'enrol_resident'")
        alarm = await gw.gateway.alarms.update("btn-1", "emergency_button", active=True, severity=Severity.CRITICAL)
        command = sign_command(
            console_key,
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "request_id": "r-2",
                "target": "gw1",
                "action": "ack_alarm",
                "args": {"alarm_id": alarm.alarm_id},
                "issued_at": now,
                "expires_at": now + 30,
            },
        )
        result = await gw.gateway.dispatcher.handle(Incoming("t", json.dumps(command).encode(), None, None))
        assert result.status.value == "done"
        assert gw.gateway.alarms.get(alarm.alarm_id).acknowledged_by == "console"


async def test_an_alarm_picture_is_served_full_size(tmp_path: Path, closed_port: int) -> None:
    import cv2
    import numpy as np

    image = np.zeros((720, 1280, 3), np.uint8)
    cv2.putText(image, "e-bike", (100, 360), cv2.FONT_HERSHEY_SIMPLEX, 5, (255, 255, 255), 8)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    async with running_gateway(tmp_path, closed_port) as gw, client() as http:
        await login(http, gw.url)
        alarm = await gw.gateway.alarms.update(
            "lift-2", "ebike_in_lift", active=True, severity=Severity.MAJOR, snapshot=jpeg
        )
        await async_wait_for(lambda: alarm.alarm_id in gw.console.feed.pictures, 10, "the picture")
        async with http.get(f"{gw.url}/api/alarms/{alarm.alarm_id}/snapshot.jpg") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
            got = await r.read()
        assert cv2.imdecode(np.frombuffer(got, np.uint8), cv2.IMREAD_COLOR).shape == (720, 1280, 3)
        async with http.get(f"{gw.url}/api/state") as r:
            row = next(a for a in (await r.json())["alarms"] if a["alarm_id"] == alarm.alarm_id)
        assert row["snapshot"] is True


async def test_remote_actions_need_a_reason_and_go_to_the_dispatcher(tmp_path: Path, closed_port: int) -> None:
    async with running_gateway(tmp_path, closed_port, web=roles_web()) as gw, client() as chief:
        csrf = await login(chief, gw.url, "chief", PASSWORD)
        async with chief.get(f"{gw.url}/api/state") as r:
            assert {"open_gate", "hold_door", "release_door"} <= set((await r.json())["console"]["actions"])
        status, answer = await act(chief, gw.url, csrf, action="open_gate", target="north-gate", text="  ")
        assert status == 400 and answer["error"] == "a reason is required"
        status, answer = await act(chief, gw.url, csrf, action="hold_door", target="lift-2")
        assert status == 400
        # this gateway has no gate: the dispatcher itself answers, as it would the platform
        status, answer = await act(chief, gw.url, csrf, action="open_gate", target="north-gate", text="快递车")
        assert status == 409 and answer["reason"] == "unknown action 'unlock'"
        status, answer = await act(chief, gw.url, csrf, action="fly", target="x", text="y")
        assert status == 404
        async with chief.post(f"{gw.url}/api/actions", data=b"[1]", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 400
        async with chief.post(
            f"{gw.url}/api/actions", json={"action": "note", "extra": 1}, headers={"X-CSRF-Token": csrf}
        ) as r:
            assert r.status == 400
        async with chief.post(f"{gw.url}/api/actions", json={"action": "acknowledge", "alarm_id": "x"}) as r:
            assert r.status == 403  # no CSRF token
        audit = gw.gateway.history.audit()
        opened = next(a for a in audit if a.action == "open_gate" and a.reason == "快递车")
        assert opened.user == "chief" and opened.role == "supervisor" and opened.target == "north-gate"
        assert opened.result.startswith("rejected")


async def test_a_working_camera_shows_no_stale_seen_age(tmp_path: Path, closed_port: int) -> None:
    async with (
        running_gateway(tmp_path, closed_port, web=roles_web(), buses=BUSES, devices=DEVICES) as gw,
        client() as http,
    ):
        await login(http, gw.url)
        from edge.core.types import Reading

        await gw.gateway.devices.set_availability("lift-2", True)  # a camera: availability, no readings
        gw.gateway.devices.get("lift-2").last_seen = time.time() - 300
        gw.gateway.devices.observe(Reading("smoke-b3", "concentration", 12, ts=time.time() - 300))
        async with http.get(f"{gw.url}/api/state") as r:
            devices = {d["id"]: d for area in (await r.json())["devices"] for d in area["devices"]}
        assert devices["lift-2"]["status"] == "online" and devices["lift-2"]["last_seen"] is None
        assert devices["smoke-b3"]["last_seen"] is not None  # a polled device keeps its age
        assert devices["smoke-b3"]["name"] == "3号楼楼梯烟感"
