"""Enrolment: a photo of one person becomes one 128-d encoding, or a clear error saying what is wrong.

A photo must decode as an image and show exactly one face; a group photo is refused rather than guessing
who is meant. Large photos are scaled to ``MAX_SIDE`` first (faces in portrait photos are large, and it
keeps enrolment near 100 ms a photo); a face too small at that size is looked for again with upsampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.gate.faces import Face, FaceAnalyzer

MAX_SIDE = 1024
MAX_PHOTO_BYTES = 20 * 1024 * 1024


class EnrolmentError(ValueError):
    """A photo cannot be enrolled; the message names the photo and the reason."""


@dataclass(slots=True, frozen=True)
class Enrolled:
    source: str
    encoding: np.ndarray
    face_px: int
    jpeg: bytes


def decode_photo(data: bytes, source: str) -> np.ndarray:
    if not data:
        raise EnrolmentError(f"{source}: empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise EnrolmentError(f"{source}: {len(data)} bytes is over the {MAX_PHOTO_BYTES} byte limit for a photo")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise EnrolmentError(f"{source}: not a readable image (corrupt, truncated or not JPEG/PNG)")
    return image


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class Enroller:
    """Turns photos into encodings; keep one per process (it holds the loaded models)."""

    def __init__(self, analyzer: FaceAnalyzer | None = None) -> None:
        self.analyzer = analyzer or FaceAnalyzer(upsample=0)

    def enrol_bytes(self, data: bytes, source: str = "photo") -> Enrolled:
        image = _fit(decode_photo(data, source), MAX_SIDE)
        faces = self.analyzer.analyze(image)
        if not faces:
            rgb = np.ascontiguousarray(image[:, :, ::-1])
            boxes = self.analyzer.locate(rgb, upsample=1)
            if boxes:
                encodings = self.analyzer._fr.face_encodings(rgb, boxes, model=self.analyzer.model)
                faces = [Face(b, np.asarray(e, dtype=np.float64)) for b, e in zip(boxes, encodings, strict=True)]
        if not faces:
            raise EnrolmentError(f"{source}: no face found (use a clear, frontal photo of one person)")
        if len(faces) > 1:
            raise EnrolmentError(
                f"{source}: {len(faces)} faces found; an enrolment photo must show exactly one person"
            )
        ok, jpeg = cv2.imencode(".jpg", _fit(image, 480), [cv2.IMWRITE_JPEG_QUALITY, 80])
        return Enrolled(source, faces[0].encoding, faces[0].height, jpeg.tobytes() if ok else b"")

    def enrol_file(self, path: str | Path) -> Enrolled:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EnrolmentError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        return self.enrol_bytes(data, str(path))
