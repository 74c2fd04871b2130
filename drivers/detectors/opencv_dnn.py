"""Detector backend: OpenCV's DNN module (ONNX)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from drivers.detectors.types import ModelError


class OpenCvDnnBackend:
    name = "opencv"

    def __init__(
        self,
        path: Path,
        *,
        input_name: str | None,
        output_names: tuple[str, ...],
        threads: int,
        extra_inputs: tuple[str, ...] = (),
    ) -> None:
        if threads > 0:
            cv2.setNumThreads(threads)
        try:
            self._net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise ModelError(f"OpenCV cannot read {path}: {_first_line(exc)}") from exc
        self._input = input_name or ""
        self._outputs = list(output_names)
        known = self.output_names()
        missing = [n for n in self._outputs if n not in known]
        if known and missing:
            raise ModelError(f"the network has no outputs {missing}; its outputs are {known}")

    def infer(self, blob: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        try:
            self._net.setInput(blob, self._input)
        except cv2.error as exc:
            raise ModelError(f"the network has no input {self._input!r}: {_first_line(exc)}") from exc
        for name, value in (extra or {}).items():
            try:
                self._net.setInput(value, name)
            except cv2.error as exc:
                raise ModelError(f"the network has no input {name!r}: {_first_line(exc)}") from exc
        try:
            outs = self._net.forward(self._outputs)
        except cv2.error as exc:
            raise ModelError(
                f"OpenCV could not run the network on a {blob.shape[3]}x{blob.shape[2]} input "
                f"(is that the size it takes?): {_first_line(exc)}"
            ) from exc
        return dict(zip(self._outputs, outs, strict=True))

    def output_names(self) -> list[str]:
        try:
            return list(self._net.getUnconnectedOutLayersNames())
        except cv2.error:
            return []


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
