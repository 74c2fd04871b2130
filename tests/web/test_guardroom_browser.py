"""The guard room in headless Chromium: the closed loop through the gateway, history and its filters, escalation
after a missed target, zh-CN with a real CJK font, phone and wall layouts, alerts after a reload, roles.

Set EDGE_SCREENSHOTS=DIR to keep the screenshots of the main views (docs/web-console.md shows them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from edge.core.types import AlarmState, Severity
from tests.support import Subscriber, async_wait_for
from tests.web.helpers import PASSWORD, PASSWORD_HASH, USER, running_gateway, web_section

pytestmark = pytest.mark.browser

BUSES = [{"id": "bus1", "url": "socket://127.0.0.1:1"}]  # never opened: no bus component runs in these tests
DEVICES = [
    {"id": "smoke-b3", "bus": "bus1", "profile": "smoke_concentration", "unit_id": 3, "area": "block 3"},
    {"id": "bin-a", "bus": "bus1", "profile": "urm13_bin", "unit_id": 4, "area": "bin yard"},
]
NAMES = {
    "devices": {"smoke-b3": "3号楼楼梯烟感", "bin-a": "垃圾站1号桶"},
    "areas": {"block 3": "3号楼", "bin yard": "垃圾站"},
}
SMOKE = {"field": "concentration", "value": 684, "threshold": 300}


def console_web(language: str = "zh-CN", **overrides: Any) -> dict[str, Any]:
    return web_section(
        users=[
            {"name": USER, "password_hash": PASSWORD_HASH, "role": "guard"},
            {"name": "fitter", "password_hash": PASSWORD_HASH, "role": "installer"},
        ],
        language=language,
        names=NAMES,
        **overrides,
    )


def shots() -> Path | None:
    folder = os.environ.get("EDGE_SCREENSHOTS")
    return Path(folder) if folder else None


async def open_console(
    browser, url: str, *, width: int = 1280, height: int = 900, user: str = USER, locale: str = "en-US"
):
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.fill("#username", user)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("body[data-ready='1'] #link.up", timeout=15_000)
    return context, page


def require_cjk_font() -> None:
    try:
        fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=10).stdout
    except FileNotFoundError:
        fonts = ""
    if not fonts.strip():
        pytest.fail("no Chinese font installed: `make system-deps` installs fonts-wqy-microhei (APT_PACKAGES)")


async def test_the_closed_loop_end_to_end_in_chinese_on_a_phone(tmp_path: Path, mosquitto, browser) -> None:
    require_cjk_font()
    sections = {"buses": BUSES, "devices": DEVICES}
    async with running_gateway(tmp_path, mosquitto.port, web=console_web("zh-CN"), **sections) as gw:
        events = Subscriber(mosquitto.host, mosquitto.port, [f"{gw.base_topic}/events/#"]).start()
        context, page = await open_console(browser, gw.url, width=390, height=844)
        try:
            book = gw.gateway.alarms
            alarm = await book.update(
                "smoke-b3", "smoke_concentration", active=True, severity=Severity.CRITICAL, details=SMOKE
            )
            row = f'#alarms tr[data-alarm-id="{alarm.alarm_id}"]'
            await page.wait_for_selector(row, timeout=10_000)
            text = await page.text_content(row)
            assert "烟雾浓度超标" in text and "3号楼楼梯烟感" in text and "3号楼" in text
            assert "烟雾浓度 684 ppm，超过报警值 300 ppm" in text
            assert "拨打119" in text  # the instruction
            assert "smoke_concentration" not in text and "smoke-b3" not in text
            assert await page.text_content("h2") == "当前报警 1"
            assert await page.title() == "(1) 监控室"
            # 390 px: no sideways scrolling, and every action button is on screen
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            for button in ("button.ack", "button.handle", "button.resolve"):
                box = await page.locator(f"{row} {button}").bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, button
            if shots():
                await page.screenshot(path=str(shots() / "console-phone-zh-CN.png"), full_page=False)

            await page.click(f"{row} button.ack")
            await page.wait_for_selector(f"{row}.st-acknowledged", timeout=10_000)
            assert await page.title() == "监控室"  # nothing unacknowledged any more
            await page.click(f"{row} button.handle")
            await page.fill("#ask-text", "派小王去3号楼楼梯间")
            await page.click("#ask-ok")
            await page.wait_for_selector(f"{row}.st-in_handling", timeout=10_000)
            assert book.get(alarm.alarm_id).handling_note == "派小王去3号楼楼梯间"
            await book.update("smoke-b3", "smoke_concentration", active=False)
            await page.wait_for_selector(f"{row}.cleared", timeout=10_000)  # still listed: in handling
            await page.click(f"{row} button.resolve")
            await page.click("#ask-ok")  # an empty note is refused, with the reason in the dialog
            await page.wait_for_selector("#ask-error:not([hidden])", timeout=10_000)
            assert "note" in await page.text_content("#ask-error")
            await page.fill("#ask-text", "厨房油烟，已开窗通风")
            await page.click("#ask-ok")
            await page.wait_for_selector(row, state="detached", timeout=10_000)
            assert book.get(alarm.alarm_id) is None

            # every step reached the platform as an event, and the history shows the closed alarm
            def steps_on_the_broker() -> list[str]:
                return [m.json().get("state") for m in events.snapshot() if m.json().get("alarm_id") == alarm.alarm_id]

            await async_wait_for(lambda: "resolved" in steps_on_the_broker(), 15, "the resolved event")
            assert steps_on_the_broker() == ["raised", "acknowledged", "in_handling", "cleared", "resolved"]
            history_row = f'#history tr[data-alarm-id="{alarm.alarm_id}"]'
            await page.wait_for_selector(history_row, timeout=10_000)
            assert await page.text_content(f"{history_row} .state") == "已关闭"
            await page.click(history_row)
            await page.wait_for_selector("#steps li[data-step='resolved']", timeout=10_000)
            steps = await page.text_content("#steps")
            assert "派小王去3号楼楼梯间" in steps and "厨房油烟" in steps and "处理中" in steps
        finally:
            await context.close()
            events.stop()


async def test_history_filters_and_csv_export(tmp_path: Path, closed_port: int, browser) -> None:
    sections = {"buses": BUSES, "devices": DEVICES}
    async with running_gateway(tmp_path, closed_port, web=console_web("en"), **sections) as gw:
        book = gw.gateway.alarms
        smoke = await book.update(
            "smoke-b3", "smoke_concentration", active=True, severity=Severity.CRITICAL, details=SMOKE
        )
        await book.acknowledge(smoke.alarm_id, by="console:guard")
        await book.update("smoke-b3", "smoke_concentration", active=False)
        full = await book.update(
            "bin-a",
            "bin_full",
            active=True,
            severity=Severity.WARNING,
            details={"field": "fill_pct", "value": 96, "threshold": 90},
        )
        context, page = await open_console(browser, gw.url)
        try:
            await page.wait_for_selector(f'#history tr[data-alarm-id="{full.alarm_id}"]', timeout=10_000)
            assert await page.locator("#history tbody tr").count() == 2
            await page.select_option("#history-filters select[name=severity]", "critical")
            await page.click("#history-filters button[type=submit]")
            await page.wait_for_selector(f'#history tr[data-alarm-id="{full.alarm_id}"]', state="detached")
            assert await page.locator("#history tbody tr").count() == 1
            assert await page.text_content("#history-count") == "1"
            assert "Smoke concentration high" in await page.text_content("#history tbody")
            await page.select_option("#history-filters select[name=severity]", "")
            await page.select_option("#history-filters select[name=area]", "bin yard")
            await page.click("#history-filters button[type=submit]")
            await page.wait_for_selector(f'#history tr[data-alarm-id="{smoke.alarm_id}"]', state="detached")
            assert "bin fill 96%, alarm above 90%" in await page.text_content("#history tbody")
            await page.select_option("#history-filters select[name=area]", "")
            await page.select_option("#history-filters select[name=state]", "closed")
            await page.click("#history-filters button[type=submit]")
            await page.wait_for_selector(f'#history tr[data-alarm-id="{full.alarm_id}"]', state="detached")
            href = await page.get_attribute("#export-csv", "href")
            assert href.endswith("state=closed")
            async with page.expect_download() as download_info:
                await page.click("#export-csv")
            download = await download_info.value
            text = (await asyncio.to_thread(Path(await download.path()).read_bytes)).decode("utf-8-sig")
            assert smoke.alarm_id in text and full.alarm_id not in text
            if shots():
                await page.set_viewport_size({"width": 1280, "height": 1000})
                await page.locator("#history-section").screenshot(path=str(shots() / "console-history-en.png"))
        finally:
            await context.close()


async def test_a_missed_response_target_escalates_and_alerts_again(tmp_path: Path, mosquitto, browser) -> None:
    alarms = {"response_target_s": {"critical": 2}}
    async with running_gateway(tmp_path, mosquitto.port, web=console_web("en"), alarms=alarms) as gw:
        events = Subscriber(mosquitto.host, mosquitto.port, [f"{gw.base_topic}/events/#"]).start()
        context, page = await open_console(browser, gw.url)
        try:
            alarm = await gw.gateway.alarms.update("btn-1", "emergency_button", active=True, severity=Severity.CRITICAL)
            row = f'#alarms tr[data-alarm-id="{alarm.alarm_id}"]'
            await page.wait_for_selector(row, timeout=10_000)
            alerts_before = int(await page.get_attribute("body", "data-alerts") or 0)
            assert "respond within" in await page.text_content(f"{row} .deadline")  # the target counts down
            await page.wait_for_selector(f"{row}.escalated", timeout=15_000)
            assert "response time missed" in await page.text_content(row)
            await page.wait_for_selector(f"{row} .deadline.missed", timeout=5_000)
            assert int(await page.get_attribute("body", "data-alerts")) > alerts_before

            def escalated() -> list[dict]:
                return [m.json() for m in events.snapshot() if m.json().get("kind") == "alarm.escalated"]

            await async_wait_for(escalated, 15, "alarm.escalated on the broker")
            event = escalated()[0]
            assert event["alarm_id"] == alarm.alarm_id and event["details"]["target_s"] == 2
            assert event["state"] is None
        finally:
            await context.close()
            events.stop()


async def test_alerts_repeat_until_acknowledged_and_return_after_a_reload(
    tmp_path: Path, closed_port: int, browser
) -> None:
    alerts = {
        "critical": {"sound": True, "flash": True, "repeat_s": 1},
        "major": {"sound": True, "flash": True, "repeat_s": 1},
        "warning": {"sound": False, "flash": False},
        "info": {"sound": False, "flash": False},
    }
    async with running_gateway(tmp_path, closed_port, web=console_web("en", alerts=alerts)) as gw:
        forced = await gw.gateway.alarms.update("gate-n", "door.forced", active=True, severity=Severity.MAJOR)
        # a major alarm that clears before anyone looked: still listed, still alerting
        await gw.gateway.alarms.update("gate-n", "door.forced", active=False)
        context, page = await open_console(browser, gw.url)
        try:
            row = f'#alarms tr[data-alarm-id="{forced.alarm_id}"]'
            await page.wait_for_selector(f"{row}.cleared.flash", timeout=10_000)
            assert await page.title() == "(1) Guard room"
            assert "Gate forced open" in await page.text_content("#banner")
            first = int(await page.get_attribute("body", "data-alerts"))
            assert first >= 1  # open alarms alert when the page loads

            async def alerts() -> int:
                return int(await page.get_attribute("body", "data-alerts"))

            deadline_alerts = first + 2
            for _ in range(100):
                if await alerts() >= deadline_alerts:
                    break
                await page.wait_for_timeout(100)
            assert await alerts() >= deadline_alerts, "the alert did not repeat"

            await page.click("#sound")  # sound on: it beeps with every repeat
            assert await page.get_attribute("#sound", "aria-pressed") == "true"
            beeps = int(await page.get_attribute("body", "data-beeps") or 0)
            for _ in range(50):
                if int(await page.get_attribute("body", "data-beeps") or 0) >= beeps + 2:
                    break
                await page.wait_for_timeout(100)
            assert int(await page.get_attribute("body", "data-beeps") or 0) >= beeps + 2, "no repeated beep"

            await page.reload()
            await page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            # sound stays chosen; the browser wants a click on the page before it plays again
            assert await page.get_attribute("#sound", "aria-pressed") == "true"
            assert await page.text_content("#sound") == "Sound on: click to arm"
            await page.click("h2")
            await page.wait_for_selector("#sound.armed", timeout=5_000)
            await page.wait_for_selector(f"{row}.flash", timeout=10_000)
            assert int(await page.get_attribute("body", "data-alerts")) >= 1  # after the reload too
            assert await page.title() == "(1) Guard room"

            await page.click(f"{row} button.ack")
            await page.wait_for_selector(row, state="detached", timeout=10_000)  # cleared + acknowledged: closed
            assert await page.title() == "Guard room"
            settled = await alerts()
            await page.wait_for_timeout(2500)
            assert await alerts() == settled, "alerts went on after the acknowledgement"
            assert gw.gateway.alarms.listed() == []
        finally:
            await context.close()


async def test_roles_decide_the_buttons_and_the_server_refuses_the_rest(
    tmp_path: Path, closed_port: int, browser
) -> None:
    async with running_gateway(tmp_path, closed_port, web=console_web("en")) as gw:
        alarm = await gw.gateway.alarms.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
        row = f'#alarms tr[data-alarm-id="{alarm.alarm_id}"]'
        guard_ctx, guard = await open_console(browser, gw.url)
        fitter_ctx, fitter = await open_console(browser, gw.url, user="fitter")
        try:
            await guard.wait_for_selector(row)
            await fitter.wait_for_selector(row)
            assert await guard.locator(f"{row} button.reset").count() == 0
            assert await guard.locator(f"{row} button.resolve").count() == 1
            assert await fitter.locator(f"{row} button.reset").count() == 1
            assert await fitter.locator(f"{row} button.resolve").count() == 0
            assert await guard.text_content("#role") == "guard"
            # the page hides what the role may not do; the server refuses it anyway
            csrf = await guard.evaluate("state.csrf")
            answer = await guard.request.post(
                gw.url + "/api/actions",
                headers={"X-CSRF-Token": csrf, "Origin": gw.url},
                data={"action": "reset", "target": "smoke-b3", "text": "test"},
            )
            assert answer.status == 403
            await fitter.click(f"{row} button.reset")
            await fitter.fill("#ask-text", "smoke chamber cleaned")
            await fitter.click("#ask-ok")
            # no bus in this gateway: the dispatcher answers that nothing handles 'reset', shown in the dialog
            await fitter.wait_for_selector("#ask-error:not([hidden])", timeout=10_000)
            assert "reset" in await fitter.text_content("#ask-error")
            audit = gw.gateway.history.audit()
            assert [(a.user, a.action, a.result.split(":")[0]) for a in audit[:2]] == [
                ("fitter", "reset", "rejected"),
                ("guard", "reset", "refused"),
            ]
            assert gw.gateway.alarms.get(alarm.alarm_id).state is AlarmState.RAISED
        finally:
            await guard_ctx.close()
            await fitter_ctx.close()


async def test_the_wall_screen_shows_alarms_beside_the_plan(tmp_path: Path, closed_port: int, browser) -> None:
    import cv2
    import numpy as np

    plan = tmp_path / "plan.png"
    image = np.full((600, 900, 3), (60, 52, 40), np.uint8)
    for x, y, w, h in ((80, 80, 220, 160), (380, 80, 220, 160), (80, 340, 220, 160), (620, 300, 200, 220)):
        cv2.rectangle(image, (x, y), (x + w, y + h), (120, 110, 95), -1)
    cv2.imwrite(str(plan), image)
    positions = {"smoke-b3": [0.2, 0.25], "bin-a": [0.8, 0.7]}
    web = console_web("zh-CN", plan={"image": str(plan), "positions": positions})
    sections = {"buses": BUSES, "devices": DEVICES}
    async with running_gateway(tmp_path, closed_port, web=web, **sections) as gw:
        alarm = await gw.gateway.alarms.update(
            "smoke-b3", "smoke_concentration", active=True, severity=Severity.CRITICAL, details=SMOKE
        )
        await gw.gateway.alarms.update(
            "bin-a",
            "bin_full",
            active=True,
            severity=Severity.WARNING,
            details={"field": "fill_pct", "value": 96, "threshold": 90},
        )
        context, page = await open_console(browser, gw.url, width=1920, height=1080, locale="zh-CN")
        try:
            await page.wait_for_selector(f'#alarms tr[data-alarm-id="{alarm.alarm_id}"]')
            await page.wait_for_selector('#plan .pin.sev-critical[data-device="smoke-b3"]', timeout=10_000)
            assert await page.locator('#plan .pin.sev-warning[data-device="bin-a"]').count() == 1
            alarms_box = await page.locator("#alarms-section").bounding_box()
            plan_box = await page.locator("#plan-section").bounding_box()
            assert plan_box["x"] >= alarms_box["x"] + alarms_box["width"] - 1  # side by side
            assert await page.evaluate("document.documentElement.scrollWidth") <= 1920
            loaded = await page.evaluate("document.getElementById('plan-image').naturalWidth")
            assert loaded == 900
            if shots():
                await page.screenshot(path=str(shots() / "console-wall-zh-CN.png"))
            await gw.gateway.alarms.acknowledge(alarm.alarm_id, by="console:guard")
            await page.wait_for_selector('#plan .pin.sev-critical[data-device="smoke-b3"]:not(.blink)')
        finally:
            await context.close()


async def test_the_console_follows_the_browser_language_in_auto(tmp_path: Path, closed_port: int, browser) -> None:
    async with running_gateway(tmp_path, closed_port, web=console_web("auto")) as gw:
        await gw.gateway.alarms.update("smoke-b3", "smoke", active=True, severity=Severity.CRITICAL)
        zh_ctx, zh = await open_console(browser, gw.url, locale="zh-CN")
        en_ctx, en = await open_console(browser, gw.url, locale="en-US")
        try:
            await zh.wait_for_selector("#alarms tbody tr")
            await en.wait_for_selector("#alarms tbody tr")
            assert "烟雾报警" in await zh.text_content("#alarms tbody")
            assert await zh.get_attribute("html", "lang") == "zh-CN"
            assert "Smoke alarm" in await en.text_content("#alarms tbody")
            assert "Severity" in await en.text_content("#alarms thead")
            assert "级别" in await zh.text_content("#alarms thead")
            # 24-hour clock: no AM/PM in either language
            for page in (zh, en):
                clock = await page.text_content("#clock")
                assert len(clock) == 8 and clock[2] == ":" and "M" not in clock
            if shots():
                await en.screenshot(path=str(shots() / "console-en.png"))
                await zh.screenshot(path=str(shots() / "console-zh-CN.png"))
        finally:
            await zh_ctx.close()
            await en_ctx.close()
