"""Face detectors of the manifest: YuNet (cv2.FaceDetectorYN, boxes + 5 landmarks) and dlib's HOG.

Both return ``Detection``s in frame pixels: the box as (top, right, bottom, left), as face_recognition has
it, and the five landmarks (eye on the image's left, eye on the image's right, nose tip, mouth corner on the
left, mouth corner on the right) as a (5, 2) float32 array. YuNet finds tilted and turned faces that HOG
misses (the poster of faces/spoof: HOG finds nothing even with upsampling); HOG stays selectable for
sites that used it. HOG's landmarks come from dlib's 5-point model (eye corners and the nose); its mouth
corners are estimated from those, which is enough for the alignment and the pose gate, not better.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.gate.models import DetectorSpec

Box = tuple[int, int, int, int]  # top, right, bottom, left


@dataclass(slots=True, frozen=True)
class Detection:
    box: Box
    landmarks: np.ndarray  # (5, 2) float32, frame pixels
    score: float

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


class Detector(Protocol):
    name: str

    def detect(self, bgr: np.ndarray, rgb: np.ndarray | None = None) -> list[Detection]: ...


def face_recognition() -> Any:
    """The face_recognition module (imported lazily; it loads dlib and its models)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports the deprecated pkg_resources
        import face_recognition as fr
    return fr


class YunetDetector:
    """YuNet on the frame shrunk to at most ``max_width`` (its cost grows with the area; it finds faces from
    about 20 px), boxes and landmarks scaled back to the frame for the embedding and liveness crops."""

    def __init__(self, spec: DetectorSpec, model_dir: Path | None = None, max_width: int | None = None) -> None:
        self.name = spec.name
        self.max_width = max_width
        self._net = cv2.FaceDetectorYN.create(
            str(spec.path(model_dir)), "", (320, 320), spec.score_threshold, spec.nms_threshold, 50
        )
        self._size: tuple[int, int] | None = None

    def detect(self, bgr: np.ndarray, rgb: np.ndarray | None = None) -> list[Detection]:
        height, width = bgr.shape[:2]
        scale = 1.0
        small = bgr
        if self.max_width and width > self.max_width:
            scale = width / self.max_width
            small = cv2.resize(bgr, (self.max_width, max(1, round(height / scale))), interpolation=cv2.INTER_LINEAR)
        size = (small.shape[1], small.shape[0])
        if self._size != size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(small)
        out = []
        for row in rows if rows is not None else ():
            row = row.copy()
            row[:14] *= scale
            x, y, w, h = (float(v) for v in row[:4])
            top, left = max(0, round(y)), max(0, round(x))
            box = (top, min(width, round(x + w)), min(height, round(y + h)), left)
            if box[2] - box[0] < 4 or box[1] - box[3] < 4:
                continue
            out.append(Detection(box, np.asarray(row[4:14], dtype=np.float32).reshape(5, 2), float(row[14])))
        return out


class HogDetector:
    def __init__(self, spec: DetectorSpec, *, upsample: int = 0) -> None:
        self.name = spec.name
        self.upsample = upsample
        self._fr = face_recognition()

    def locate(self, rgb: np.ndarray, upsample: int | None = None) -> list[Box]:
        boxes = self._fr.face_locations(rgb, self.upsample if upsample is None else upsample)
        return [(int(b[0]), int(b[1]), int(b[2]), int(b[3])) for b in boxes]

    def landmarks(self, rgb: np.ndarray, boxes: list[Box]) -> list[np.ndarray]:
        marks = self._fr.face_landmarks(rgb, boxes, model="small")
        return [five_points(m["left_eye"] + m["right_eye"], m["nose_tip"][0]) for m in marks]

    def detect(self, bgr: np.ndarray, rgb: np.ndarray | None = None, upsample: int | None = None) -> list[Detection]:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1]) if rgb is None else rgb
        boxes = self.locate(rgb, upsample)
        if not boxes:
            return []
        return [Detection(b, lm, 1.0) for b, lm in zip(boxes, self.landmarks(rgb, boxes), strict=True)]


def five_points(eye_corners: list[tuple[int, int]], nose: tuple[int, int]) -> np.ndarray:
    """Five landmarks from dlib's four eye corners and nose tip (mouth corners estimated below the nose)."""
    corners = np.asarray(eye_corners, dtype=np.float32).reshape(2, 2, 2)
    eyes = sorted(corners.mean(axis=1).tolist())  # the eye on the image's left first
    (lx, ly), (rx, ry) = eyes
    nx, ny = float(nose[0]), float(nose[1])
    mid = np.array([(lx + rx) / 2, (ly + ry) / 2])
    down = np.array([nx, ny]) - mid
    across = np.array([rx - lx, ry - ly]) / 2
    mouth = np.array([nx, ny]) + 0.75 * down
    return np.array([[lx, ly], [rx, ry], [nx, ny], mouth - 0.8 * across, mouth + 0.8 * across], dtype=np.float32)


def make_detector(
    spec: DetectorSpec, *, upsample: int = 0, model_dir: Path | None = None, max_width: int | None = None
) -> Detector:
    if spec.kind == "yunet":
        return YunetDetector(spec, model_dir, max_width)
    return HogDetector(spec, upsample=upsample)
