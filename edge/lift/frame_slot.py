"""A camera's frame slot in shared memory: how a frame and its detections cross between a camera process
and the detector process of its model, without pickling the picture and without a lock.

One segment per camera (``multiprocessing.shared_memory``), created by the gateway, attached by the camera
process and by each (re)started detector process. The camera writes the frame, its regions and thresholds,
then bumps ``request``; the detector copies the frame out, runs, writes the detections and then ``done``.
A camera has one request outstanding at a time, so one slot is enough, and a detector killed halfway
leaves nothing locked: its successor sees ``request > done`` and answers. A detector that cannot load its
model writes the reason into every slot (``failed``), which the camera reports as a fatal failure.
Counters are aligned 8-byte words, written after the data they cover.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import threading
import time
from collections.abc import Sized
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory
from pathlib import Path
from typing import Any

import numpy as np

MAX_REGIONS = 16
MAX_DETECTIONS = 100
REASON_BYTES = 1024

# int64 header words (ASKED: CLOCK_MONOTONIC of the request in ns, the same clock in every process)
REQUEST, DONE, HEIGHT, WIDTH, REGIONS, DETECTIONS, FAILED, READY, ASKED = range(9)
HEADER_WORDS = 9
_PARAMS = HEADER_WORDS * 8  # float64 score threshold, IoU threshold
_REGIONS = _PARAMS + 16
_DETS = _REGIONS + MAX_REGIONS * 4 * 4  # float32 rows: class id, score, x1, y1, x2, y2
_REASON = _DETS + MAX_DETECTIONS * 6 * 4
_FRAME = _REASON + REASON_BYTES


PREFIX = "ce-lift-"
SHM_DIR = Path("/dev/shm")
_numbers = itertools.count(1)
_patch_lock = threading.Lock()


def _ignore(name: Sized, rtype: str) -> None:
    """Stands in for the resource tracker's register / unregister."""


def _untracked(**kwargs: Any) -> shared_memory.SharedMemory:
    """A SharedMemory the multiprocessing resource tracker does not follow (Python 3.13's track=False): the
    gateway unlinks its slots itself (and a killed gateway's are removed at the next start), and a tracked
    attachment in a child would make the tracker unlink or complain about the gateway's segment."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(track=False, **kwargs)  # type: ignore[call-arg]
    with _patch_lock:  # camera threads attach at the same time: one swap at a time
        register = resource_tracker.register
        resource_tracker.register = _ignore
        try:
            return shared_memory.SharedMemory(**kwargs)
        finally:
            resource_tracker.register = register


def _unlink_untracked(shm: shared_memory.SharedMemory) -> None:
    """``shm.unlink()`` without telling the resource tracker (it never followed this segment)."""
    if sys.version_info >= (3, 13):
        shm.unlink()
        return
    with _patch_lock:
        unregister = resource_tracker.unregister
        resource_tracker.unregister = _ignore
        try:
            shm.unlink()
        finally:
            resource_tracker.unregister = unregister


def remove_stale_slots() -> list[str]:
    """Unlink slots whose gateway process is gone (it was killed before it could unlink them)."""
    removed: list[str] = []
    if not SHM_DIR.is_dir():
        return removed
    for path in SHM_DIR.glob(f"{PREFIX}*"):
        try:
            pid = int(path.name[len(PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DetectorUnavailable(Exception):
    """The detector process did not answer in time (restarting, or overloaded)."""


class DetectorFailed(Exception):
    """The detector process cannot load its model; the message says why."""


@dataclass(frozen=True, slots=True)
class SlotRef:
    """What a process needs to attach to a camera's slot."""

    lift: str
    name: str
    max_width: int
    max_height: int


@dataclass(frozen=True, slots=True)
class Found:
    class_id: int
    score: float
    box: tuple[float, float, float, float]


class FrameSlot:
    def __init__(self, shm: shared_memory.SharedMemory, max_width: int, max_height: int, owner: bool) -> None:
        self.shm = shm
        self.name = shm.name
        self.max_width, self.max_height = max_width, max_height
        self._owner = owner
        buf = shm.buf
        self.header = np.ndarray((HEADER_WORDS,), np.int64, buf, 0)
        self.params = np.ndarray((2,), np.float64, buf, _PARAMS)
        self.regions = np.ndarray((MAX_REGIONS, 4), np.int32, buf, _REGIONS)
        self.dets = np.ndarray((MAX_DETECTIONS, 6), np.float32, buf, _DETS)
        self.reason = np.ndarray((REASON_BYTES,), np.uint8, buf, _REASON)
        self.frame = np.ndarray((max_height * max_width * 3,), np.uint8, buf, _FRAME)

    @classmethod
    def create(cls, max_width: int, max_height: int) -> FrameSlot:
        """A new slot, named ``ce-lift-<gateway pid>-<n>``; segments left by a gateway that was killed are
        removed first (the gateway unlinks its own when it stops)."""
        remove_stale_slots()
        name = f"{PREFIX}{os.getpid()}-{next(_numbers)}"
        shm = _untracked(name=name, create=True, size=_FRAME + max_width * max_height * 3)
        slot = cls(shm, max_width, max_height, owner=True)
        slot.header[:] = 0
        return slot

    @classmethod
    def attach(cls, name: str, max_width: int, max_height: int) -> FrameSlot:
        return cls(_untracked(name=name), max_width, max_height, owner=False)

    def close(self) -> None:
        for name in ("header", "params", "regions", "dets", "reason", "frame"):
            setattr(self, name, None)
        self.shm.close()
        if self._owner:
            with contextlib.suppress(FileNotFoundError):
                _unlink_untracked(self.shm)

    # -- camera side ---------------------------------------------------------------------------------

    def ask(
        self,
        image: np.ndarray,
        regions: list[tuple[int, int, int, int]] | None,
        score_threshold: float,
        iou_threshold: float,
    ) -> int:
        h, w = image.shape[:2]
        if w > self.max_width or h > self.max_height or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"a {w}x{h} frame does not fit the {self.max_width}x{self.max_height} slot")
        self.frame[: h * w * 3] = image.reshape(-1)
        n = 0 if regions is None else min(len(regions), MAX_REGIONS)
        if regions:
            self.regions[:n] = np.asarray(regions[:n], np.int32)
        self.params[:] = (score_threshold, iou_threshold)
        self.header[HEIGHT], self.header[WIDTH], self.header[REGIONS] = h, w, n
        self.header[ASKED] = time.monotonic_ns()
        seq = int(self.header[REQUEST]) + 1
        self.header[REQUEST] = seq
        return seq

    def answer(self, seq: int, timeout: float) -> list[Found]:
        """The detections of request ``seq``; DetectorUnavailable after ``timeout``, DetectorFailed."""
        deadline = time.monotonic() + timeout
        pause = 0.001
        while int(self.header[DONE]) != seq:
            if self.header[FAILED]:
                raise DetectorFailed(self.failure())
            if time.monotonic() > deadline:
                raise DetectorUnavailable(f"no answer from the detector in {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.005)
        n = int(self.header[DETECTIONS])
        rows = self.dets[:n].copy()
        return [Found(int(r[0]), float(r[1]), (float(r[2]), float(r[3]), float(r[4]), float(r[5]))) for r in rows]

    def failure(self) -> str:
        return bytes(self.reason).split(b"\0", 1)[0].decode("utf-8", "replace")

    # -- detector side -------------------------------------------------------------------------------

    def pending(self) -> int:
        """The request waiting for an answer, or 0."""
        request = int(self.header[REQUEST])
        return request if request != int(self.header[DONE]) else 0

    def asked_ns(self) -> int:
        """When the camera asked (``time.monotonic_ns``): the detector answers the oldest request first."""
        return int(self.header[ASKED])

    def take(self) -> tuple[np.ndarray, list[tuple[int, int, int, int]] | None, float, float]:
        h, w, n = (int(v) for v in self.header[[HEIGHT, WIDTH, REGIONS]])
        image = self.frame[: h * w * 3].reshape(h, w, 3).copy()
        regions = [tuple(int(v) for v in r) for r in self.regions[:n]] if n else None
        return image, regions, float(self.params[0]), float(self.params[1])  # type: ignore[return-value]

    def reply(self, seq: int, found: list[Found]) -> None:
        n = min(len(found), MAX_DETECTIONS)
        for i, f in enumerate(found[:n]):
            self.dets[i] = (f.class_id, f.score, *f.box)
        self.header[DETECTIONS] = n
        self.header[DONE] = seq

    def fail(self, reason: str) -> None:
        data = reason.encode("utf-8")[: REASON_BYTES - 1]
        self.reason[:] = 0
        self.reason[: len(data)] = np.frombuffer(data, np.uint8)
        self.header[FAILED] = 1

    def set_ready(self) -> None:
        self.header[READY] = 1

    def wait_ready(self, timeout: float) -> bool:
        """True once a detector has loaded its model; DetectorFailed if it could not; False after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.header[READY]:
            if self.header[FAILED]:
                raise DetectorFailed(self.failure())
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def check(self) -> None:
        if self.header[FAILED]:
            raise DetectorFailed(self.failure())
