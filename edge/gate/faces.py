"""Face detection and 128-d encodings with face_recognition (dlib HOG + ResNet), in whichever process calls it.

``FaceAnalyzer.analyze(image)`` is the whole per-frame vision step of a gate: detect on the frame as it is
(no quarter-size shortcut: on the shared clip it finds no face at all), drop faces below the minimum size
before encoding them (encoding is the expensive half), encode the rest. face_recognition is imported on
first use so that modules which only match or store encodings stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

ENCODING_DIM = 128


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
        self, *, upsample: int = 0, model: Literal["small", "large"] = "small", min_face_px: int = 0
    ) -> None:
        self.upsample = upsample
        self.model = model
        self.min_face_px = min_face_px
        self._fr = face_recognition()

    def locate(self, rgb: np.ndarray, upsample: int | None = None) -> list[tuple[int, int, int, int]]:
        boxes = self._fr.face_locations(rgb, self.upsample if upsample is None else upsample)
        return [tuple(int(v) for v in box) for box in boxes]

    def analyze(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces of at least ``min_face_px`` in a BGR frame (as OpenCV decodes it), largest first."""
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        boxes = [b for b in self.locate(rgb) if b[2] - b[0] >= self.min_face_px]
        if not boxes:
            return []
        boxes.sort(key=lambda b: b[0] - b[2])
        encodings = self._fr.face_encodings(rgb, boxes, model=self.model)
        return [Face(box, np.asarray(enc, dtype=np.float64)) for box, enc in zip(boxes, encodings, strict=True)]
