"""PicoDet (PaddleDetection) output decoding, in the three forms its ONNX exports take.

- ``post_process: none`` (``export.post_process=False``): per stride (8, 16, 32, 64 by default) a class
  score tensor 1 x N x C (through a sigmoid) and a distribution tensor 1 x N x 4*bins (GFL, as NanoDet:
  softmax per side, expected bin x stride = distance from the cell centre to that side);
- ``post_process: decoded`` (``export.nms=False``): boxes 1 x N x 4 (x1y1x2y2, input pixels) and scores
  1 x C x N, before NMS;
- ``post_process: nms`` (the default export, NMS in the graph): one tensor K x 6 of rows (class, score,
  x1, y1, x2, y2), K varying with the picture; the graph takes a second input, ``scale_factor`` (and on
  older exports ``im_shape``), fed here so that the boxes stay in input pixels.

Boxes come out in input pixels. PicoDet resizes without keeping the aspect: ``preprocess.pad: stretch``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from drivers.detectors.layout import LayoutBase, Shape
from drivers.detectors.nanodet import decode_nanodet


class PicodetLayout(LayoutBase):
    family: Literal["picodet"] = Field(description="PicoDet family (PaddleDetection), with or without its NMS")
    post_process: Literal["none", "decoded", "nms"] = Field(
        description="none: per-stride score and distribution tensors; decoded: boxes and scores before NMS; "
        "nms: the graph's own NMS result"
    )
    cls_outputs: tuple[str, ...] = Field(default=(), description="post_process none: score tensor per stride")
    box_outputs: tuple[str, ...] = Field(default=(), description="post_process none: distribution tensor per stride")
    strides: tuple[int, ...] = Field(default=(8, 16, 32, 64), min_length=1, description="feature map strides")
    bins: int = Field(default=8, ge=1, le=64, description="post_process none: distribution bins per side")
    boxes_output: str | None = Field(default=None, description="post_process decoded: the 1 x N x 4 box tensor")
    scores_output: str | None = Field(default=None, description="post_process decoded: the 1 x C x N score tensor")
    output: str | None = Field(default=None, description="post_process nms: the K x 6 result tensor")
    scale_factor_input: str | None = Field(
        default="scale_factor", description="post_process nms: name of the scale-factor input (fed 1, 1)"
    )
    im_shape_input: str | None = Field(
        default=None, description="post_process nms: name of the im_shape input of older exports, if any"
    )

    @model_validator(mode="after")
    def _fields_of_the_form(self) -> PicodetLayout:
        if self.post_process == "none":
            if not self.cls_outputs or len(self.cls_outputs) != len(self.strides):
                raise ValueError("post_process none needs one cls_outputs name per stride")
            if len(self.box_outputs) != len(self.strides):
                raise ValueError("post_process none needs one box_outputs name per stride")
        elif self.post_process == "decoded":
            if not self.boxes_output or not self.scores_output:
                raise ValueError("post_process decoded needs boxes_output and scores_output")
        elif not self.output:
            raise ValueError("post_process nms needs output (the K x 6 result tensor)")
        return self

    def _cells(self, width: int, height: int, stride: int) -> int:
        return math.ceil(height / stride) * math.ceil(width / stride)

    def output_names(self) -> tuple[str, ...]:
        if self.post_process == "none":
            return (*self.cls_outputs, *self.box_outputs)
        if self.post_process == "decoded":
            assert self.boxes_output and self.scores_output
            return (self.boxes_output, self.scores_output)
        assert self.output
        return (self.output,)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, Shape]:
        if self.post_process == "none":
            shapes: dict[str, Shape] = {}
            for cls, box, s in zip(self.cls_outputs, self.box_outputs, self.strides, strict=True):
                n = self._cells(width, height, s)
                shapes[cls] = (1, n, classes)
                shapes[box] = (1, n, 4 * self.bins)
            return shapes
        if self.post_process == "decoded":
            assert self.boxes_output and self.scores_output
            n = sum(self._cells(width, height, s) for s in self.strides)
            return {self.boxes_output: (1, n, 4), self.scores_output: (1, classes, n)}
        assert self.output
        return {self.output: (-1, 6)}

    def extra_inputs(self, width: int, height: int) -> dict[str, np.ndarray]:
        if self.post_process != "nms":
            return {}
        extra = {}
        if self.scale_factor_input:
            extra[self.scale_factor_input] = np.ones((1, 2), np.float32)
        if self.im_shape_input:
            extra[self.im_shape_input] = np.array([[height, width]], np.float32)
        return extra

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        if self.post_process == "none":
            levels = [
                (outputs[c], outputs[b], s)
                for c, b, s in zip(self.cls_outputs, self.box_outputs, self.strides, strict=True)
            ]
            return decode_nanodet(levels, width, height, self.bins)
        if self.post_process == "decoded":
            assert self.boxes_output and self.scores_output
            boxes = outputs[self.boxes_output].reshape(-1, 4).astype(np.float32, copy=False)
            raw = outputs[self.scores_output]
            scores = raw.reshape(raw.shape[-2], raw.shape[-1]).T.astype(np.float32)
            return boxes, np.ascontiguousarray(scores)
        assert self.output
        return decode_nms_rows(outputs[self.output].reshape(-1, 6), classes=None)


def decode_nms_rows(rows: np.ndarray, classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(class, score, x1, y1, x2, y2) rows -> boxes and one-hot score rows; rows with class -1 (PaddlePaddle's
    'nothing found') or score 0 are dropped."""
    rows = rows.astype(np.float32, copy=False)
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 1] > 0)]
    ids = rows[:, 0].astype(np.int64)
    width = classes if classes is not None else (int(ids.max()) + 1 if ids.size else 1)
    scores = np.zeros((rows.shape[0], width), np.float32)
    scores[np.arange(rows.shape[0]), ids] = rows[:, 1]
    return rows[:, 2:6].copy(), scores
