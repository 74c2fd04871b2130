"""Face embeddings of the manifest: MobileFaceNet on the face aligned to the 5 landmarks, or dlib's ResNet.

- MobileFaceNet (OpenCV DNN): the five landmarks are mapped onto the ArcFace 112x112 template by a
  similarity transform (``cv2.estimateAffinePartial2D``), the warped face is fed as RGB / 255 with the
  ImageNet mean and std, and the 128-d output is L2-normalised (the distance is 1 - cosine).
- dlib (face_recognition): the face box goes to ``face_encodings``, which aligns on its own 5-point model.

``embed(bgr, rgb, detections)`` returns one float32 vector per detection, in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from edge.gate.detect import Detection, face_recognition
from edge.gate.models import EmbeddingSpec

ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


class Embedder(Protocol):
    name: str
    metric: str

    def embed(self, bgr: np.ndarray, rgb: np.ndarray, detections: list[Detection]) -> list[np.ndarray]: ...


def align(bgr: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """The face warped onto the ArcFace five-point template (scaled for sizes other than 112x112)."""
    template = ARCFACE_112 * np.array([size[0] / 112.0, size[1] / 112.0], dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the plain similarity of the eyes
        matrix = cv2.getAffineTransform(landmarks[:3].astype(np.float32), template[:3])
    return cv2.warpAffine(bgr, matrix, size, borderMode=cv2.BORDER_CONSTANT)


def normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


class OnnxAlignedEmbedder:
    def __init__(self, spec: EmbeddingSpec, model_dir: Path | None = None) -> None:
        assert spec.input is not None and spec.preprocess is not None
        self.name, self.dim = spec.name, spec.dim
        self.metric: str = spec.metric
        self.size = (spec.input.width, spec.input.height)
        pre = spec.preprocess
        self._rgb = pre.channels == "rgb"
        self._scale = pre.scale
        self._mean = np.asarray(pre.mean, dtype=np.float32)
        self._std = np.asarray(pre.std, dtype=np.float32)
        self._net = cv2.dnn.readNetFromONNX(str(spec.path(model_dir)))

    def blob(self, face_bgr: np.ndarray) -> np.ndarray:
        pixels = face_bgr[:, :, ::-1] if self._rgb else face_bgr
        x = (pixels.astype(np.float32) * self._scale - self._mean) / self._std
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def embed_aligned(self, face_bgr: np.ndarray) -> np.ndarray:
        self._net.setInput(self.blob(face_bgr))
        out = np.asarray(self._net.forward(), dtype=np.float32).reshape(-1)
        if out.shape[0] != self.dim:
            raise ValueError(f"embedding {self.name}: network gave {out.shape[0]} values, manifest says {self.dim}")
        return normalised(out) if self.metric == "cosine" else out

    def embed(self, bgr: np.ndarray, rgb: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        return [self.embed_aligned(align(bgr, d.landmarks, self.size)) for d in detections]


class DlibEmbedder:
    def __init__(self, spec: EmbeddingSpec, landmarks: Literal["small", "large"] = "small") -> None:
        self.name, self.dim = spec.name, spec.dim
        self.metric: str = spec.metric
        self.landmarks = landmarks
        self._fr = face_recognition()

    def embed(self, bgr: np.ndarray, rgb: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        if not detections:
            return []
        encodings = self._fr.face_encodings(rgb, [d.box for d in detections], model=self.landmarks)
        out = [np.asarray(e, dtype=np.float32) for e in encodings]
        return [normalised(e) for e in out] if self.metric == "cosine" else out


def make_embedder(
    spec: EmbeddingSpec, *, landmarks: Literal["small", "large"] = "small", model_dir: Path | None = None
) -> Embedder:
    if spec.kind == "onnx_aligned":
        return OnnxAlignedEmbedder(spec, model_dir)
    return DlibEmbedder(spec, landmarks)
