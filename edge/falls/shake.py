"""Camera shake: the global shift of the picture against a calm reference, by phase correlation of each
quarter of the picture (a shift is the camera's only when at least three quarters agree: a falling object
or a person moving in one quarter must not be taken for it).

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
AGREEING_TILES = 3  # of the four quarters, this many must show the same shift for it to be the camera's
AGREE_PX = 0.6  # (in pixels of the small picture)
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
        w, h = self._small
        tw, th = _dft_size(w // 2), _dft_size(h // 2)
        self._tiles = [(x, y, tw, th) for y in (0, h - th) for x in (0, w - tw)]
        self._window = cv2.createHanningWindow((tw, th), cv2.CV_32F)
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

    def _global_shift(self, ref: np.ndarray, cur: np.ndarray) -> tuple[tuple[float, float], float, int]:
        """Median shift of the four quarters, their median peak response, and how many agree with it."""
        shifts, responses = [], []
        for x, y, w, h in self._tiles:
            # copies: OpenCV 5's phaseCorrelate applies the window to its inputs in place
            (dx, dy), response = cv2.phaseCorrelate(
                ref[y : y + h, x : x + w].copy(), cur[y : y + h, x : x + w].copy(), self._window
            )
            shifts.append((dx, dy))
            responses.append(response)
        arr = np.array(shifts)
        median = np.median(arr, axis=0)
        agree = int(np.sum(np.hypot(*(arr - median).T) <= AGREE_PX))
        return (float(median[0]), float(median[1])), float(np.median(responses)), agree

    def update(self, grey: np.ndarray, t: float) -> ShakeState:
        cur = self._prepare(grey)
        if self._reference is None:
            self._reference, self._reference_t = cur, t
            return ShakeState(Steadiness.STEADY, (0.0, 0.0))
        (dx, dy), self.response, agree = self._global_shift(self._reference, cur)
        if agree < AGREEING_TILES:
            # the quarters of the picture moved differently: something moved in it (a falling object, a
            # person), not the camera
            return ShakeState(Steadiness.STEADY, (0.0, 0.0))
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


def _dft_size(limit: int) -> int:
    """The largest even size up to ``limit`` that the DFT does not pad: phaseCorrelate pads to an optimal DFT
    size, and with an odd one (44 -> 45) it reports half a pixel of shift between identical pictures."""
    size = limit - limit % 2
    while size > 8 and (cv2.getOptimalDFTSize(size) != size or size % 2):
        size -= 2
    return size


def compensate(grey: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``grey`` moved back by ``shift`` so that it lines up with the reference."""
    dx, dy = shift
    matrix = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
    out: np.ndarray = cv2.warpAffine(grey, matrix, (grey.shape[1], grey.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    return out
