"""The gate's vision process: camera, face models, QR reading, away from the event loop.

One process per gate (multiprocessing, spawn): it opens the camera itself, so frames are decoded once, in
the process that uses them, and never cross a process boundary; only the faces found (boxes, landmarks,
128-d embeddings, p(live): about 1 KB each), the text of any QR code in view, a small JPEG when snapshots
are on, and camera status changes come back over a pipe.
A slow analyser skips frames (the camera source keeps only the newest), so a decision is about now,
not about a backlog. The parent side (``VisionWorker``) reads the pipe with ``loop.add_reader``: the event
loop never waits on a frame, and restarts the process with back-off if it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge.gate.config import GateConfig
from edge.gate.faces import Face, FaceAnalyzer, QualityGates
from edge.gate.qr_reader import QrReader

log = logging.getLogger(__name__)

RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
CV_THREADS = 1  # OpenCV threads in the vision process: the nets are small, a second thread mostly waits for a core


def limit_threads() -> None:
    """OpenCV's thread pool of this process set to ``CV_THREADS`` (the vision process, and benchmarks of it)."""
    cv2.setNumThreads(CV_THREADS)


@dataclass(slots=True, frozen=True)
class WorkerSettings:
    gate: str
    camera: str
    detect_width: int | None
    upsample: int
    model: Literal["small", "large"]
    min_face_px: int
    snapshot_width: int | None  # None: no snapshots
    track: bool = True
    full_every: int = 5
    detector: str = "yunet"
    embedding: str = "mobilefacenet"
    liveness: bool = True
    gates: QualityGates = QualityGates()
    qr_every: int | None = 2  # None: no QR reading
    model_dir: str | None = None
    face_detect_width: int | None = 400
    reuse_after: int | None = 5  # GateConfig.reuse_after

    @classmethod
    def of(cls, config: GateConfig) -> WorkerSettings:
        return cls(
            config.id,
            config.camera,
            config.detect_width,
            config.upsample,
            config.encoding_model,
            config.min_face_px,
            config.snapshot_width if config.snapshot else None,
            config.track_faces,
            config.full_detect_every,
            config.detector,
            config.embedding,
            config.liveness != "off",
            quality_gates(config),
            config.qr_every if config.qr_passes else None,
            config.model_dir,
            config.face_detect_width,
            config.reuse_after,
        )

    def analyzer(self) -> FaceAnalyzer:
        return FaceAnalyzer(
            detector=self.detector,
            embedding=self.embedding,
            liveness=self.liveness,
            upsample=self.upsample,
            model=self.model,
            gates=self.gates,
            track=self.track,
            full_every=self.full_every,
            model_dir=Path(self.model_dir) if self.model_dir else None,
            detect_width=self.face_detect_width,
            reuse_after=self.reuse_after,
        )


def quality_gates(config: GateConfig) -> QualityGates:
    return QualityGates(config.min_face_px, config.min_sharpness, config.max_yaw, config.pitch_range)


@dataclass(slots=True, frozen=True)
class FrameResult:
    """The faces of one analysed frame; ``ts`` is the wall-clock capture time."""

    index: int
    ts: float
    pos_s: float | None
    faces: list[Face]
    analyse_s: float
    snapshot: bytes | None = None
    qr: tuple[str, ...] = ()  # text of the QR codes read in this frame


@dataclass(slots=True, frozen=True)
class CameraStatus:
    online: bool
    reason: str


@dataclass(slots=True, frozen=True)
class WorkerExit:
    reason: str


WorkerMessage = FrameResult | CameraStatus | WorkerExit


def snapshot_jpeg(image: np.ndarray, width: int) -> bytes | None:
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) if image.shape[1] > width else image
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return buf.tobytes() if ok else None


def worker_main(conn: Connection, settings: WorkerSettings, stop: EventType) -> None:  # runs in the child process
    from drivers.camera import CameraError, CameraSource

    def status(online: bool, reason: str) -> None:
        conn.send(CameraStatus(online, reason))

    limit_threads()
    analyzer = settings.analyzer()
    qr = QrReader() if settings.qr_every else None
    analysed = 0
    camera = CameraSource(settings.camera, max_width=settings.detect_width, on_status=status)
    try:
        camera.open()
        if not camera.live:
            status(True, f"reading recording {camera.name}")
        while not stop.is_set():
            frame = camera.read(timeout=0.5)
            if frame is None:
                if camera.ended:
                    conn.send(WorkerExit(f"recording {camera.name} ended"))
                    return
                continue
            started = time.perf_counter()
            faces = analyzer.analyze(frame.image)
            codes = qr.read(frame.image) if qr is not None and analysed % (settings.qr_every or 1) == 0 else ()
            analysed += 1
            snapshot = None
            if (faces or codes) and settings.snapshot_width:
                snapshot = snapshot_jpeg(frame.image, settings.snapshot_width)
            conn.send(
                FrameResult(frame.index, frame.ts, frame.pos_s, faces, time.perf_counter() - started, snapshot, codes)
            )
    except CameraError as exc:
        conn.send(WorkerExit(str(exc)))
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        return
    finally:
        camera.close()
        conn.close()


class VisionWorker:
    """Parent side: start the process, yield its messages, restart it when it dies, stop it on exit."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._mp = mp.get_context("spawn")
        self.restarts = 0
        self.pid: int | None = None  # of the running vision process

    async def messages(self) -> AsyncIterator[WorkerMessage]:
        delay = RESTART_MIN_S
        while True:
            started = time.monotonic()
            async for message in self._run_once():
                yield message
                if isinstance(message, WorkerExit) and message.reason.startswith("recording"):
                    return
            if time.monotonic() - started > RESTART_MAX_S:
                delay = RESTART_MIN_S
            self.restarts += 1
            log.warning("gate %s: vision process stopped; restarting in %.1f s", self.settings.gate, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)

    async def _run_once(self) -> AsyncIterator[WorkerMessage]:
        loop = asyncio.get_running_loop()
        recv, send = self._mp.Pipe(duplex=False)
        stop = self._mp.Event()
        proc = self._mp.Process(
            target=worker_main, args=(send, self.settings, stop), name=f"gate-{self.settings.gate}", daemon=True
        )
        proc.start()
        self.pid = proc.pid
        send.close()
        inbox: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()

        def readable() -> None:
            try:
                while recv.poll():
                    inbox.put_nowait(recv.recv())
            except (EOFError, OSError):
                loop.remove_reader(recv.fileno())
                inbox.put_nowait(None)

        loop.add_reader(recv.fileno(), readable)
        try:
            while (message := await inbox.get()) is not None:
                yield message
                if isinstance(message, WorkerExit):
                    yield CameraStatus(False, message.reason)
                    break
            else:
                yield CameraStatus(False, f"vision process exited (code {proc.exitcode})")
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(recv.fileno())
            stop.set()
            await asyncio.to_thread(proc.join, 5)
            if proc.is_alive():
                proc.kill()
                await asyncio.to_thread(proc.join, 5)
            recv.close()
