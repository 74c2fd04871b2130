"""The console in a real browser (Debian's chromium, headless, driven by playwright): live alarm and acknowledge."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.core.types import AlarmState, Severity
from tests.support import Subscriber, async_wait_for
from tests.web.helpers import PASSWORD, USER, running_gateway

pytestmark = pytest.mark.browser


async def test_a_new_alarm_appears_without_reload_and_acknowledging_reaches_the_gateway(
    tmp_path: Path, mosquitto, browser
) -> None:
    async with running_gateway(tmp_path, mosquitto.port) as gw:
        events = Subscriber(mosquitto.host, mosquitto.port, [f"{gw.base_topic}/events/#"]).start()
        page = await browser.new_page()
        try:
            await page.goto(gw.url + "/")
            assert page.url.endswith("/login")
            await page.fill("#username", USER)
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_selector("#link.up", timeout=10_000)
            assert await page.text_content("#user") == USER
            assert await page.is_visible("#no-alarms")
            await page.evaluate("window.sameDocument = true")

            bin_alarm = await gw.gateway.alarms.update("bin-7", "bin_full", active=True, severity=Severity.WARNING)
            bin_row = f'tr[data-alarm-id="{bin_alarm.alarm_id}"]'
            await page.wait_for_selector(bin_row, timeout=10_000)
            assert "flash" not in (await page.get_attribute(bin_row, "class"))  # only critical alarms flash
            assert not await page.is_visible("#banner")

            alarm = await gw.gateway.alarms.update(
                "smoke-b3-1", "smoke", active=True, severity=Severity.CRITICAL, details={"obscuration": 4.2}
            )
            row = f'tr[data-alarm-id="{alarm.alarm_id}"]'
            await page.wait_for_selector(row, timeout=10_000)
            assert await page.evaluate("window.sameDocument") is True, "the page reloaded"
            assert "flash" in (await page.get_attribute(row, "class"))
            assert await page.is_visible("#banner")
            assert "smoke" in await page.text_content("#banner")
            assert await page.text_content(f"{row} .state") == "raised"

            await page.click(f"{row} button.ack")
            await async_wait_for(
                lambda: gw.gateway.alarms.get(alarm.alarm_id).state is AlarmState.ACKNOWLEDGED,
                10,
                "the alarm book to record the acknowledgement",
            )
            assert gw.gateway.alarms.get(alarm.alarm_id).acknowledged_by == f"console:{USER}"
            # (the console's CSP forbids eval, so no wait_for_function with a string here)
            await page.wait_for_selector(f"{row}.st-acknowledged", timeout=10_000)
            assert await page.text_content(f"{row} .state") == "acknowledged"
            assert await page.locator(f"{row} button.ack").count() == 0

            def acknowledged_on_the_broker() -> bool:
                return any(
                    m.json().get("alarm_id") == alarm.alarm_id and m.json().get("state") == "acknowledged"
                    for m in events.snapshot()
                )

            await async_wait_for(acknowledged_on_the_broker, 15, "the acknowledged event on the broker")
        finally:
            await page.close()
            events.stop()
