"""The lift camera pipeline: frames -> motion gate -> detector on regions -> e-bike sightings.

``FrameAnalyzer`` is the per-frame work, used alike by the camera process (live) and by
``edge lift replay`` (a recording). ``run_camera`` runs it in a camera process (multiprocessing spawn),
so the gateway's event loop never waits on a frame: each camera sends small messages (sightings, an
occasional JPEG snapshot, camera status) through a pipe, and reads flags in shared memory: ``force``,
set while the door is open or an e-bike is being tracked (the detector then runs on every frame, moving or
not), ``door_open`` and ``capture_until`` (``edge lift capture``), and ``stop``. The flags are lock-free on
purpose: a camera process killed while holding a lock (or sleeping on a multiprocessing Event) would
otherwise block the gateway that sets them.

The camera process does not hold the network: it captures, gates motion and hands the frames that need
the detector to the detector process of its model through its frame slot in shared memory
(``RemoteDetector``, ``edge.lift.detector_process``), so one network serves every camera that uses it.
One camera process runs several lift cameras, one thread each (``edge.lift.camera_host``): OpenCV and the
interpreter are loaded once, not once per camera.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cv2
import numpy as np

from drivers.camera import CameraError, CameraSource
from drivers.detectors import Detection, Detector, ModelError, ModelSpec, load_manifest
from edge.lift.config import LiftConfig
from edge.lift.frame_slot import DetectorFailed, DetectorUnavailable, FrameSlot
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


@dataclass(frozen=True, slots=True)
class DetectorStatus:
    available: bool
    reason: str


Flag = Any  # a multiprocessing RawValue("b"): .value 0 or 1

WorkerMessage = FrameReport | WorkerReady | WorkerFailed | CameraStatus | DetectorStatus


def snapshot_jpeg(
    image: np.ndarray, sightings: tuple[Detection, ...], quality: int, max_bytes: int | None = None
) -> bytes:
    """The frame with its sightings drawn, as JPEG of at most ``max_bytes``: the quality is lowered first
    (down to 50), then the picture is downscaled (by 0.8 each time) until it fits."""
    marked = image.copy()
    for det in sightings:
        x1, y1, x2, y2 = (int(v) for v in det.box)
        cv2.rectangle(marked, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(
            marked, f"{det.label} {det.score:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1
        )
    data = _encode(marked, quality)
    q = quality
    while max_bytes is not None and len(data) > max_bytes and q > 50:
        q = max(50, q - 15)
        data = _encode(marked, q)
    while max_bytes is not None and len(data) > max_bytes and min(marked.shape[:2]) > 16:
        marked = cv2.resize(marked, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        data = _encode(marked, q)
    return data


def _encode(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} frame as JPEG")
    return buf.tobytes()


def split_sightings(
    found: list[Detection], ebike_ids: frozenset[int]
) -> tuple[tuple[Detection, ...], tuple[Detection, ...]]:
    """(e-bike sightings, everything else): only the manifest's e-bike classes count; a person, a bag,
    a suitcase or a pram never does, whatever its score."""
    return tuple(d for d in found if d.class_id in ebike_ids), tuple(d for d in found if d.class_id not in ebike_ids)


class RemoteDetector:
    """The detector of a camera process: the model's detector process, reached through the frame slot."""

    def __init__(self, spec: ModelSpec, slot: FrameSlot, timeout_s: float) -> None:
        self.spec = spec
        self.slot = slot
        self.timeout_s = timeout_s

    @property
    def input_size(self) -> tuple[int, int]:
        return self.spec.input.width, self.spec.input.height

    def detect(
        self,
        image: np.ndarray,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        regions: list[tuple[int, int, int, int]] | None = None,
    ) -> list[Detection]:
        seq = self.slot.ask(image, regions, score_threshold, iou_threshold)
        found = self.slot.answer(seq, self.timeout_s)
        classes = self.spec.classes
        return [Detection(f.class_id, classes[f.class_id], f.score, f.box) for f in found if f.class_id < len(classes)]


class FrameAnalyzer:
    def __init__(self, config: LiftConfig, detector: Detector | RemoteDetector) -> None:
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
        snapshot = snapshot_jpeg(image, sightings, cfg.snapshot_quality, cfg.snapshot_max_bytes) if sightings else None
        return FrameReport(
            t,
            sightings,
            others,
            ran_detector=True,
            motion=moving,
            regions=len(regions) if regions else 1,
            infer_ms=infer_ms,
            snapshot=snapshot,
        )


DETECTOR_TIMEOUT_S = 2.0  # a frame's detections; longer means the detector process is gone or overloaded
DETECTOR_START_S = 120.0  # the detector process loading its model


def run_camera(config: LiftConfig, slot_ref: Any, conn: Connection, flags: CameraFlags, host_stop: Flag) -> bool:
    """One lift camera, on its thread of the camera process: analyse frames until ``stop`` (the camera's or
    the process's) is set or the camera fails; report through ``conn``. True if the failure is fatal (a
    model problem: restarting will not help)."""
    send_lock = threading.Lock()

    def stopped() -> bool:
        return bool(flags.stop.value or host_stop.value)

    def send(msg: WorkerMessage) -> None:
        with send_lock:
            try:
                conn.send(msg)
            except (BrokenPipeError, OSError):
                flags.stop.value = 1  # the gateway went away

    try:
        spec = load_manifest(config.manifest).get(config.model)
    except ModelError as exc:
        send(WorkerFailed(str(exc), fatal=True))
        return True
    slot = FrameSlot.attach(slot_ref.name, slot_ref.max_width, slot_ref.max_height)
    try:
        _run_camera(config, spec, slot, send, flags, stopped)
    except DetectorFailed as exc:
        send(WorkerFailed(str(exc), fatal=True))
        return True
    finally:
        slot.close()
    return False


def _run_camera(
    config: LiftConfig, spec: ModelSpec, slot: FrameSlot, send: Any, flags: CameraFlags, stopped: Any
) -> None:
    from edge.lift.capture import Recorder

    if not slot.wait_ready(DETECTOR_START_S):
        send(
            WorkerFailed(f"the detector process of {spec.name!r} did not start in {DETECTOR_START_S:g} s", fatal=False)
        )
        return
    send(WorkerReady(spec.name, "shared detector process"))
    detector = RemoteDetector(spec, slot, DETECTOR_TIMEOUT_S)
    analyzer = FrameAnalyzer(config, detector)
    recorder = Recorder(config, flags)
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
    detector_ok = True
    try:
        while not stopped():
            # sleep until the next frame is due, then take the newest one: frames in between are never
            # decoded (a live source keeps only the latest undecoded JPEG)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(min(pause, 0.1))
                continue
            frame = camera.read(timeout=0.5)
            if frame is None:
                slot.check()
                if camera.ended:
                    send(WorkerFailed(f"camera {camera.name}: the recording ended", fatal=False))
                    return
                continue
            now = time.monotonic()
            due = max(due + period, now - period)
            try:
                report = analyzer.analyze(frame.image, now, force=bool(flags.force.value))
            except DetectorUnavailable as exc:
                if detector_ok:
                    send(DetectorStatus(False, f"detector process of {spec.name!r}: {exc}"))
                detector_ok = False
                continue
            if not detector_ok and report.ran_detector:
                send(DetectorStatus(True, f"detector process of {spec.name!r} answering again"))
                detector_ok = True
            recorder.frame(frame.image, now, report.motion)
            send(report)
    finally:
        camera.close()
        recorder.close()


class CameraFlags:
    """Lock-free values the gateway sets and a camera reads (see the module docstring)."""

    def __init__(self, ctx: Any) -> None:
        self.force = ctx.RawValue("b", 0)
        self.stop = ctx.RawValue("b", 0)
        self.door_open = ctx.RawValue("b", 0)
        self.capture_until = ctx.RawValue("d", 0.0)  # wall-clock time; 0: not capturing
