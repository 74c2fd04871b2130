"""A detector: a manifest entry, a backend and its layout's decoder, run on whole images or regions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from drivers.detectors import onnxruntime_backend
from drivers.detectors.layout import shape_matches
from drivers.detectors.letterbox import Letterbox, letterbox, to_blob
from drivers.detectors.manifest import ModelSpec, load_manifest, model_file
from drivers.detectors.nms import select
from drivers.detectors.types import Detection, ModelError

BackendName = Literal["opencv", "onnxruntime", "auto"]
Region = tuple[int, int, int, int]  # x, y, width, height in image pixels


class Backend(Protocol):
    name: str

    def infer(self, blob: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]: ...


def open_backend(name: BackendName, path: Path, spec: ModelSpec, threads: int) -> Backend:
    if name == "auto":
        name = "onnxruntime" if onnxruntime_backend.available() else "opencv"
    input_name, output_names = spec.input.name, spec.layout.output_names()
    extra = tuple(spec.layout.extra_inputs(spec.input.width, spec.input.height))
    if name == "onnxruntime":
        return onnxruntime_backend.OnnxRuntimeBackend(
            path, input_name=input_name, output_names=output_names, threads=threads, extra_inputs=extra
        )
    from drivers.detectors.opencv_dnn import OpenCvDnnBackend

    return OpenCvDnnBackend(path, input_name=input_name, output_names=output_names, threads=threads, extra_inputs=extra)


class Detector:
    def __init__(self, spec: ModelSpec, backend: Backend, *, max_batch: int = 1) -> None:
        self.spec = spec
        self.backend = backend
        self._extra = spec.layout.extra_inputs(spec.input.width, spec.input.height)
        self._check_outputs()
        self.max_batch = self._probe_batch(max_batch) if max_batch > 1 else 1

    @property
    def input_size(self) -> tuple[int, int]:
        return self.spec.input.width, self.spec.input.height

    def _check_outputs(self) -> None:
        """Run once on a blank input and compare every output with what the manifest implies."""
        w, h = self.input_size
        try:
            outputs = self.backend.infer(np.zeros((1, 3, h, w), np.float32), self._extra)
        except ModelError as exc:
            raise ModelError(f"model {self.spec.name!r}: {exc}") from exc
        for name, expected in self.spec.expected_shapes().items():
            actual = outputs[name].shape
            if not shape_matches(tuple(actual), expected):
                raise ModelError(
                    f"model {self.spec.name!r}: output {name!r} has shape {tuple(actual)}, but the manifest "
                    f"implies {expected} ({self.spec.layout.family} layout, {w}x{h} input, "
                    f"{len(self.spec.classes)} classes)"
                )

    def _probe_batch(self, wanted: int) -> int:
        """``wanted`` if the network runs a batch of two inputs and gives two sets of outputs, else 1."""
        if self._extra:
            return 1  # extra inputs (PicoDet's scale factor) are per image
        w, h = self.input_size
        try:
            outputs = self.backend.infer(np.zeros((2, 3, h, w), np.float32), self._extra)
        except ModelError:
            return 1
        expected = self.spec.expected_shapes()
        for name, value in outputs.items():
            one, shape = expected.get(name), value.shape
            if one is None or -1 in one or shape[0] != 2 or int(np.prod(shape)) != 2 * int(np.prod(one)):
                return 1
        return wanted

    def detect(
        self,
        image: np.ndarray,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        regions: Sequence[Region] | None = None,
    ) -> list[Detection]:
        """Detections in ``image`` pixels; with ``regions``, each region is run on its own and merged."""
        return self.detect_many([(image, regions)], score_threshold=score_threshold, iou_threshold=iou_threshold)[0]

    def detect_many(
        self,
        items: Sequence[tuple[np.ndarray, Sequence[Region] | None]],
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
    ) -> list[list[Detection]]:
        """``detect`` for several images (each with its regions), in batches of up to ``max_batch`` crops
        where the network takes a batch: what a detector shared by several cameras runs."""
        crops: list[tuple[int, int, int, np.ndarray]] = []  # image index, x, y, crop
        for index, (image, regions) in enumerate(items):
            h, w = image.shape[:2]
            for x, y, rw, rh in list(regions) if regions else [(0, 0, w, h)]:
                crop = image[y : y + rh, x : x + rw]
                if crop.size:
                    crops.append((index, x, y, crop))
        per_image: list[tuple[list[np.ndarray], list[np.ndarray]]] = [([], []) for _ in items]
        for start in range(0, len(crops), self.max_batch):
            chunk = crops[start : start + self.max_batch]
            for (index, x, y, _), (b, s) in zip(chunk, self._candidates_batch([c[3] for c in chunk]), strict=True):
                b[:, [0, 2]] += x
                b[:, [1, 3]] += y
                per_image[index][0].append(b)
                per_image[index][1].append(s)
        return [
            self._select(image, boxes, scores, score_threshold, iou_threshold)
            for (image, _), (boxes, scores) in zip(items, per_image, strict=True)
        ]

    def _select(
        self,
        image: np.ndarray,
        boxes: list[np.ndarray],
        scores: list[np.ndarray],
        score_threshold: float,
        iou_threshold: float,
    ) -> list[Detection]:
        h, w = image.shape[:2]
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

    def _candidates_batch(self, crops: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        w, h = self.input_size
        placed: list[Letterbox] = []
        blobs = []
        for crop in crops:
            canvas, where = letterbox(crop, w, h, self.spec.preprocess)
            placed.append(where)
            blobs.append(to_blob(canvas, self.spec.preprocess))
        outputs = self.backend.infer(np.concatenate(blobs) if len(blobs) > 1 else blobs[0], self._extra)
        out = []
        for i, where in enumerate(placed):
            one = outputs if len(crops) == 1 else {k: v[i : i + 1] for k, v in outputs.items()}
            boxes, scores = self.spec.layout.decode(one, w, h)
            scores = self._fit_classes(scores)
            # keep only candidates that could pass any threshold before the (cheap) mapping back
            keep = scores.max(axis=1) >= 0.05 if scores.size else np.zeros(0, bool)
            out.append((where.to_source(boxes[keep]), scores[keep]))
        return out

    def _fit_classes(self, scores: np.ndarray) -> np.ndarray:
        n = len(self.spec.classes)
        if scores.shape[1] == n:
            return scores
        if scores.shape[1] < n:  # a network's own NMS result: as many columns as its highest class id
            return np.pad(scores, ((0, 0), (0, n - scores.shape[1])))
        raise ModelError(
            f"model {self.spec.name!r}: the network gave class id {scores.shape[1] - 1}, but the manifest lists "
            f"{n} classes"
        )


def load_detector(
    name: str,
    *,
    manifest: Path | None = None,
    model_dir: Path | None = None,
    backend: BackendName = "opencv",
    threads: int = 1,
    max_batch: int = 1,
) -> Detector:
    """The named detector, after the sha256 check and a check of its outputs against the manifest."""
    spec = load_manifest(manifest).get(name)
    path = model_file(spec, model_dir)
    try:
        net = open_backend(backend, path, spec, threads)
    except ModelError as exc:
        raise ModelError(f"model {spec.name!r}: {exc}") from exc
    return Detector(spec, net, max_batch=max_batch)
