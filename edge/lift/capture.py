"""``edge lift capture``: on a running gateway, keep the frames around motion while the door is open, for
labelling and for ``edge lift evaluate``, bounded on disk.

The command writes a request file (``<capture dir>/<lift>.request.json``: until when); the lift component
reads it and sets the camera process's ``capture_until``. While that time is not past and the door is
open, the camera process (``Recorder``) keeps ``pre_s`` seconds of frames, and from the first motion
writes them and every frame until ``post_s`` after the motion stopped, as one episode folder
``<capture dir>/<lift>/<start time>/000001.jpg ...`` (a picture folder ``edge lift evaluate`` reads).
Past ``max_mb`` for the lift the oldest episodes are deleted; an episode that alone would pass it stops
being written.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.lift.config import LiftConfig

log = logging.getLogger(__name__)


def lift_folder(config: LiftConfig) -> Path:
    assert config.capture.dir is not None, "the component fills in capture.dir"
    return config.capture.dir / config.id


def request_file(capture_dir: Path, lift_id: str) -> Path:
    return capture_dir / f"{lift_id}.request.json"


def write_request(capture_dir: Path, lift_id: str, until: float) -> Path:
    """Ask the running gateway to capture on ``lift_id`` until ``until`` (wall-clock; 0 stops)."""
    capture_dir.mkdir(parents=True, exist_ok=True)
    path = request_file(capture_dir, lift_id)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"lift": lift_id, "until": until}))
    tmp.replace(path)
    return path


def read_request(capture_dir: Path, lift_id: str) -> float:
    """The requested end of capture (wall-clock), 0 if none or unreadable."""
    try:
        data = json.loads(request_file(capture_dir, lift_id).read_text())
        return float(data["until"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


@dataclass(frozen=True, slots=True)
class CapturedEpisode:
    path: Path
    frames: int
    bytes: int


def episodes(folder: Path) -> list[CapturedEpisode]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = list(path.glob("*.jpg"))
        out.append(CapturedEpisode(path, len(files), sum(f.stat().st_size for f in files)))
    return out


class Recorder:
    """The camera-process side: frames in, episode folders out."""

    def __init__(self, config: LiftConfig, flags: Any) -> None:
        self.config = config
        self.flags = flags
        self.capture = config.capture
        self._pre: deque[tuple[float, np.ndarray]] = deque(maxlen=max(1, round(self.capture.pre_s * config.fps)))
        self._episode: Path | None = None
        self._written = 0
        self._last_motion = 0.0
        self._used: int | None = None  # bytes under the lift's folder
        self._full = False

    def active(self) -> bool:
        return bool(self.flags.door_open.value) and self.flags.capture_until.value > time.time()

    def frame(self, image: np.ndarray, t: float, motion: bool) -> None:
        if self.config.capture.dir is None:
            return
        if not self.active():
            self._end()
            self._pre.clear()
            return
        if motion:
            self._last_motion = t
        if self._episode is None:
            if not motion:
                self._pre.append((t, image))
                return
            self._start()
            for _, old in self._pre:
                self._write(old)
            self._pre.clear()
        self._write(image)
        if not motion and t - self._last_motion > self.capture.post_s + 1e-6:
            self._end()

    def _start(self) -> None:
        folder = lift_folder(self.config)
        folder.mkdir(parents=True, exist_ok=True)
        if self._used is None:
            self._used = sum(e.bytes for e in episodes(folder))
        name = time.strftime("%Y-%m-%dT%H-%M-%S")
        path, n = folder / name, 1
        while path.exists():
            n += 1
            path = folder / f"{name}-{n}"
        path.mkdir()
        self._episode, self._written, self._full = path, 0, False

    def _write(self, image: np.ndarray) -> None:
        assert self._episode is not None and self._used is not None
        if self._full:
            return
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.capture.quality])
        if not ok:
            return
        size = len(buf)
        limit = int(self.capture.max_mb * 1_000_000)
        while self._used + size > limit and self._drop_oldest():
            pass
        if self._used + size > limit:
            log.warning(
                "lift %s capture: the episode %s alone reaches max_mb %g; not writing more of it",
                self.config.id,
                self._episode.name,
                self.capture.max_mb,
            )
            self._full = True
            return
        self._written += 1
        (self._episode / f"{self._written:06d}.jpg").write_bytes(buf.tobytes())
        self._used += size

    def _drop_oldest(self) -> bool:
        for old in episodes(lift_folder(self.config)):
            if old.path != self._episode:
                shutil.rmtree(old.path, ignore_errors=True)
                assert self._used is not None
                self._used -= old.bytes
                log.info(
                    "lift %s capture: deleted %s (%d frames) to stay under max_mb",
                    self.config.id,
                    old.path.name,
                    old.frames,
                )
                return True
        return False

    def _end(self) -> None:
        if self._episode is not None and self._written == 0:
            shutil.rmtree(self._episode, ignore_errors=True)
        self._episode = None

    def close(self) -> None:
        self._end()
