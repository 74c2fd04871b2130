"""Falling-object components: one per facade camera.

Each ``FallCamera`` runs its camera process (``edge.falls.worker.CameraWorker``) and turns its messages
into what the platform and the console see:

- the alarm ``fall_detected`` (device = camera id), raised at once with the snapshot (trajectory drawn),
  the trajectory, the estimated origin (floor and column with their ranges, or none without a
  calibration), the score and the clip's reference; it clears ``clear_after_s`` later, or when the next
  fall on that camera is raised (each fall is its own alarm);
- the fact ``fall.clip_saved`` {alarm_id, clip, bytes, frames, duration_s} once the clip is on disk
  (``fall.clip_failed`` {alarm_id, clip, reason} if it could not be written);
- the facts ``fall.analysis_paused`` {reason: camera_shaking} and ``fall.analysis_resumed`` {paused_s};
- the camera id's availability (offline with the reason while the camera is unreachable or the
  calibration is unusable) and the metric ``edge_camera_fps{camera=<id>}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edge.core.kinds import FALL_DETECTED
from edge.core.pipes import drain_pipe
from edge.core.runtime import Component, Context
from edge.core.types import Event, Severity
from edge.falls.calibration import CalibrationError, load_calibration
from edge.falls.config import FallCameraConfig
from edge.falls.worker import (
    CameraStatus,
    CameraWorker,
    ClipSaved,
    FallFound,
    FrameStats,
    ShakeChanged,
    WorkerFailed,
    WorkerMessage,
    WorkerReady,
)

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)

ALARM_KIND = FALL_DETECTED
CLIP_ROUTE = "/api/falls/clips/"


def fall_details(msg: FallFound, config: FallCameraConfig) -> dict[str, object]:
    """The details of a ``fall_detected`` alarm (docs/schemas/v1/fall-detected.json)."""
    fall = msg.fall
    return {
        "camera": config.id,
        "started_at": round(msg.started_at, 3),
        "detected_at": round(msg.detected_at, 3),
        "origin": fall.origin.to_dict(),
        "trajectory": [[round(t - fall.t_start, 3), round(x, 4), round(y, 4)] for t, x, y in fall.points],
        "score": fall.verdict.score,
        "acceleration": round(fall.verdict.acceleration, 3),
        "drop": round(fall.verdict.drop, 3),
        "unit": fall.unit,
        "clip": {
            "name": msg.clip,
            "url": CLIP_ROUTE + msg.clip,
            "before_s": config.evidence.before_s,
            "after_s": config.evidence.after_s,
        },
    }


class FallCamera:
    def __init__(
        self, config: FallCameraConfig, clip_folder: Path, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clip_folder = clip_folder
        self.name = f"falls:{config.id}"
        self.camera_online: bool | None = None
        self.failure: str | None = None
        self.shaking_since: float | None = None
        self.night = False
        self.fps = 0.0  # frames analysed per second, last second
        self.falls = 0
        self._clock = clock
        self._worker: CameraWorker | None = None
        self._open_alarm: str | None = None  # alarm id of the fall on display
        self._clip_alarm: dict[str, str] = {}  # clip name -> alarm id
        self._clear_task: asyncio.Task[None] | None = None
        self._ctx: Context | None = None

    @property
    def worker_pid(self) -> int | None:
        return self._worker.process.pid if self._worker is not None else None

    async def run(self, ctx: Context) -> None:
        self._ctx = ctx
        ctx.devices.declare(self.config.id, area=self.config.area, profile="fall-camera")
        delay = 1.0
        try:
            while True:
                started = self._clock()
                reason = await self._run_worker(ctx)
                if self.failure is not None:
                    await ctx.devices.set_availability(self.config.id, False, reason=self.failure)
                    log.error("fall camera %s: %s; its analysis stays stopped", self.config.id, self.failure)
                    await asyncio.Event().wait()
                await self._set_camera(False, reason)
                delay = 1.0 if self._clock() - started > 60 else min(delay * 2, self.config.reconnect_max_s)
                await asyncio.sleep(delay)
        finally:
            if self._clear_task is not None:
                self._clear_task.cancel()

    async def _run_worker(self, ctx: Context) -> str:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()
        worker = CameraWorker(self.config, self.clip_folder)
        self._worker = worker
        fd: int | None = None
        try:
            await asyncio.to_thread(worker.start)
            fd = worker.conn.fileno()
            loop.add_reader(fd, drain_pipe, worker.conn, inbox, loop, fd)
            while True:
                msg = await inbox.get()
                if msg is None:
                    return "the camera process exited"
                if isinstance(msg, WorkerFailed):
                    if msg.fatal:
                        self.failure = msg.reason
                    return msg.reason
                await self.handle(msg)
        finally:
            if fd is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(fd)
            self._worker = None
            await asyncio.shield(asyncio.to_thread(worker.stop))

    async def handle(self, msg: WorkerMessage) -> None:
        ctx = self._ctx
        assert ctx is not None
        if isinstance(msg, FallFound):
            await self._raise(ctx, msg)
        elif isinstance(msg, ClipSaved):
            await self._clip(ctx, msg)
        elif isinstance(msg, ShakeChanged):
            await self._shake(ctx, msg)
        elif isinstance(msg, CameraStatus):
            await self._set_camera(msg.online, msg.reason)
        elif isinstance(msg, FrameStats):
            self.night, self.fps = msg.night, msg.fps
            ctx.metrics.camera_fps.labels(camera=self.config.id).set(round(msg.fps, 2))
        elif isinstance(msg, WorkerReady):
            log.info(
                "fall camera %s: camera process ready (%s)",
                self.config.id,
                "calibrated" if msg.calibrated else "no calibration: floors are not named",
            )

    async def _raise(self, ctx: Context, msg: FallFound) -> None:
        camera = self.config.id
        if self._open_alarm is not None:  # each fall is its own alarm
            await ctx.alarms.update(camera, ALARM_KIND, active=False)
        alarm = await ctx.alarms.update(
            camera,
            ALARM_KIND,
            active=True,
            severity=self.config.severity,
            details=fall_details(msg, self.config),
            snapshot=msg.snapshot,
        )
        self.falls += 1
        self._open_alarm = alarm.alarm_id if alarm is not None else None
        if alarm is not None:
            self._clip_alarm[msg.clip] = alarm.alarm_id
        origin = msg.fall.origin
        log.warning(
            "fall camera %s: fall detected, origin floor %s column %s (score %.2f)",
            camera,
            origin.floor,
            origin.column,
            msg.fall.verdict.score,
        )
        if self._clear_task is not None:
            self._clear_task.cancel()
        self._clear_task = asyncio.create_task(self._clear_later(self._open_alarm), name=f"{self.name} clear")

    async def _clear_later(self, alarm_id: str | None) -> None:
        await asyncio.sleep(self.config.clear_after_s)
        if self._ctx is not None and self._open_alarm == alarm_id:
            await self._ctx.alarms.update(self.config.id, ALARM_KIND, active=False)
            self._open_alarm = None

    async def _clip(self, ctx: Context, msg: ClipSaved) -> None:
        alarm_id = self._clip_alarm.pop(msg.name, None)
        if msg.clip is None:
            await ctx.emit(
                Event(
                    "fall.clip_failed",
                    self.config.id,
                    Severity.WARNING,
                    details={"alarm_id": alarm_id, "clip": msg.name, "reason": msg.error or "unknown"},
                )
            )
            return
        clip = msg.clip
        await ctx.emit(
            Event(
                "fall.clip_saved",
                self.config.id,
                Severity.INFO,
                details={
                    "alarm_id": alarm_id,
                    "clip": clip.name,
                    "url": CLIP_ROUTE + clip.name,
                    "bytes": clip.bytes,
                    "frames": clip.frames,
                    "duration_s": round(clip.last_t - clip.first_t, 3),
                    "before_s": round(clip.fall_t - clip.first_t, 3),
                },
            )
        )

    async def _shake(self, ctx: Context, msg: ShakeChanged) -> None:
        if msg.shaking:
            self.shaking_since = msg.at
            await ctx.emit(
                Event("fall.analysis_paused", self.config.id, Severity.WARNING, details={"reason": "camera_shaking"})
            )
        else:
            paused = round(msg.at - (self.shaking_since or msg.at), 3)
            self.shaking_since = None
            await ctx.emit(Event("fall.analysis_resumed", self.config.id, Severity.INFO, details={"paused_s": paused}))

    async def _set_camera(self, online: bool, reason: str) -> None:
        if self._ctx is None or online == self.camera_online:
            return
        self.camera_online = online
        log.log(logging.INFO if online else logging.WARNING, "fall camera %s: %s", self.config.id, reason)
        await self._ctx.devices.set_availability(self.config.id, online, reason=reason)


def check_calibrations(config: GatewayConfig) -> None:
    """Fail fast at start: every configured calibration loads (names the camera and what is wrong)."""
    for camera in config.falls:
        if camera.calibration is not None:
            try:
                load_calibration(camera.calibration)
            except CalibrationError as exc:
                raise CalibrationError(f"falls[{camera.id}]: {exc}") from exc


def build_components(config: GatewayConfig) -> list[Component]:
    if not config.falls:
        return []
    check_calibrations(config)
    return [FallCamera(camera, camera.evidence.folder(config.data_dir, camera.id)) for camera in config.falls]
