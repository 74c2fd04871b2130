"""Passive liveness: MiniFASNetV2 on each face crop, p(live) per face (print and screen replays score low).

Preprocessing as the model was trained (Silent-Face-Anti-Spoofing's ``CropImage``): the face box scaled
``crop_scale`` (2.7) about its centre, shrunk if it would not fit the image and shifted to lie inside it,
resized to 80x80, BGR 0-255 as is; the output is three logits, softmax, index 1 = live. One face scores
in about 2 ms; the gate combines the scores over its decision window (``edge.gate.decision``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.gate.detect import Box
from edge.gate.models import LivenessSpec


def crop_box(box: Box, width: int, height: int, scale: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) inclusive of the scaled face box, kept inside a width x height image."""
    top, right, bottom, left = box
    box_w, box_h = max(1, right - left), max(1, bottom - top)
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = left + box_w / 2, top + box_h / 2
    x0, y0, x1, y1 = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > width - 1:
        x0, x1 = x0 - (x1 - width + 1), width - 1
    if y1 > height - 1:
        y0, y1 = y0 - (y1 - height + 1), height - 1
    return int(max(0, x0)), int(max(0, y0)), int(x1), int(y1)


class LivenessModel:
    def __init__(self, spec: LivenessSpec, model_dir: Path | None = None) -> None:
        self.name = spec.name
        self.size = (spec.input.width, spec.input.height)
        self.scale = spec.crop_scale
        self.live_index = spec.live_index
        self._net = cv2.dnn.readNetFromONNX(str(spec.path(model_dir)))

    def crop(self, bgr: np.ndarray, box: Box) -> np.ndarray:
        x0, y0, x1, y1 = crop_box(box, bgr.shape[1], bgr.shape[0], self.scale)
        return cv2.resize(bgr[y0 : y1 + 1, x0 : x1 + 1], self.size)

    def p_live(self, bgr: np.ndarray, box: Box) -> float:
        crop = self.crop(bgr, box).astype(np.float32)
        self._net.setInput(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
        logits = np.asarray(self._net.forward(), dtype=np.float64).reshape(-1)
        e = np.exp(logits - logits.max())
        return float(e[self.live_index] / e.sum())
