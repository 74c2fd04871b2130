"""Camera shake: the global shift of the picture against a calm reference, by phase correlation.

Small shifts (a pole in a light wind) are compensated: the analysis frame is moved back before background
subtraction. Larger ones pause the analysis (a camera shaken hard sees everything move), which the camera
reports; it resumes once the picture has been calm for ``calm_s``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from edge.falls.config import ShakeConfig

WIDTH = 160  # phase correlation runs on a picture this wide
REFERENCE_EVERY_S = 2.0
CALM_PX = 0.75
MIN_RESPONSE = 0.12  # below it the phase correlation has no peak worth trusting
CLEAR_RESPONSE = 0.5  # a shift is compensated only with a peak this clear


class Steadiness(enum.Enum):
    STEADY = "steady"
    COMPENSATED = "compensated"
    SHAKING = "shaking"


@dataclass(frozen=True, slots=True)
class ShakeState:
    steadiness: Steadiness
    shift: tuple[float, float]  # (dx, dy) of this frame against the reference, analysis pixels


class ShakeDetector:
    def __init__(self, config: ShakeConfig, size: tuple[int, int], keep: np.ndarray) -> None:
        self.config = config
        self.scale = size[0] / WIDTH
        self._small = (WIDTH, max(8, round(size[1] / self.scale)))
        self._keep = cv2.resize(keep, self._small, interpolation=cv2.INTER_NEAREST) > 0
        self._window = cv2.createHanningWindow(self._small, cv2.CV_32F)
        self._reference: np.ndarray | None = None
        self._reference_t = 0.0
        self._shaking_since: float | None = None
        self._calm_since: float | None = None
        self.response = 1.0

    def _prepare(self, grey: np.ndarray) -> np.ndarray:
        small = cv2.resize(grey, self._small, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)  # sensor noise would dominate at night
        mean = float(small[self._keep].mean()) if self._keep.any() else float(small.mean())
        small[~self._keep] = mean  # a swaying tree in a mask zone does not count as the camera moving
        return small - mean

    def update(self, grey: np.ndarray, t: float) -> ShakeState:
        cur = self._prepare(grey)
        if self._reference is None:
            self._reference, self._reference_t = cur, t
            return ShakeState(Steadiness.STEADY, (0.0, 0.0))
        # copies: OpenCV 5's phaseCorrelate applies the window to its inputs in place
        (dx, dy), self.response = cv2.phaseCorrelate(self._reference.copy(), cur.copy(), self._window)
        dx, dy = dx * self.scale, dy * self.scale
        size = float(np.hypot(dx, dy))
        if self.response < MIN_RESPONSE:
            # no clear peak: the picture itself changed (lights switched on, a relearnt scene), not its place
            self._reference, self._reference_t = cur, t
            self._shaking_since = self._calm_since = None
            return ShakeState(Steadiness.STEADY, (0.0, 0.0))
        if size > self.config.compensate_px:
            self._calm_since = None
            if self._shaking_since is None:
                self._shaking_since = t
            return ShakeState(Steadiness.SHAKING, (dx, dy))
        if self._shaking_since is not None:
            if self._calm_since is None:
                self._calm_since = t
            if t - self._calm_since < self.config.calm_s:
                return ShakeState(Steadiness.SHAKING, (dx, dy))
            self._shaking_since = self._calm_since = None
            self._reference, self._reference_t = cur, t
        elif size >= CALM_PX and self.response < CLEAR_RESPONSE:
            self._reference, self._reference_t = cur, t  # a weak peak: the scene changed more than it moved
            return ShakeState(Steadiness.STEADY, (0.0, 0.0))
        elif size < CALM_PX and t - self._reference_t >= REFERENCE_EVERY_S:
            self._reference, self._reference_t = cur, t  # follow slow changes (light, seasons)
        return ShakeState(Steadiness.STEADY if size < CALM_PX else Steadiness.COMPENSATED, (dx, dy))


def compensate(grey: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``grey`` moved back by ``shift`` so that it lines up with the reference."""
    dx, dy = shift
    matrix = np.float32([[1, 0, -dx], [0, 1, -dy]])
    return cv2.warpAffine(grey, matrix, (grey.shape[1], grey.shape[0]), borderMode=cv2.BORDER_REPLICATE)
