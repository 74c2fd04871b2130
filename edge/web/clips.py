"""Fall clips in the console: ``GET /api/falls/clips/{name}`` the MP4 file itself (evidence, with range
requests), ``GET /api/falls/clips/{name}/play`` the same clip as an MJPEG stream at its own rate, which
every browser shows in an ``<img>`` whatever codec the MP4 has (OpenCV builds without an H.264 encoder
write MPEG-4 part 2, which browsers do not play). Clips are looked up in the clip folder of each
configured fall camera; names are checked against the clip pattern, so no path can escape those folders.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from aiohttp import web

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-\d{8}T\d{6}Z-\d+\.mp4$")
BOUNDARY = "ce-clip-frame"


def clip_path(request: web.Request, config: Any, data_dir: Path) -> Path:
    name = request.match_info["name"]
    if not NAME.match(name):
        raise web.HTTPNotFound(text="not a clip name")
    for camera in getattr(config, "falls", []):
        path: Path = camera.evidence.folder(data_dir, camera.id) / name
        if path.is_file():
            return path
    raise web.HTTPNotFound(text="no such clip (it may not be written yet, or retention removed it)")


def _frames(path: Path) -> tuple[float, list[bytes]]:
    import cv2  # only when a clip is played: a gateway without cameras never loads OpenCV

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out = []
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            out.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    finally:
        cap.release()
    return fps, out


async def play(request: web.Request, path: Path) -> web.StreamResponse:
    fps, frames = await asyncio.to_thread(_frames, path)
    if not frames:
        raise web.HTTPNotFound(text="the clip has no readable frames")
    response = web.StreamResponse(
        headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    for jpeg in frames:
        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
        await response.write(head + jpeg + b"\r\n")
        await asyncio.sleep(1.0 / fps)
    return response
