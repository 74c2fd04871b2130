"""FastestDet (dog-qiuqiu/FastestDet) output decoding: one anchor-free grid, 1 x (5 + C) x H x W.

Per cell (x, y) of the single stride: channel 0 the objectness (through a sigmoid), 1-2 the centre offset
(tanh: cx = (x + tanh(v)) / W x input width), 3-4 the box size as a fraction of the input (sigmoid), 5..
the class probabilities (a softmax over the classes). The upstream score is objectness^0.6 x class^0.4.
The network takes the picture resized to its input without keeping the aspect (``pad: stretch``), BGR,
divided by 255. Boxes come out in input pixels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from drivers.detectors.layout import LayoutBase, Shape, sigmoid, xywh_to_xyxy
from drivers.detectors.types import ModelError


class FastestdetLayout(LayoutBase):
    family: Literal["fastestdet"] = Field(description="FastestDet family: one grid 1 x (5 + classes) x H x W")
    output: str = Field(description="name of the output tensor")
    stride: int = Field(default=16, ge=1, le=128, description="input pixels per grid cell")
    obj_weight: float = Field(
        default=0.6, gt=0, le=1, description="score = objectness^obj_weight x class^(1 - obj_weight), as upstream"
    )

    def output_names(self) -> tuple[str, ...]:
        return (self.output,)

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, Shape]:
        return {self.output: (1, 5 + classes, height // self.stride, width // self.stride)}

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        raw = outputs[self.output].astype(np.float32, copy=False)
        gh, gw = height // self.stride, width // self.stride
        if raw.size % (gh * gw):
            raise ModelError(f"FastestDet output of shape {raw.shape} is not a {gw}x{gh} grid")
        feat = raw.reshape(-1, gh * gw).T  # cells x (5 + C), row-major cells
        ys, xs = np.divmod(np.arange(gh * gw, dtype=np.float32), gw)
        cx = (xs + np.tanh(feat[:, 1])) / gw * width
        cy = (ys + np.tanh(feat[:, 2])) / gh * height
        bw = sigmoid(feat[:, 3]) * width
        bh = sigmoid(feat[:, 4]) * height
        boxes = xywh_to_xyxy(np.stack((cx, cy, bw, bh), axis=1))
        obj = np.clip(feat[:, 0:1], 0, 1)
        cls = np.clip(feat[:, 5:], 0, 1)
        scores = obj**self.obj_weight * cls ** (1 - self.obj_weight)
        return boxes, scores.astype(np.float32)
