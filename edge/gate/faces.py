"""The per-frame vision step of a gate: detect, check quality, embed, and score liveness, in whichever process calls it.

``FaceAnalyzer.analyze(image)`` runs the models the gate names in models/faces.yaml (detector YuNet or HOG,
embedding MobileFaceNet or dlib, liveness MiniFASNetV2 unless the gate's liveness mode is ``off``). Faces
below the quality gates (``QualityGates``: size, sharpness, pose) are dropped before the embedding, which is
the expensive half, and never count as anyone: the gate waits for a better frame. The frame is used as it
is (no quarter-size shortcut: with HOG it finds no face at all on the shared clip).

With ``track`` on and the HOG detector, a frame that follows one with faces is searched only around those
faces (``ROI_MARGIN`` of the face size on each side): HOG cost grows with the area. The whole frame is
searched again when a region finds nothing, and every ``full_every`` frames anyway. YuNet is cheap enough to
search the whole frame every time.

With ``reuse_after`` set (the gate's n), a face that stands still may take its embedding and p(live) from the
previous frame, for one frame at a time (edge.gate.still says exactly when); each ``Face`` names the
computation it comes from (``evidence``), and the decision counts distinct evidence, never a reused result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edge.gate.detect import Box, Detection, HogDetector, face_recognition, make_detector
from edge.gate.embed import DlibEmbedder, make_embedder
from edge.gate.liveness import LivenessModel
from edge.gate.models import load_face_manifest
from edge.gate.quality import Quality, quality
from edge.gate.still import StillFaces, iou, thumbnail

ENCODING_DIM = 128
ROI_MARGIN = 0.75
DEFAULT_DETECTOR = "yunet"
DEFAULT_EMBEDDING = "mobilefacenet"

__all__ = ["ENCODING_DIM", "Face", "FaceAnalyzer", "QualityGates", "face_recognition"]


@dataclass(slots=True, frozen=True)
class Face:
    """One face in one frame: box as (top, right, bottom, left) pixels, its embedding, and what else was measured."""

    box: tuple[int, int, int, int]
    encoding: np.ndarray
    landmarks: np.ndarray | None = None
    live: float | None = None  # p(live) from the liveness model; None when liveness is off
    quality: Quality | None = None
    model: str = DEFAULT_EMBEDDING
    evidence: int | None = None  # the fresh computation the embedding and p(live) come from (edge.gate.still)

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


@dataclass(slots=True, frozen=True)
class QualityGates:
    """Faces worse than this are not matched (see edge.gate.quality for the measures)."""

    min_face_px: int = 0
    min_sharpness: float = 0.0
    max_yaw: float = 9.0
    pitch_range: tuple[float, float] = (-9.0, 9.0)

    def size_problem(self, height: int) -> str | None:
        """The one gate that needs no pixels: checked first, so small faces cost no sharpness measure."""
        return f"face {height} px < {self.min_face_px}" if height < self.min_face_px else None

    def problem(self, q: Quality) -> str | None:
        if small := self.size_problem(q.height):
            return small
        if q.sharpness < self.min_sharpness:
            return f"blurred ({q.sharpness:.0f} < {self.min_sharpness:.0f})"
        if abs(q.yaw) > self.max_yaw:
            return f"turned away (yaw {q.yaw:+.2f})"
        if not self.pitch_range[0] <= q.pitch <= self.pitch_range[1]:
            return f"looking up or down (pitch {q.pitch:.2f})"
        return None


@dataclass(slots=True)
class Rejected:
    box: Box
    reason: str


class FaceAnalyzer:
    def __init__(
        self,
        *,
        detector: str = DEFAULT_DETECTOR,
        embedding: str = DEFAULT_EMBEDDING,
        liveness: bool = True,
        upsample: int = 0,
        model: Literal["small", "large"] = "small",
        min_face_px: int = 0,
        gates: QualityGates | None = None,
        track: bool = False,
        full_every: int = 5,
        model_dir: Path | None = None,
        detect_width: int | None = 400,
        reuse_after: int | None = None,
    ) -> None:
        manifest = load_face_manifest()
        self.gates = gates or QualityGates(min_face_px=min_face_px)
        self.detector = make_detector(
            manifest.detector(detector), upsample=upsample, model_dir=model_dir, max_width=detect_width
        )
        self.embedder = make_embedder(manifest.embedding(embedding), landmarks=model, model_dir=model_dir)
        self.liveness = LivenessModel(manifest.liveness_model(), model_dir) if liveness else None
        self.model = model
        self.track = track and isinstance(self.detector, HogDetector)
        self.full_every = full_every
        self._last: list[Box] = []
        self._since_full = 0
        self.full_detections = 0
        self.roi_detections = 0
        self.rejected: list[Rejected] = []  # of the last frame
        self.still = StillFaces(reuse_after)

    @property
    def embedding(self) -> str:
        return self.embedder.name

    # -- detection ------------------------------------------------------------------------------
    def _around(self, bgr: np.ndarray, rgb: np.ndarray, boxes: list[Box]) -> list[Detection]:
        """HOG detections in the regions around ``boxes`` (frame coordinates, duplicates dropped)."""
        assert isinstance(self.detector, HogDetector)
        height, width = rgb.shape[:2]
        found: list[Box] = []
        for top, right, bottom, left in boxes:
            pad = int(ROI_MARGIN * max(bottom - top, right - left))
            y0, y1 = max(0, top - pad), min(height, bottom + pad)
            x0, x1 = max(0, left - pad), min(width, right + pad)
            for t, r, b, lft in self.detector.locate(np.ascontiguousarray(rgb[y0:y1, x0:x1])):
                box = (t + y0, r + x0, b + y0, lft + x0)
                if not any(iou(box, other) > 0.5 for other in found):
                    found.append(box)
        if not found:
            return []
        return [Detection(b, lm, 1.0) for b, lm in zip(found, self.detector.landmarks(rgb, found), strict=True)]

    def detect(self, bgr: np.ndarray, rgb: np.ndarray) -> list[Detection]:
        if self.track and self._last and self._since_full < self.full_every - 1:
            found = self._around(bgr, rgb, self._last)
            if found:
                self._since_full += 1
                self.roi_detections += 1
                self._last = [d.box for d in found]
                return found
        found = self.detector.detect(bgr, rgb)
        self._since_full = 0
        self.full_detections += 1
        self._last = [d.box for d in found]
        return found

    # -- the whole step -------------------------------------------------------------------------
    def faces_of(self, bgr: np.ndarray, rgb: np.ndarray, detections: list[Detection]) -> list[Face]:
        """Quality-gate, embed and score the detections of one frame (largest first)."""
        return self._measured(bgr, rgb, self._usable(bgr, detections))

    def _usable(self, bgr: np.ndarray, detections: list[Detection]) -> list[tuple[Detection, Quality]]:
        """The detections that pass the quality gates, largest first; the others go to ``rejected``."""
        self.rejected = []
        usable: list[tuple[Detection, Quality]] = []
        for d in sorted(detections, key=lambda d: -d.height):
            if small := self.gates.size_problem(d.height):
                self.rejected.append(Rejected(d.box, small))
                continue
            q = quality(bgr, d)
            if problem := self.gates.problem(q):
                self.rejected.append(Rejected(d.box, problem))
            else:
                usable.append((d, q))
        return usable

    def _measured(self, bgr: np.ndarray, rgb: np.ndarray, usable: list[tuple[Detection, Quality]]) -> list[Face]:
        """Embedding and p(live) of each usable face: computed, or reused where the face is still."""
        plans = []
        for d, q in usable:
            track, thumb = self.still.follow(d), thumbnail(bgr, d.box)
            plans.append((d, q, track, thumb, self.still.reusable(track, d, thumb)))
        vectors = iter(self.embedder.embed(bgr, rgb, [d for d, _, _, _, reused in plans if reused is None]))
        faces = []
        for d, q, track, thumb, reusable in plans:
            if reusable is not None and track is not None:
                result = self.still.reuse(track)
            else:
                live = self.liveness.p_live(bgr, d.box) if self.liveness is not None else None
                result = self.still.computed(track, d, thumb, next(vectors), live)
            faces.append(Face(d.box, result.encoding, d.landmarks, result.live, q, self.embedder.name, result.evidence))
        self.still.end_frame()
        return faces

    def analyze(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces that pass the quality gates in a BGR frame (as OpenCV decodes it), largest first."""
        needs_rgb = isinstance(self.detector, HogDetector) or isinstance(self.embedder, DlibEmbedder)
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1]) if needs_rgb else image_bgr  # only dlib wants RGB
        return self.faces_of(image_bgr, rgb, self.detect(image_bgr, rgb))
