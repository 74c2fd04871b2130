"""Fitting an image into a detector's input: resize keeping aspect, pad, normalise, NCHW."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.detectors.manifest import Preprocess


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was placed in the input: input = image x scale + pad."""

    scale: float
    pad_x: float
    pad_y: float

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        pad = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], dtype=np.float32)
        return (boxes - pad) / self.scale


def letterbox(image: np.ndarray, width: int, height: int, pre: Preprocess) -> tuple[np.ndarray, Letterbox]:
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nw, nh) != (w, h) else image
    canvas = np.full((height, width, 3), pre.pad_value, dtype=np.uint8)
    if pre.pad == "centre":
        x0, y0 = (width - nw) // 2, (height - nh) // 2
    else:
        x0, y0 = 0, 0
    canvas[y0 : y0 + nh, x0 : x0 + nw] = resized
    return canvas, Letterbox(scale, float(x0), float(y0))


def to_blob(canvas: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 HWC BGR -> float32 1x3xHxW in the channel order, mean and scale the network wants."""
    img = canvas[:, :, ::-1] if pre.channels == "rgb" else canvas
    blob: np.ndarray = img.astype(np.float32)
    if any(pre.mean) or any(s != 1.0 for s in pre.std):
        blob = (blob - np.array(pre.mean, np.float32)) / np.array(pre.std, np.float32)
    return np.ascontiguousarray(blob.transpose(2, 0, 1)[np.newaxis])
