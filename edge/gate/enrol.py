"""Enrolment: a photo of one person becomes one embedding per model of the manifest, or a clear error saying why.

A photo must decode as an image and show one person: the largest face is theirs, and any other face must be
much smaller (a passer-by in the background, a partial face at the edge); two faces of similar size are a
group photo and refused rather than guessing who is meant. Faces are found with YuNet (it finds the turned
faces HOG misses); a photo where it finds none is looked at again at twice the size. Large photos are scaled
to ``MAX_SIDE`` first. Every embedding model of models/faces.yaml is computed (``Enrolled.encodings``), so a
gate can switch models without residents coming back; the photo itself is kept only on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.gate.detect import Detection, make_detector
from edge.gate.embed import Embedder, make_embedder
from edge.gate.models import load_face_manifest

MAX_SIDE = 1024
MAX_PHOTO_BYTES = 20 * 1024 * 1024
ENROL_DETECTOR = "yunet"
SECOND_FACE_RATIO = 0.6  # a second face at least this tall (relative to the largest) makes it a group photo


class EnrolmentError(ValueError):
    """A photo cannot be enrolled; the message names the photo and the reason."""


@dataclass(slots=True, frozen=True)
class Enrolled:
    source: str
    encodings: dict[str, np.ndarray]  # model name -> embedding
    face_px: int
    jpeg: bytes

    @property
    def encoding(self) -> np.ndarray:
        """The embedding of the first model (the manifest's order; MobileFaceNet by default)."""
        return next(iter(self.encodings.values()))


def decode_photo(data: bytes, source: str) -> np.ndarray:
    if not data:
        raise EnrolmentError(f"{source}: empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise EnrolmentError(f"{source}: {len(data)} bytes is over the {MAX_PHOTO_BYTES} byte limit for a photo")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise EnrolmentError(f"{source}: not a readable image (corrupt, truncated or not JPEG/PNG)")
    return image


def fit(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def the_person(detections: list[Detection], source: str) -> Detection:
    """The one person of an enrolment photo, or EnrolmentError (no face, or a group)."""
    if not detections:
        raise EnrolmentError(f"{source}: no face found (use a clear, frontal photo of one person)")
    ordered = sorted(detections, key=lambda d: -d.height)
    crowd = [d for d in ordered[1:] if d.height >= SECOND_FACE_RATIO * ordered[0].height]
    if crowd:
        raise EnrolmentError(f"{source}: {len(crowd) + 1} faces found; an enrolment photo must show exactly one person")
    return ordered[0]


class Enroller:
    """Turns photos into embeddings; keep one per process (it holds the loaded models)."""

    def __init__(self, embeddings: Sequence[str] | None = None, *, model_dir: Path | None = None) -> None:
        manifest = load_face_manifest()
        names = list(embeddings) if embeddings is not None else [e.name for e in manifest.embeddings]
        self.detector = make_detector(manifest.detector(ENROL_DETECTOR), model_dir=model_dir)
        self.embedders: list[Embedder] = [make_embedder(manifest.embedding(n), model_dir=model_dir) for n in names]

    def locate(self, image: np.ndarray, source: str) -> tuple[np.ndarray, Detection]:
        """The image the face was found in (maybe enlarged) and the person's detection."""
        found = self.detector.detect(image)
        if not found and max(image.shape[:2]) < MAX_SIDE:
            image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            found = self.detector.detect(image)
        return image, the_person(found, source)

    def embed(self, image: np.ndarray, detection: Detection) -> dict[str, np.ndarray]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        return {e.name: e.embed(image, rgb, [detection])[0] for e in self.embedders}

    def enrol_image(self, image: np.ndarray, source: str = "photo") -> Enrolled:
        image, person = self.locate(fit(image, MAX_SIDE), source)
        ok, jpeg = cv2.imencode(".jpg", fit(image, 480), [cv2.IMWRITE_JPEG_QUALITY, 80])
        return Enrolled(source, self.embed(image, person), person.height, jpeg.tobytes() if ok else b"")

    def enrol_bytes(self, data: bytes, source: str = "photo") -> Enrolled:
        return self.enrol_image(decode_photo(data, source), source)

    def enrol_file(self, path: str | Path) -> Enrolled:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EnrolmentError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        return self.enrol_bytes(data, str(path))
