"""The camera process of one facade camera: every frame -> ``FallAnalyzer``; falls -> snapshot and clip.

The process (multiprocessing spawn) reads the camera through ``drivers.camera.CameraSource`` without
dropping frames (a bounded queue: a skipped frame is a missed fall), keeps the last seconds of frames in a
``FrameRing`` for the clip (JPEG-encoded, so the pending clips share the ring's small frames), and sends
small typed messages to the gateway through a pipe: a ``FallFound`` at once (with the snapshot and the
name the clip will have), ``ClipSaved`` once the clip is on disk
(written by a thread, so analysis never waits on the encoder), ``ShakeChanged``, ``CameraStatus`` and
``FrameStats`` once a second. ``stop`` is a lock-free shared byte (see edge/lift/pipeline.py for why).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from drivers.camera import CameraError, CameraSource
from edge.falls.analyzer import Fall, FallAnalyzer
from edge.falls.calibration import Calibration, CalibrationError, load_calibration
from edge.falls.config import FallCameraConfig
from edge.falls.evidence import (
    FrameRing,
    PendingClip,
    SavedClip,
    clip_name,
    enforce_retention,
    snapshot_jpeg,
    write_clip,
)

log = logging.getLogger(__name__)

TRACK_LEAD_S = 2.0  # the ring also keeps the part of a track seen before it was accepted


@dataclass(frozen=True, slots=True)
class WorkerReady:
    calibrated: bool


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    reason: str
    fatal: bool  # a configuration problem (calibration): restarting will not help


@dataclass(frozen=True, slots=True)
class CameraStatus:
    online: bool
    reason: str


@dataclass(frozen=True, slots=True)
class FallFound:
    fall: Fall
    started_at: float  # wall-clock time of the track's first point
    detected_at: float  # wall-clock time of the frame that accepted it
    snapshot: bytes
    clip: str  # file name the clip will have in the clip folder


@dataclass(frozen=True, slots=True)
class ClipSaved:
    clip: SavedClip | None
    name: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ShakeChanged:
    shaking: bool
    at: float  # wall-clock time


@dataclass(frozen=True, slots=True)
class FrameStats:
    frames: int  # analysed since the last stats
    fps: float
    analyse_ms: float  # mean per frame
    night: bool


WorkerMessage = WorkerReady | WorkerFailed | CameraStatus | FallFound | ClipSaved | ShakeChanged | FrameStats
Flag = Any  # a multiprocessing RawValue("b")
Sender = Callable[["WorkerMessage"], None]


class ClipKeeper:
    """Pending clips fed frame by frame; finished ones written (and retention applied) by one thread."""

    def __init__(self, config: FallCameraConfig, folder: Path, fps: float, send: Sender) -> None:
        self.config = config
        self.folder = folder
        self.fps = fps
        self.send = send
        ev = config.evidence
        self.ring = FrameRing(
            ev.before_s + TRACK_LEAD_S, ev.clip_width, quality=ev.ring_quality, max_bytes=ev.max_ring_mb * 2**20
        )
        self.pending: list[PendingClip] = []
        self._jobs: queue.Queue[PendingClip | None] = queue.Queue()
        self._thread = threading.Thread(target=self._writer, name="clip writer", daemon=True)
        self._thread.start()
        self._count = 0

    def add(self, t: float, image: np.ndarray) -> None:
        jpeg = self.ring.add(t, image)
        still = []
        for clip in self.pending:
            clip.frames.append((t, jpeg))
            (self._jobs.put(clip) if t >= clip.until else still.append(clip))
        self.pending = still

    def start(self, fall: Fall, detected_t: float, wall: float) -> str:
        self._count += 1
        name = clip_name(self.config.id, wall, self._count)
        ev = self.config.evidence
        frames = self.ring.since(fall.t_start - ev.before_s)
        self.pending.append(PendingClip(name, fall.t_start, detected_t + ev.after_s, frames))
        return name

    def close(self) -> None:
        for clip in self.pending:  # the camera stopped: keep what there is
            self._jobs.put(clip)
        self.pending = []
        self._jobs.put(None)
        self._thread.join(timeout=30)

    def _writer(self) -> None:
        ev = self.config.evidence
        while (clip := self._jobs.get()) is not None:
            path = self.folder / clip.name
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                size = write_clip(path, clip.frames, self.fps)
                enforce_retention(self.folder, max_bytes=ev.max_total_mb * 2**20, max_age_s=ev.max_age_days * 86400)
                saved = SavedClip(
                    clip.name, path, size, clip.frames[0][0], clip.frames[-1][0], len(clip.frames), clip.fall_t
                )
                self.send(ClipSaved(saved, clip.name))
            except (OSError, ValueError) as exc:
                log.error("clip %s: %s", clip.name, exc)
                self.send(ClipSaved(None, clip.name, error=str(exc)))


def clip_source(frame: np.ndarray, resized: np.ndarray | None, clip_width: int) -> np.ndarray:
    """The smallest frame the clip can be made from: the analysis-size frame when it is at least as wide as
    the clip (1080p to 640 px costs 2.6 ms a frame on this machine: done once, for the analysis), else the
    camera's frame."""
    if resized is not None and resized.ndim == 3 and clip_width <= resized.shape[1]:
        return resized
    return frame


def open_calibration(config: FallCameraConfig) -> Calibration | None:
    return load_calibration(config.calibration) if config.calibration is not None else None


def worker_main(config_json: str, clip_folder: str, conn: Connection, stop: Flag) -> None:
    """Entry point of the camera process: analyse every frame until ``stop`` is set."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = FallCameraConfig.model_validate_json(config_json)
    send_lock = threading.Lock()

    def send(msg: WorkerMessage) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except (BrokenPipeError, OSError):
                stop.value = 1  # the gateway went away

    try:
        calibration = open_calibration(config)
    except CalibrationError as exc:
        send(WorkerFailed(str(exc), fatal=True))
        return
    send(WorkerReady(calibrated=calibration is not None))
    camera = CameraSource(
        config.camera_url,
        max_width=config.decode_width,
        reconnect_max_s=config.reconnect_max_s,
        drop_stale=False,
        queue_size=max(8, int(config.fps * 2)),
        on_status=lambda online, reason: send(CameraStatus(online, reason)),
    )
    try:
        camera.open()
    except CameraError as exc:
        send(WorkerFailed(str(exc), fatal=False))
        return
    keeper = ClipKeeper(config, Path(clip_folder), config.fps, send)
    try:
        _analyse(config, calibration, camera, keeper, send, stop)
    finally:
        camera.close()
        keeper.close()


def _analyse(
    config: FallCameraConfig,
    calibration: Calibration | None,
    camera: CameraSource,
    keeper: ClipKeeper,
    send: Sender,
    stop: Flag,
) -> None:
    analyzer = FallAnalyzer(config, calibration)
    shaking = False
    started = time.monotonic()
    frames, busy, stats_at = 0, 0.0, time.monotonic()
    while not stop.value:
        frame = camera.read(timeout=0.5)
        if frame is None:
            if camera.ended:
                send(WorkerFailed(f"camera {camera.name}: the recording ended", fatal=False))
                return
            continue
        if camera.live:
            t, wall = frame.ts, frame.ts
        else:  # a file: played at the configured rate
            t = frame.index / config.fps
            pause = started + t - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            wall = time.time()
        begin = time.perf_counter()
        result = analyzer.analyze(frame.image, t)
        keeper.add(t, clip_source(frame.image, analyzer.resized, config.evidence.clip_width))
        for fall in result.accepted:
            name = keeper.start(fall, t, wall)
            snapshot = snapshot_jpeg(frame.image, fall, calibration, config.snapshot_quality)
            send(FallFound(fall, wall - (t - fall.t_start), wall, snapshot, name))
        if result.shaking != shaking:
            shaking = result.shaking
            send(ShakeChanged(shaking, wall))
        busy += time.perf_counter() - begin
        frames += 1
        now = time.monotonic()
        if now - stats_at >= 1.0:
            send(FrameStats(frames, frames / (now - stats_at), busy / frames * 1000, result.night))
            frames, busy, stats_at = 0, 0.0, now


class CameraWorker:
    """The camera process of one facade camera, and the two ends of its link with the gateway."""

    def __init__(self, config: FallCameraConfig, clip_folder: Path) -> None:
        self.config = config
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=False)
        self.stop_flag: Flag = ctx.RawValue("b", 0)
        self.process = ctx.Process(
            target=worker_main,
            args=(config.model_dump_json(), str(clip_folder), child, self.stop_flag),
            name=f"fall-camera-{config.id}",
            daemon=True,
        )
        self._child = child

    def start(self) -> None:
        self.process.start()
        self._child.close()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_flag.value = 1
        if self.process.pid is None:
            self.conn.close()
            return
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
        self.conn.close()
