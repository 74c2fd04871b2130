"""A detector: a manifest entry, a backend and its layout's decoder, run on whole images or regions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from drivers.detectors import onnxruntime_backend
from drivers.detectors.letterbox import letterbox, to_blob
from drivers.detectors.manifest import ModelSpec, load_manifest, model_file
from drivers.detectors.nms import select
from drivers.detectors.types import Detection, ModelError

BackendName = Literal["opencv", "onnxruntime", "auto"]
Region = tuple[int, int, int, int]  # x, y, width, height in image pixels


class Backend(Protocol):
    name: str

    def infer(self, blob: np.ndarray) -> dict[str, np.ndarray]: ...


def open_backend(name: BackendName, path: Path, spec: ModelSpec, threads: int) -> Backend:
    if name == "auto":
        name = "onnxruntime" if onnxruntime_backend.available() else "opencv"
    input_name, output_names = spec.input.name, spec.layout.output_names()
    if name == "onnxruntime":
        return onnxruntime_backend.OnnxRuntimeBackend(path, input_name=input_name, output_names=output_names,
                                                      threads=threads)
    from drivers.detectors.opencv_dnn import OpenCvDnnBackend

    return OpenCvDnnBackend(path, input_name=input_name, output_names=output_names, threads=threads)


class Detector:
    def __init__(self, spec: ModelSpec, backend: Backend) -> None:
        self.spec = spec
        self.backend = backend
        self._check_outputs()

    @property
    def input_size(self) -> tuple[int, int]:
        return self.spec.input.width, self.spec.input.height

    def _check_outputs(self) -> None:
        """Run once on a blank input and compare every output with what the manifest implies."""
        w, h = self.input_size
        try:
            outputs = self.backend.infer(np.zeros((1, 3, h, w), np.float32))
        except ModelError as exc:
            raise ModelError(f"model {self.spec.name!r}: {exc}") from exc
        for name, expected in self.spec.expected_shapes().items():
            actual = outputs[name].shape
            if tuple(actual[-2:]) != expected[-2:] or int(np.prod(actual)) != int(np.prod(expected)):
                raise ModelError(
                    f"model {self.spec.name!r}: output {name!r} has shape {tuple(actual)}, but the manifest "
                    f"implies {expected} ({self.spec.layout.family} layout, {w}x{h} input, "
                    f"{len(self.spec.classes)} classes)"
                )

    def detect(
        self,
        image: np.ndarray,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        regions: Sequence[Region] | None = None,
    ) -> list[Detection]:
        """Detections in ``image`` pixels; with ``regions``, each region is run on its own and merged."""
        h, w = image.shape[:2]
        areas = list(regions) if regions else [(0, 0, w, h)]
        boxes, scores = [], []
        for x, y, rw, rh in areas:
            crop = image[y : y + rh, x : x + rw]
            if crop.size == 0:
                continue
            b, s = self._candidates(crop)
            b[:, [0, 2]] += x
            b[:, [1, 3]] += y
            boxes.append(b)
            scores.append(s)
        if not boxes:
            return []
        kept_boxes, kept_scores, kept_ids = select(
            np.concatenate(boxes), np.concatenate(scores), score_threshold=score_threshold, iou_threshold=iou_threshold
        )
        out = []
        for box, score, cls in zip(kept_boxes, kept_scores, kept_ids, strict=True):
            x1, y1, x2, y2 = np.clip(box, 0, [w, h, w, h]).tolist()
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            out.append(Detection(int(cls), self.spec.classes[int(cls)], float(score), (x1, y1, x2, y2)))
        return out

    def _candidates(self, crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.input_size
        canvas, placed = letterbox(crop, w, h, self.spec.preprocess)
        outputs = self.backend.infer(to_blob(canvas, self.spec.preprocess))
        boxes, scores = self.spec.layout.decode(outputs, w, h)
        # keep only candidates that could pass any threshold before the (cheap) mapping back
        keep = scores.max(axis=1) >= 0.05
        return placed.to_source(boxes[keep]), scores[keep]


def load_detector(
    name: str,
    *,
    manifest: Path | None = None,
    model_dir: Path | None = None,
    backend: BackendName = "opencv",
    threads: int = 1,
) -> Detector:
    """The named detector, after the sha256 check and a check of its outputs against the manifest."""
    spec = load_manifest(manifest).get(name)
    path = model_file(spec, model_dir)
    try:
        net = open_backend(backend, path, spec, threads)
    except ModelError as exc:
        raise ModelError(f"model {spec.name!r}: {exc}") from exc
    return Detector(spec, net)
