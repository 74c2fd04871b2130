"""The lift camera pipeline: frames -> motion gate -> detector on regions -> e-bike sightings.

``FrameAnalyzer`` is the per-frame work, used alike by the camera process (live) and by
``edge lift replay`` (a recording). ``CameraWorker`` runs it in its own process (multiprocessing spawn),
so the gateway's event loop never waits on a frame: the process sends small messages (sightings, an
occasional JPEG snapshot, camera status) through a pipe, and reads two flags in shared memory: ``force``,
set while the door is open or an e-bike is being tracked (the detector then runs on every frame, moving or
not), and ``stop``. The flags are lock-free bytes on purpose: a camera process killed while holding a
lock (or sleeping on a multiprocessing Event) would otherwise block the gateway that sets them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cv2
import numpy as np

from drivers.camera import CameraError, CameraSource
from drivers.detectors import Detection, Detector, ModelError, load_detector
from edge.lift.config import LiftConfig
from edge.lift.motion import MotionGate, regions_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FrameReport:
    t: float  # monotonic time (live) or position in the recording (replay)
    sightings: tuple[Detection, ...]  # e-bike detections above the score threshold, best first
    others: tuple[Detection, ...]  # other detections (people, bags), for replay output and metrics
    ran_detector: bool
    motion: bool
    regions: int
    infer_ms: float
    snapshot: bytes | None = None  # JPEG of the frame, with boxes, when there are sightings


@dataclass(frozen=True, slots=True)
class WorkerReady:
    model: str
    backend: str


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    reason: str
    fatal: bool  # a configuration problem (model, manifest): restarting will not help


@dataclass(frozen=True, slots=True)
class CameraStatus:
    online: bool
    reason: str


Flag = Any  # a multiprocessing RawValue("b"): .value 0 or 1

WorkerMessage = FrameReport | WorkerReady | WorkerFailed | CameraStatus


def snapshot_jpeg(image: np.ndarray, sightings: tuple[Detection, ...], quality: int) -> bytes:
    marked = image.copy()
    for det in sightings:
        x1, y1, x2, y2 = (int(v) for v in det.box)
        cv2.rectangle(marked, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(
            marked, f"{det.label} {det.score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1
        )
    ok, buf = cv2.imencode(".jpg", marked, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} frame as JPEG")
    return buf.tobytes()


def split_sightings(
    found: list[Detection], ebike_ids: frozenset[int]
) -> tuple[tuple[Detection, ...], tuple[Detection, ...]]:
    """(e-bike sightings, everything else): only the manifest's e-bike classes count; a person, a bag,
    a suitcase or a pram never does, whatever its score."""
    return tuple(d for d in found if d.class_id in ebike_ids), tuple(d for d in found if d.class_id not in ebike_ids)


class FrameAnalyzer:
    def __init__(self, config: LiftConfig, detector: Detector) -> None:
        self.config = config
        self.detector = detector
        self.gate = MotionGate(config.motion) if config.motion.enabled else None
        self._ebike_ids = detector.spec.ebike_class_ids

    def analyze(self, image: np.ndarray, t: float, *, force: bool = False) -> FrameReport:
        cfg = self.config
        h, w = image.shape[:2]
        regions: list[tuple[int, int, int, int]] | None
        moving = True
        if self.gate is None:
            regions = None
        else:
            motion = self.gate.update(image)
            moving = bool(motion.boxes)
            if force or motion.recalibrated:
                regions = None  # a light change or an open door: look at the whole frame
            elif motion.boxes:
                regions = regions_for(
                    motion.boxes,
                    input_size=self.detector.input_size,
                    frame_size=(w, h),
                    max_regions=cfg.motion.max_regions,
                )
            else:
                return FrameReport(t, (), (), ran_detector=False, motion=False, regions=0, infer_ms=0.0)
        start = time.perf_counter()
        found = self.detector.detect(
            image, score_threshold=cfg.score_threshold, iou_threshold=cfg.nms_iou, regions=regions
        )
        infer_ms = (time.perf_counter() - start) * 1000
        sightings, others = split_sightings(found, self._ebike_ids)
        snapshot = snapshot_jpeg(image, sightings, cfg.snapshot_quality) if sightings else None
        return FrameReport(
            t, sightings, others, ran_detector=True, motion=moving,
            regions=len(regions) if regions else 1, infer_ms=infer_ms, snapshot=snapshot,
        )


def open_detector(config: LiftConfig) -> Detector:
    return load_detector(
        config.model, manifest=config.manifest, model_dir=config.model_dir, backend=config.backend,
        threads=config.threads,
    )


def worker_main(config_json: str, conn: Connection, force: Flag, stop: Flag) -> None:
    """Entry point of the camera process: analyse frames until ``stop`` is set, report through ``conn``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = LiftConfig.model_validate_json(config_json)
    send_lock = threading.Lock()

    def send(msg: WorkerMessage) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except (BrokenPipeError, OSError):
                stop.value = 1  # the gateway went away

    try:
        detector = open_detector(config)
    except ModelError as exc:
        send(WorkerFailed(str(exc), fatal=True))
        return
    send(WorkerReady(detector.spec.name, type(detector.backend).__name__))
    analyzer = FrameAnalyzer(config, detector)
    camera = CameraSource(
        config.camera_url,
        max_width=config.decode_width,
        reconnect_max_s=config.reconnect_max_s,
        on_status=lambda online, reason: send(CameraStatus(online, reason)),
    )
    try:
        camera.open()
    except CameraError as exc:
        send(WorkerFailed(str(exc), fatal=False))
        return
    period = 1.0 / config.fps
    due = time.monotonic()
    try:
        while not stop.value:
            # sleep until the next frame is due, then take the newest one: frames in between are never
            # decoded (a live source keeps only the latest undecoded JPEG)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(min(pause, 0.1))
                continue
            frame = camera.read(timeout=0.5)
            if frame is None:
                if camera.ended:
                    send(WorkerFailed(f"camera {camera.name}: the recording ended", fatal=False))
                    return
                continue
            now = time.monotonic()
            due = max(due + period, now - period)
            send(analyzer.analyze(frame.image, now, force=bool(force.value)))
    finally:
        camera.close()


class CameraWorker:
    """The camera process of one lift, and the two ends of its link with the gateway."""

    def __init__(self, config: LiftConfig) -> None:
        self.config = config
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=False)
        self.force: Flag = ctx.RawValue("b", 0)
        self.stop_flag: Flag = ctx.RawValue("b", 0)
        self.process = ctx.Process(
            target=worker_main,
            args=(config.model_dump_json(), child, self.force, self.stop_flag),
            name=f"lift-camera-{config.id}",
            daemon=True,
        )
        self._child = child

    def start(self) -> None:
        self.process.start()
        self._child.close()  # only the child writes; EOF on the parent's end once it exits

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_flag.value = 1
        if self.process.pid is None:  # never started
            self.conn.close()
            return
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)
        self.conn.close()
