"""Alarm pictures on disk: bounded by count and bytes, served with no-store, kept over a restart of the gateway
while the alarm is in the history (edge/web/pictures.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.core.types import Severity
from edge.web.pictures import AlarmPictures
from tests.support import async_wait_for
from tests.web.helpers import client, login, running_gateway, web_section
from tests.web.test_guardroom_browser import open_console


def jpeg(text: str, size: tuple[int, int] = (720, 1280)) -> bytes:
    image = np.zeros((*size, 3), np.uint8)
    cv2.putText(image, text, (100, size[0] // 2), cv2.FONT_HERSHEY_SIMPLEX, 5, (255, 255, 255), 8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_the_oldest_pictures_go_first_past_the_count_or_the_bytes(tmp_path: Path) -> None:
    pictures = AlarmPictures(tmp_path / "pics", max_count=3, max_bytes=10_000)
    for n in range(5):
        assert pictures.put(f"a{n}", bytes([n]) * 1000)
    assert pictures.ids() == ["a2", "a3", "a4"]  # the count bound
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["a2.jpg", "a3.jpg", "a4.jpg"]
    assert pictures.put("big", b"x" * 8500)  # the bytes bound: 3 x 1000 + 8500 > 10,000
    assert pictures.ids() == ["a4", "big"] and pictures.total_bytes == 9500
    assert not (tmp_path / "pics" / "a3.jpg").exists()
    assert pictures.get("a4") == bytes([4]) * 1000 and pictures.get("a0") is None
    # refused: a picture larger than the whole budget, an id that is not a plain file name
    assert not pictures.put("huge", b"x" * 10_001)
    assert not pictures.put("../escape", b"x")
    assert not pictures.put("", b"x")
    assert pictures.ids() == ["a4", "big"] and not (tmp_path / "escape.jpg").exists()


def test_the_folder_is_read_back_without_leftovers_and_within_its_bounds(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    first = AlarmPictures(folder, max_count=10, max_bytes=100_000)
    for n in range(4):
        first.put(f"a{n}", b"j" * 100)
    (folder / "a9.tmp").write_bytes(b"half")  # a write the power cut interrupted
    (folder / "README.txt").write_text("not a picture")
    again = AlarmPictures(folder, max_count=2, max_bytes=100_000, keep=lambda alarm_id: alarm_id != "a3")
    assert again.ids() == ["a1", "a2"]  # a3 is gone from the history; a0 is past the (smaller) count
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", "a1.jpg", "a2.jpg"]
    with pytest.raises(ValueError, match="max_count and max_bytes must be at least 1"):
        AlarmPictures(folder, max_count=0, max_bytes=1)


@pytest.mark.browser
async def test_a_picture_survives_a_restart_while_its_alarm_is_in_the_history(
    tmp_path: Path, closed_port: int, browser
) -> None:
    lift_picture, gate_picture = jpeg("e-bike"), jpeg("forced")
    web = web_section(alarm_pictures={"max_count": 2, "max_bytes": 1_000_000})
    async with running_gateway(tmp_path, closed_port, web=web) as gw, client() as http:
        await login(http, gw.url)
        book = gw.gateway.alarms
        old = await book.update("lift-1", "ebike_in_lift", active=True, severity=Severity.MAJOR, snapshot=jpeg("old"))
        lift = await book.update("lift-2", "ebike_in_lift", active=True, severity=Severity.MAJOR, snapshot=lift_picture)
        gate = await book.update("gate-n", "door.forced", active=True, severity=Severity.MAJOR, snapshot=gate_picture)
        pictures = gw.console.feed.pictures
        await async_wait_for(lambda: gate.alarm_id in pictures, 10, "the gate's picture")
        assert pictures.ids() == [lift.alarm_id, gate.alarm_id]  # max_count 2: the oldest went
        folder = gw.gateway.config.data_dir / "alarm-pictures"
        assert sorted(p.name for p in folder.iterdir()) == sorted([f"{lift.alarm_id}.jpg", f"{gate.alarm_id}.jpg"])
        async with http.get(f"{gw.url}/api/alarms/{old.alarm_id}/snapshot.jpg") as r:
            assert r.status == 404
        (folder / "0123456789abcdef.jpg").write_bytes(gate_picture)  # an alarm the history does not have
    async with running_gateway(tmp_path, closed_port, web=web) as gw, client() as http:
        await login(http, gw.url)
        assert gw.gateway.alarms.listed() == []  # the alarm book starts empty; the history remembers
        for alarm, picture in ((lift, lift_picture), (gate, gate_picture)):
            async with http.get(f"{gw.url}/api/alarms/{alarm.alarm_id}/snapshot.jpg") as r:
                assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
                assert r.headers["Cache-Control"] == "no-store"
                assert await r.read() == picture
        async with http.get(f"{gw.url}/api/history", params={"kind": "ebike_in_lift"}) as r:
            rows = {row["alarm_id"]: row["snapshot"] for row in (await r.json())["alarms"]}
        assert rows == {lift.alarm_id: True, old.alarm_id: False}
        assert not (gw.gateway.config.data_dir / "alarm-pictures" / "0123456789abcdef.jpg").exists()
        # in the browser: the history row has the thumbnail, and the viewer shows the picture full size
        context, page = await open_console(browser, gw.url)
        try:
            thumb = f'#history tr[data-alarm-id="{lift.alarm_id}"] button.thumb'
            await page.wait_for_selector(thumb, timeout=10_000)
            assert await page.locator(f'#history tr[data-alarm-id="{old.alarm_id}"] button.thumb').count() == 0
            await page.click(thumb)
            await page.wait_for_function("document.getElementById('viewer-image').naturalWidth > 0")
            assert await page.evaluate("document.getElementById('viewer-image').naturalWidth") == 1280
        finally:
            await context.close()
