"""Face detection and 128-d encodings with face_recognition (dlib HOG + ResNet), in whichever process calls it.

``FaceAnalyzer.analyze(image)`` is the whole per-frame vision step of a gate: detect on the frame as it is
(no quarter-size shortcut: on the shared clip it finds no face at all), drop faces below the minimum size
before encoding them (encoding is the expensive half), encode the rest. face_recognition is imported on
first use so that modules which only match or store encodings stay light.

With ``track`` on (the live gate and replay), a frame that follows one with faces is searched only around
those faces (``ROI_MARGIN`` of the face size on each side): HOG cost grows with the area, and a 250 px
region costs a third of a 640x360 frame. The whole frame is searched again when a region finds nothing,
and every ``full_every`` frames anyway, so a second person stepping in is found within that many frames.
Identity is never carried over: every face found is encoded afresh in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ENCODING_DIM = 128
ROI_MARGIN = 0.75

Box = tuple[int, int, int, int]


@dataclass(slots=True, frozen=True)
class Face:
    """One face in one frame: box as (top, right, bottom, left) pixels, and its encoding."""

    box: tuple[int, int, int, int]
    encoding: np.ndarray

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


def face_recognition() -> Any:
    """The face_recognition module (imported lazily; it loads dlib and its models)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition as fr
    return fr


class FaceAnalyzer:
    def __init__(
        self,
        *,
        upsample: int = 0,
        model: Literal["small", "large"] = "small",
        min_face_px: int = 0,
        track: bool = False,
        full_every: int = 5,
    ) -> None:
        self.upsample = upsample
        self.model = model
        self.min_face_px = min_face_px
        self.track = track
        self.full_every = full_every
        self._fr = face_recognition()
        self._last: list[Box] = []
        self._since_full = 0
        self.full_detections = 0
        self.roi_detections = 0

    def locate(self, rgb: np.ndarray, upsample: int | None = None) -> list[Box]:
        boxes = self._fr.face_locations(rgb, self.upsample if upsample is None else upsample)
        return [(int(box[0]), int(box[1]), int(box[2]), int(box[3])) for box in boxes]

    def _around(self, rgb: np.ndarray, boxes: list[Box]) -> list[Box]:
        """Faces found in the regions around ``boxes`` (frame coordinates, duplicates dropped)."""
        height, width = rgb.shape[:2]
        found: list[Box] = []
        for top, right, bottom, left in boxes:
            pad = int(ROI_MARGIN * max(bottom - top, right - left))
            y0, y1 = max(0, top - pad), min(height, bottom + pad)
            x0, x1 = max(0, left - pad), min(width, right + pad)
            for t, r, b, lft in self.locate(np.ascontiguousarray(rgb[y0:y1, x0:x1])):
                box = (t + y0, r + x0, b + y0, lft + x0)
                if not any(_overlap(box, other) > 0.5 for other in found):
                    found.append(box)
        return found

    def detect(self, rgb: np.ndarray) -> list[Box]:
        if self.track and self._last and self._since_full < self.full_every - 1:
            boxes = self._around(rgb, self._last)
            if boxes:
                self._since_full += 1
                self.roi_detections += 1
                self._last = boxes
                return boxes
        boxes = self.locate(rgb)
        self._since_full = 0
        self.full_detections += 1
        self._last = boxes
        return boxes

    def analyze(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces of at least ``min_face_px`` in a BGR frame (as OpenCV decodes it), largest first."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        boxes = [b for b in self.detect(rgb) if b[2] - b[0] >= self.min_face_px]
        if not boxes:
            return []
        boxes.sort(key=lambda b: b[0] - b[2])
        encodings = self._fr.face_encodings(rgb, boxes, model=self.model)
        return [Face(box, np.asarray(enc, dtype=np.float64)) for box, enc in zip(boxes, encodings, strict=True)]


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / area if area > 0 else 0.0
