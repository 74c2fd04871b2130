"""YOLOv8 and later (YOLOv9, YOLO11, YOLO12) output decoding: anchor-free, no objectness, transposed.

The usual ONNX export has one tensor 1 x (4 + C) x N: rows 0-3 the box centre and size in input pixels
(the graph already decoded its distribution head), rows 4.. the class scores through a sigmoid; N is the
grid cells of every stride. Some exports put it the other way round, 1 x N x (4 + C) (``transposed: false``).
Boxes come out in input (letterboxed) pixels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from drivers.detectors.layout import LayoutBase, Shape, cells, xywh_to_xyxy


class Yolov8Layout(LayoutBase):
    family: Literal["yolov8"] = Field(description="YOLOv8 and later: anchor-free, class scores, no objectness")
    output: str = Field(default="output0", description="name of the output tensor")
    transposed: bool = Field(
        default=True, description="true: 1 x (4 + classes) x N (the usual export); false: 1 x N x (4 + classes)"
    )
    strides: tuple[int, ...] = Field(default=(8, 16, 32), min_length=1, description="feature map strides")

    def output_names(self) -> tuple[str, ...]:
        return (self.output,)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, Shape]:
        n = cells(width, height, self.strides)
        return {self.output: (1, 4 + classes, n) if self.transposed else (1, n, 4 + classes)}

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        raw = outputs[self.output].astype(np.float32, copy=False)
        rows = raw.reshape(raw.shape[-2], raw.shape[-1]).T if self.transposed else raw.reshape(-1, raw.shape[-1])
        return xywh_to_xyxy(rows[:, 0:4]), np.ascontiguousarray(rows[:, 4:])
