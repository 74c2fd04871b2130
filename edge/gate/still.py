"""Still faces: reusing a face's embedding and p(live) for one frame while it has not moved (vision process).

A face is followed from frame to frame by the overlap of its box (a *track*: IoU >= ``TRACK_MIN_IOU`` with a
face of the previous frame). Its embedding and p(live) are computed afresh, except that a face may take the
result of its track's last fresh computation for **one** frame when all of these hold:

- the track already has ``fresh_first`` fresh results (the gate's n: whatever the first window of n frames
  of a face decides is decided on fresh frames, exactly as without reuse);
- the previous frame of the track was fresh (never two reuses in a row: at least every other frame of a
  face is measured again);
- against the frame that was computed: the box overlaps by IoU >= ``REUSE_MIN_IOU``, no landmark moved
  more than ``REUSE_MAX_SHIFT`` of the eye distance, and the face's 8x8 colour thumbnail differs by at most
  ``REUSE_MAX_PIXEL_DIFF`` levels on average (the same picture: a photo or a phone put in the same place
  is not the same face).

What is reused is the 128-d embedding and p(live), nothing else: box, landmarks and quality are of the new
frame. Every result carries an ``evidence`` number, that of the computation it comes from; the decision
tracker (edge.gate.decision) counts distinct evidence, so a reused result never adds a vote to the k of n
nor a sample to the window's p(live): agreement over frames stays agreement of independent measurements.
Evidence numbers start at the process's ``time.monotonic_ns()``, so a restarted vision process never
repeats one of its predecessor's.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import cv2
import numpy as np

from edge.gate.detect import Box, Detection

TRACK_MIN_IOU = 0.5
REUSE_MIN_IOU = 0.85
REUSE_MAX_SHIFT = 0.05  # of the eye distance
REUSE_MAX_PIXEL_DIFF = 6.0  # mean absolute difference of the 8x8 BGR thumbnails, 0-255
THUMB = (8, 8)


@dataclass(slots=True, frozen=True)
class Computed:
    """One fresh embedding and p(live), and what the face looked like when they were computed."""

    box: Box
    landmarks: np.ndarray
    thumb: np.ndarray
    encoding: np.ndarray
    live: float | None
    evidence: int


@dataclass(slots=True)
class Track:
    computed: Computed
    fresh: int  # fresh computations along the track
    reused: bool  # the track's last frame reused ``computed``


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / area if area > 0 else 0.0


def thumbnail(bgr: np.ndarray, box: Box) -> np.ndarray:
    top, right, bottom, left = box
    face = bgr[max(0, top) : bottom, max(0, left) : right]
    if face.size == 0:
        return np.zeros((*THUMB, 3), np.int16)
    return cv2.resize(face, THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)


def landmark_shift(before: np.ndarray, after: np.ndarray) -> float:
    """The largest landmark movement, in eye distances of ``before``."""
    eye = float(np.hypot(*(before[1] - before[0])))
    return float(np.abs(after - before).max()) / max(eye, 1.0)


def still(computed: Computed, detection: Detection, thumb: np.ndarray) -> bool:
    """The face of ``detection`` is where, and what, it was when ``computed`` was measured."""
    return (
        iou(computed.box, detection.box) >= REUSE_MIN_IOU
        and landmark_shift(computed.landmarks, detection.landmarks) <= REUSE_MAX_SHIFT
        and float(np.abs(computed.thumb - thumb).mean()) <= REUSE_MAX_PIXEL_DIFF
    )


class StillFaces:
    """The tracks of the last frame; per face of a new frame, the result it may reuse (``None``: compute)."""

    def __init__(self, fresh_first: int | None) -> None:
        self.fresh_first = fresh_first  # None: never reuse
        self._tracks: list[Track] = []
        self._next: list[Track] = []
        self._evidence = itertools.count(time.monotonic_ns())
        self.fresh = 0
        self.reused = 0

    def follow(self, detection: Detection) -> Track | None:
        """The track of the last frame this face continues (each track continues at most once)."""
        best = max(self._tracks, key=lambda t: iou(t.computed.box, detection.box), default=None)
        if best is None or iou(best.computed.box, detection.box) < TRACK_MIN_IOU:
            return None
        self._tracks.remove(best)
        return best

    def reusable(self, track: Track | None, detection: Detection, thumb: np.ndarray) -> Computed | None:
        if self.fresh_first is None or track is None or track.reused or track.fresh < self.fresh_first:
            return None
        return track.computed if still(track.computed, detection, thumb) else None

    def computed(
        self, track: Track | None, detection: Detection, thumb: np.ndarray, encoding: np.ndarray, live: float | None
    ) -> Computed:
        """Record a fresh result for this face (continuing ``track`` if any)."""
        result = Computed(detection.box, detection.landmarks, thumb, encoding, live, next(self._evidence))
        self._next.append(Track(result, (track.fresh if track else 0) + 1, reused=False))
        self.fresh += 1
        return result

    def reuse(self, track: Track) -> Computed:
        self._next.append(Track(track.computed, track.fresh, reused=True))
        self.reused += 1
        return track.computed

    def end_frame(self) -> None:
        """Tracks not continued in this frame end; the ones that were become the last frame's."""
        self._tracks, self._next = self._next, []
