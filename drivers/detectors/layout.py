"""What every output layout family provides, and small numeric helpers the decoders share.

A layout turns a network's raw outputs for one image into candidate boxes (N x 4, x1y1x2y2 in input
pixels) and per-class scores (N x C, 0-1); candidate selection and NMS are common (``nms.py``).
``expected_shapes`` gives, per output tensor, the shape the manifest implies (-1: any size, for outputs
whose length depends on the picture, such as a network's own NMS result).
"""

from __future__ import annotations

import numpy as np

from edge.core.configbase import Strict

Shape = tuple[int, ...]


class LayoutBase(Strict):
    def output_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def expected_shapes(self, width: int, height: int, classes: int) -> dict[str, Shape]:
        raise NotImplementedError

    def extra_inputs(self, width: int, height: int) -> dict[str, np.ndarray]:
        """Inputs besides the image that the network takes (PicoDet's scale factor); none by default."""
        return {}

    def decode(self, outputs: dict[str, np.ndarray], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def shape_matches(actual: Shape, expected: Shape) -> bool:
    """``actual`` is ``expected`` (where -1 is any size), allowing leading batch dimensions of 1 more or less."""
    if -1 in expected:
        a, e = list(actual), list(expected)
        while len(a) > len(e) and a[0] == 1:
            a.pop(0)
        while len(e) > len(a) and e[0] == 1:
            e.pop(0)
        return len(a) == len(e) and all(x == y or y == -1 for x, y in zip(a, e, strict=True))
    return tuple(actual[-2:]) == tuple(expected[-2:]) and int(np.prod(actual)) == int(np.prod(expected))


def sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))
    return out


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    half = xywh[:, 2:4] / 2
    return np.concatenate((xywh[:, 0:2] - half, xywh[:, 0:2] + half), axis=1)


def cells(width: int, height: int, strides: tuple[int, ...]) -> int:
    """Grid cells over every stride of an input whose sides are multiples of the largest stride."""
    return sum((height // s) * (width // s) for s in strides)
