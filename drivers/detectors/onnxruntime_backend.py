"""Detector backend: onnxruntime, used only where it is installed (it is not a dependency)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from drivers.detectors.types import ModelError


def available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(
        self,
        path: Path,
        *,
        input_name: str | None,
        output_names: tuple[str, ...],
        threads: int,
        extra_inputs: tuple[str, ...] = (),
    ) -> None:
        if not available():
            raise ModelError("backend 'onnxruntime' is configured but onnxruntime is not installed")
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, not importable portably
            raise ModelError(f"onnxruntime cannot read {path}: {exc}") from exc
        inputs = [i.name for i in self._session.get_inputs()]
        if input_name is not None and input_name not in inputs:
            raise ModelError(f"the network has no input {input_name!r}; its inputs are {inputs}")
        self._input = input_name or inputs[0]
        unknown = [n for n in extra_inputs if n not in inputs]
        if unknown:
            raise ModelError(f"the network has no inputs {unknown}; its inputs are {inputs}")
        missing = [n for n in output_names if n not in self.output_names()]
        if missing:
            raise ModelError(f"the network has no outputs {missing}; its outputs are {self.output_names()}")
        self._outputs = list(output_names)

    def infer(self, blob: np.ndarray, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        try:
            outs = self._session.run(self._outputs, {self._input: blob, **(extra or {})})
        except Exception as exc:  # onnxruntime's own exception types
            raise ModelError(f"onnxruntime could not run the network on a {blob.shape} input: {exc}") from exc
        return dict(zip(self._outputs, outs, strict=True))

    def output_names(self) -> list[str]:
        return [o.name for o in self._session.get_outputs()]
