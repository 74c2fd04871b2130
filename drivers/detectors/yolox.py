"""YOLOX output decoding (one tensor, N x (5 + classes), N the grid cells of every stride).

Columns 0-1 are the centre offset in cells (x = (v + grid_x) x stride), 2-3 the log size
(w = exp(v) x stride), 4 the objectness and 5.. the class scores, both already through a sigmoid;
a candidate's class score is objectness x class. Boxes come out in input (letterboxed) pixels.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import numpy as np
from pydantic import Field

from drivers.detectors.types import ModelError
from edge.core.configbase import Strict


class YoloxLayout(Strict):
    family: Literal["yolox"] = Field(description="YOLOX family: one output tensor N x (5 + classes)")
    output: str = Field(default="output", description="name of the output tensor")
    strides: tuple[int, ...] = Field(default=(8, 16, 32), min_length=1, description="feature map strides, in order")

    def output_names(self) -> tuple[str, ...]:
        return (self.output,)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, tuple[int, ...]]:
        cells = sum((height // s) * (width // s) for s in self.strides)
        return {self.output: (1, cells, 5 + classes)}

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        raw = outputs[self.output]
        rows = raw.reshape(-1, raw.shape[-1]).astype(np.float32, copy=False)
        return decode_yolox(rows, width, height, self.strides)


@cache
def _grid(width: int, height: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    cells, scale = [], []
    for stride in strides:
        gh, gw = height // stride, width // stride
        ys, xs = np.mgrid[0:gh, 0:gw]
        cells.append(np.stack((xs, ys), axis=-1).reshape(-1, 2))
        scale.append(np.full((gh * gw, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(scale).astype(np.float32)


def decode_yolox(
    rows: np.ndarray, width: int, height: int, strides: tuple[int, ...] = (8, 16, 32)
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N x 4, x1y1x2y2 in input pixels) and class scores (N x C) from raw YOLOX rows."""
    grid, stride = _grid(width, height, tuple(strides))
    if rows.shape[0] != grid.shape[0]:
        raise ModelError(
            f"YOLOX output has {rows.shape[0]} rows, but a {width}x{height} input with strides "
            f"{list(strides)} gives {grid.shape[0]} grid cells"
        )
    centre = (rows[:, 0:2] + grid) * stride
    size = np.exp(np.clip(rows[:, 2:4], -20, 20)) * stride
    boxes = np.concatenate((centre - size / 2, centre + size / 2), axis=1)
    scores = rows[:, 4:5] * rows[:, 5:]
    return boxes, scores
