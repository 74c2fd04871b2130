"""Moving blobs: OpenCV background subtraction (MOG2) on a grey frame, robust to slow and global light changes.

- Gain: each frame is scaled so that its mean grey level matches a reference level (a cloud over the sun
  dims the whole picture at once; the subtractor then sees the same scene). Past a gain of 0.4-2.5 (dusk,
  dawn, flood lights) the reference is reset and the background relearnt.
- A change of most of the picture (lights, a camera that moved) relearns the background instead of
  reporting it as motion.
- Masked zones (trees, sky, a flag) are never foreground.
- Blobs are the connected components of the foreground, kept between a minimum size and a maximum
  fraction of the frame (a lit window or a person on a balcony is not a falling object).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.falls.config import DetectionConfig, MaskZone

MIN_GAIN, MAX_GAIN = 0.4, 2.5  # beyond: a new reference level and a relearnt background


@dataclass(frozen=True, slots=True)
class Blobs:
    xy: np.ndarray  # (N, 2) centroids, analysis pixels
    area: np.ndarray  # (N,) pixels
    fraction: float  # moving fraction of the (unmasked) frame
    relearnt: bool  # the background was relearnt on this frame (a light change)


def mask_image(size: tuple[int, int], masks: list[MaskZone]) -> np.ndarray:
    """uint8 image of ``size`` (width, height): 255 where analysed, 0 in the mask zones."""
    w, h = size
    keep = np.full((h, w), 255, np.uint8)
    for zone in masks:
        x1, y1, x2, y2 = zone.box
        keep[int(np.floor(y1 * h)) : int(np.ceil(y2 * h)), int(np.floor(x1 * w)) : int(np.ceil(x2 * w))] = 0
    return keep


class Foreground:
    def __init__(self, config: DetectionConfig, size: tuple[int, int], masks: list[MaskZone]) -> None:
        self.config = config
        self.size = size
        self.keep = mask_image(size, masks)
        self._kept = max(1, int(np.count_nonzero(self.keep)))
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=config.history, varThreshold=config.var_threshold, detectShadows=False
        )
        self._level: float | None = None  # the background's mean grey level
        self._kernel = np.ones((3, 3), np.uint8)
        self.frames = 0

    def reset(self) -> None:
        self._level = None
        self.frames = 0

    def apply(
        self,
        grey: np.ndarray,
        colour: np.ndarray | None = None,
        *,
        threshold_factor: float = 1.0,
        min_blob_factor: float = 1.0,
    ) -> Blobs:
        """Blobs of this frame. ``grey`` gives the brightness; the background model runs on ``colour`` when
        given (an object as bright as the window behind it differs in colour only), else on ``grey``."""
        cfg = self.config
        level = float(cv2.mean(grey, self.keep)[0])
        relearn = self.frames == 0
        if self._level is None or not MIN_GAIN <= self._level / max(level, 1.0) <= MAX_GAIN:
            self._level, relearn = max(level, 1.0), True  # first frame, or dusk / dawn: a new reference level
        gain = self._level / max(level, 1.0)
        image = colour if colour is not None else grey
        if abs(gain - 1) > 0.01:
            image = cv2.convertScaleAbs(image, alpha=gain)
        self._subtractor.setVarThreshold(cfg.var_threshold * threshold_factor)
        if relearn:
            self._subtractor.apply(image, learningRate=1.0)
            self.frames = 1
            return Blobs(np.empty((0, 2)), np.empty(0), 0.0, relearnt=True)
        fg = self._subtractor.apply(image)
        self.frames += 1
        fg = cv2.bitwise_and(fg, self.keep)
        moving = int(np.count_nonzero(fg))
        fraction = moving / self._kept
        if self.frames > 1 and fraction > cfg.light_change_fraction:
            self._subtractor.apply(image, learningRate=1.0)
            return Blobs(np.empty((0, 2)), np.empty(0), fraction, relearnt=True)
        if moving == 0 or self.frames < 3:
            return Blobs(np.empty((0, 2)), np.empty(0), fraction, relearnt=False)
        fg = cv2.dilate(fg, self._kernel)
        count, _, stats, centroids = cv2.connectedComponentsWithStats(fg, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
        xy = centroids[1:]
        w, h = self.size
        # dilation adds about a one-pixel ring: compare against the same ring around the minimum blob
        side = np.sqrt(cfg.min_blob_px * min_blob_factor)
        smallest = (side + 2) ** 2
        largest = cfg.max_blob_fraction * w * h
        ok = (areas >= smallest) & (areas <= largest)
        xy, areas = xy[ok], areas[ok]
        if len(areas) > cfg.max_blobs:
            top = np.argsort(-areas)[: cfg.max_blobs]
            xy, areas = xy[top], areas[top]
        return Blobs(xy, areas, fraction, relearnt=False)
