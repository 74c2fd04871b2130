"""NanoDet output decoding (per stride: class scores N x C and distance bins N x 4*bins).

For each stride s the cells are row-major with centres ((i + 0.5) x s); the distance tensor holds, per
side (left, top, right, bottom), ``bins`` logits: softmax, the expected bin times s is the distance from
the centre to that side. Class scores are already through a sigmoid. Boxes come out in input pixels.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Literal

import numpy as np
from pydantic import Field

from drivers.detectors.types import ModelError
from edge.core.configbase import Strict


class NanodetLayout(Strict):
    family: Literal["nanodet"] = Field(description="NanoDet family: class and distance tensors per stride")
    cls_output: str = Field(
        default="cls_pred_stride_{stride}", description="name of the class-score tensor; {stride} is replaced"
    )
    box_output: str = Field(
        default="dis_pred_stride_{stride}", description="name of the distance tensor; {stride} is replaced"
    )
    strides: tuple[int, ...] = Field(default=(8, 16, 32), min_length=1, description="feature map strides")
    bins: int = Field(default=8, ge=1, le=64, description="distance bins per side (reg_max + 1)")

    def output_names(self) -> tuple[str, ...]:
        names: list[str] = []
        for stride in self.strides:
            names += [self.cls_output.format(stride=stride), self.box_output.format(stride=stride)]
        return tuple(names)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for stride in self.strides:
            cells = math.ceil(height / stride) * math.ceil(width / stride)
            shapes[self.cls_output.format(stride=stride)] = (1, cells, classes)
            shapes[self.box_output.format(stride=stride)] = (1, cells, 4 * self.bins)
        return shapes

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        levels = [
            (
                outputs[self.cls_output.format(stride=s)],
                outputs[self.box_output.format(stride=s)],
                s,
            )
            for s in self.strides
        ]
        return decode_nanodet(levels, width, height, self.bins)


@cache
def _centres(width: int, height: int, stride: int) -> np.ndarray:
    gh, gw = math.ceil(height / stride), math.ceil(width / stride)
    ys, xs = np.mgrid[0:gh, 0:gw]
    return ((np.stack((xs, ys), axis=-1).reshape(-1, 2) + 0.5) * stride).astype(np.float32)


def decode_nanodet(
    levels: list[tuple[np.ndarray, np.ndarray, int]], width: int, height: int, bins: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N x 4, x1y1x2y2 in input pixels) and class scores (N x C) over all strides."""
    all_boxes, all_scores = [], []
    weights = np.arange(bins, dtype=np.float32)
    for cls, dist, stride in levels:
        scores = cls.reshape(-1, cls.shape[-1]).astype(np.float32, copy=False)
        logits = dist.reshape(-1, 4, bins).astype(np.float32, copy=False)
        centres = _centres(width, height, stride)
        if scores.shape[0] != centres.shape[0] or logits.shape[0] != centres.shape[0]:
            raise ModelError(
                f"NanoDet stride {stride}: {scores.shape[0]} class rows and {logits.shape[0]} distance rows, "
                f"but a {width}x{height} input gives {centres.shape[0]} cells"
            )
        logits = logits - logits.max(axis=2, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=2, keepdims=True)
        distance = (prob @ weights) * stride  # N x 4: left, top, right, bottom
        boxes = np.concatenate((centres - distance[:, 0:2], centres + distance[:, 2:4]), axis=1)
        all_boxes.append(boxes)
        all_scores.append(scores)
    return np.concatenate(all_boxes), np.concatenate(all_scores)
