"""Evidence of a fall: the snapshot with the trajectory drawn, a ring buffer of the last seconds of frames
(kept JPEG-encoded: 640x360 raw is 675 KiB a frame, 30-60 KiB as JPEG at quality 90, for about 0.6 ms of
encoding), and clips (MP4 via OpenCV) from ``before_s`` before the fall to ``after_s`` after it, kept on disk within
a size and age bound (oldest first)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.falls.analyzer import Fall
from edge.falls.calibration import Calibration

log = logging.getLogger(__name__)

CLIP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-\d{8}T\d{6}Z-\d+\.mp4$")
TRACK_COLOUR = (0, 0, 255)
ORIGIN_COLOUR = (0, 255, 255)


def origin_label(fall: Fall) -> str:
    o = fall.origin
    if o.floor is None:
        return "fall (floor unknown: no calibration)"
    lo, hi = o.floor_range or (o.floor, o.floor)
    return f"fall from floor {o.floor} ({lo}-{hi}), column {o.column}"


def draw_falls(
    image: np.ndarray, falls: Sequence[Fall], calibration: Calibration | None = None, *, shaking: bool = False
) -> np.ndarray:
    """A copy of ``image`` with each fall's trajectory, its origin and a label."""
    out = image.copy()
    h, w = out.shape[:2]
    if calibration is not None and falls:
        out = calibration.draw_grid(out, (90, 160, 90))
    for fall in falls:
        pts = np.array([[x * w, y * h] for _, x, y in fall.points], np.int32)
        if len(pts) >= 2:
            cv2.polylines(out, [pts], False, TRACK_COLOUR, 2, cv2.LINE_AA)
        ox, oy = fall.origin.image_xy
        cv2.circle(out, (int(ox * w), int(oy * h)), 8, ORIGIN_COLOUR, 2, cv2.LINE_AA)
        cv2.putText(
            out,
            origin_label(fall),
            (8, 20 + 18 * falls.index(fall)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            ORIGIN_COLOUR,
            1,
            cv2.LINE_AA,
        )
    if shaking:
        cv2.putText(
            out,
            "camera shaking: analysis paused",
            (8, h - 10),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 165, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def snapshot_jpeg(image: np.ndarray, fall: Fall, calibration: Calibration | None, quality: int) -> bytes:
    return encode_frame(draw_falls(image, [fall], calibration), quality)


def fit_clip_width(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] <= width:
        return image
    height = round(image.shape[0] * width / image.shape[1]) // 2 * 2
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def encode_frame(image: np.ndarray, quality: int) -> bytes:
    """A frame as JPEG bytes (the ring and the pending clips keep frames so: about 1/20 of the raw size)."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} frame as JPEG")
    return buf.tobytes()


def decode_frame(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"a frame of the clip ({len(jpeg)} bytes) is not a decodable JPEG")
    return image


class FrameRing:
    """The last ``seconds`` of frames (at clip width, JPEG-encoded), with their times; at most ``max_bytes``
    of them (the oldest go first past it)."""

    def __init__(self, seconds: float, width: int, *, quality: int = 90, max_bytes: float = float("inf")) -> None:
        self.seconds = seconds
        self.width = width
        self.quality = quality
        self.max_bytes = max_bytes
        self.frames: deque[tuple[float, bytes]] = deque()
        self.bytes = 0

    def add(self, t: float, image: np.ndarray) -> bytes:
        """Keep ``image`` (scaled to the clip width and encoded); the encoded frame."""
        jpeg = encode_frame(fit_clip_width(image, self.width), self.quality)
        self.frames.append((t, jpeg))
        self.bytes += len(jpeg)
        while self.frames and (self.frames[0][0] < t - self.seconds or self.bytes > self.max_bytes):
            self.bytes -= len(self.frames.popleft()[1])
        return jpeg

    def since(self, t: float) -> list[tuple[float, bytes]]:
        return [(ft, jpeg) for ft, jpeg in self.frames if ft >= t]


@dataclass(slots=True)
class PendingClip:
    name: str
    fall_t: float  # time of the track's first point
    until: float  # last frame time to include
    frames: list[tuple[float, bytes]]  # JPEG-encoded


@dataclass(frozen=True, slots=True)
class SavedClip:
    name: str
    path: Path
    bytes: int
    first_t: float
    last_t: float
    frames: int
    fall_t: float


def clip_name(camera_id: str, wall: float, n: int) -> str:
    return f"{camera_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(wall))}-{n}.mp4"


_CODECS = ["avc1", "mp4v"]  # H.264 where FFmpeg has an encoder (a Pi's h264_v4l2m2m), else MPEG-4 part 2


def _open_writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    while _CODECS:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*_CODECS[0]), fps, size)
        if writer.isOpened():
            return writer
        writer.release()
        if len(_CODECS) == 1:
            break
        log.info("clips: no %s encoder in this OpenCV build; using %s", _CODECS[0], _CODECS[1])
        _CODECS.pop(0)  # not available here: not tried again
    raise OSError(f"OpenCV cannot write MP4 to {path}")


def write_clip(path: Path, frames: Sequence[tuple[float, bytes]], fps: float) -> int:
    """Write ``frames`` (JPEG-encoded, as the ring keeps them) as MP4 to ``path`` through a temporary name; the
    file's size."""
    if not frames:
        raise ValueError(f"no frames for clip {path.name}")
    first = decode_frame(frames[0][1])
    h, w = first.shape[:2]
    tmp = path.with_suffix(".part.mp4")
    writer = _open_writer(tmp, fps, (w, h))
    try:
        for index, (_, jpeg) in enumerate(frames):
            image = first if index == 0 else decode_frame(jpeg)
            writer.write(image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h)))
    finally:
        writer.release()
    os.replace(tmp, path)
    return path.stat().st_size


def enforce_retention(folder: Path, *, max_bytes: float, max_age_s: float, now: float | None = None) -> list[Path]:
    """Delete clips older than ``max_age_s``, then the oldest until the folder holds at most ``max_bytes``."""
    now = time.time() if now is None else now
    clips = sorted((p for p in folder.glob("*.mp4") if CLIP_NAME.match(p.name)), key=lambda p: p.stat().st_mtime)
    removed = []
    total = sum(p.stat().st_size for p in clips)
    for clip in clips:
        stat = clip.stat()
        if now - stat.st_mtime > max_age_s or total > max_bytes:
            clip.unlink(missing_ok=True)
            total -= stat.st_size
            removed.append(clip)
    return removed
