"""Detector backend: OpenCV's DNN module (ONNX)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from drivers.detectors.types import ModelError


class OpenCvDnnBackend:
    name = "opencv"

    def __init__(self, path: Path, *, input_name: str | None, output_names: tuple[str, ...], threads: int) -> None:
        if threads > 0:
            cv2.setNumThreads(threads)
        try:
            self._net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise ModelError(f"OpenCV cannot read {path}: {_first_line(exc)}") from exc
        self._input = input_name or ""
        self._outputs = list(output_names)

    def infer(self, blob: np.ndarray) -> dict[str, np.ndarray]:
        self._net.setInput(blob, self._input)
        try:
            outs = self._net.forward(self._outputs)
        except cv2.error as exc:
            raise ModelError(
                f"OpenCV could not compute outputs {self._outputs}: {_first_line(exc)}"
                f" (the network's outputs are {self.output_names()})"
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
