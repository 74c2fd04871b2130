"""YOLOv5 (and YOLOv7) output decoding: anchor-based, with objectness.

Two export forms:

- ``output`` (the usual ``export.py --include onnx``): one tensor 1 x N x (5 + C), N = anchors per cell x
  grid cells of every stride; columns 0-3 the box centre and size in input pixels (the graph already
  applied the grid and the anchors), 4 the objectness, 5.. the class scores, both through a sigmoid;
- ``outputs`` + ``anchors`` (a head exported without its decode step): one raw tensor per stride,
  1 x A x H x W x (5 + C) logits; after a sigmoid, x = (2v - 0.5 + grid_x) x stride and
  w = (2v)^2 x anchor_w (YOLOv5's formulas).

A candidate's class score is objectness x class. Boxes come out in input (letterboxed) pixels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from drivers.detectors.layout import LayoutBase, Shape, cells, sigmoid, xywh_to_xyxy
from drivers.detectors.types import ModelError


class Yolov5Layout(LayoutBase):
    family: Literal["yolov5"] = Field(description="YOLOv5 / YOLOv7 family: anchor boxes with objectness")
    output: str | None = Field(
        default="output0", description="the decoded output N x (5 + classes); unset when 'outputs' is given"
    )
    outputs: tuple[str, ...] | None = Field(
        default=None, description="raw per-stride outputs A x H x W x (5 + classes), in stride order"
    )
    anchors: tuple[tuple[float, ...], ...] = Field(
        default=((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326)),
        description="per stride, anchor widths and heights in input pixels (w1, h1, w2, h2, ...), as in the "
        "model's yaml; their count per stride is A",
    )
    strides: tuple[int, ...] = Field(default=(8, 16, 32), min_length=1, description="feature map strides")

    @model_validator(mode="after")
    def _one_form(self) -> Yolov5Layout:
        if self.outputs is not None and self.output is not None and "output" in self.model_fields_set:
            raise ValueError("give either 'output' (decoded) or 'outputs' (raw per stride), not both")
        if len(self.anchors) != len(self.strides):
            raise ValueError(f"{len(self.anchors)} anchor rows for {len(self.strides)} strides")
        if any(len(row) == 0 or len(row) % 2 for row in self.anchors) or len({len(r) for r in self.anchors}) > 1:
            raise ValueError("each anchor row must hold the same number of (width, height) pairs")
        if self.outputs is not None and len(self.outputs) != len(self.strides):
            raise ValueError(f"{len(self.outputs)} raw outputs for {len(self.strides)} strides")
        return self

    @property
    def raw(self) -> bool:
        return self.outputs is not None

    @property
    def anchors_per_cell(self) -> int:
        return len(self.anchors[0]) // 2

    def output_names(self) -> tuple[str, ...]:
        if self.outputs is not None:
            return self.outputs
        assert self.output is not None
        return (self.output,)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, Shape]:
        a = self.anchors_per_cell
        if self.outputs is not None:
            return {
                name: (1, a, height // s, width // s, 5 + classes)
                for name, s in zip(self.outputs, self.strides, strict=True)
            }
        assert self.output is not None
        return {self.output: (1, a * cells(width, height, self.strides), 5 + classes)}

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        if self.outputs is None:
            assert self.output is not None
            raw = outputs[self.output]
            rows = raw.reshape(-1, raw.shape[-1]).astype(np.float32, copy=False)
            return xywh_to_xyxy(rows[:, 0:4]), rows[:, 4:5] * rows[:, 5:]
        levels = []
        for name, stride, anchors in zip(self.outputs, self.strides, self.anchors, strict=True):
            levels.append(_decode_raw_level(outputs[name], stride, anchors, width, height))
        boxes, scores = zip(*levels, strict=True)
        return np.concatenate(boxes), np.concatenate(scores)


def _decode_raw_level(
    raw: np.ndarray, stride: int, anchors: tuple[float, ...], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    a = len(anchors) // 2
    gh, gw = height // stride, width // stride
    k = raw.shape[-1]
    if raw.size != a * gh * gw * k:
        raise ModelError(
            f"YOLOv5 stride {stride}: output of shape {raw.shape}, but {a} anchors on a {gw}x{gh} grid "
            f"need {a} x {gh} x {gw} x {k} values"
        )
    v = sigmoid(raw.reshape(a, gh, gw, k).astype(np.float32, copy=False))
    ys, xs = np.mgrid[0:gh, 0:gw]
    grid = np.stack((xs, ys), axis=-1).astype(np.float32)  # gh x gw x 2
    size = np.asarray(anchors, np.float32).reshape(a, 1, 1, 2)
    xy = (v[..., 0:2] * 2 - 0.5 + grid) * stride
    wh = (v[..., 2:4] * 2) ** 2 * size
    xywh = np.concatenate((xy, wh), axis=-1).reshape(-1, 4)
    flat = v.reshape(-1, k)
    return xywh_to_xyxy(xywh), flat[:, 4:5] * flat[:, 5:]
