"""The console serves a fall's clip: the MP4 file (evidence) and an MJPEG replay any browser plays."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edge.falls.evidence import clip_name, encode_frame, write_clip
from tests.support import free_port
from tests.web.helpers import client, login, running_gateway

pytestmark = pytest.mark.vision


async def test_a_clip_is_served_and_played_after_login(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "falls" / "facade-1"
    folder.mkdir(parents=True)
    name = clip_name("facade-1", time.time(), 1)
    frames = [(i / 25, encode_frame(np.full((180, 320, 3), i * 8 % 255, np.uint8), 90)) for i in range(20)]
    size = write_clip(folder / name, frames, 25.0)
    falls = [{"id": "facade-1", "camera_url": "rtsp://127.0.0.1:9/x"}]
    async with running_gateway(tmp_path, free_port(), falls=falls) as gw, client() as http:
        async with http.get(f"{gw.url}/api/falls/clips/{name}", allow_redirects=False) as r:
            assert r.status in (302, 401)  # a session is needed
        await login(http, gw.url)
        async with http.get(f"{gw.url}/api/falls/clips/{name}") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
            assert len(await r.read()) == size
        async with http.get(f"{gw.url}/api/falls/clips/{name}", headers={"Range": "bytes=0-99"}) as r:
            assert r.status == 206 and len(await r.read()) == 100  # seeking in a <video> works
        async with http.get(f"{gw.url}/api/falls/clips/{name}/play") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            body = await r.read()
        assert body.count(b"Content-Type: image/jpeg") == 20
        for bad in ("..%2F..%2Fetc%2Fpasswd", "facade-1-20260101T000000Z-9.mp4", "x.mp4"):
            async with http.get(f"{gw.url}/api/falls/clips/{bad}") as r:
                assert r.status == 404, bad
        async with http.get(f"{gw.url}/static/app.js") as r:
            assert "/api/falls/clips/" in await r.text()
