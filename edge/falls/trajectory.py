"""Is a track a fall? A pure function of the track's points and the camera's geometry.

A dropped or thrown object moves downwards with growing speed: its height follows
``h(t) = h0 + v0 t - a t² / 2`` with ``a`` close to g (less with air drag), and sideways it drifts
steadily. Fit both, and accept the track when

- it has enough points and has dropped far enough (metres with a calibration, frame heights without);
- the downward acceleration ``a`` is in the configured range (birds landing decelerate, rain and leaves
  fall at a constant speed, laundry swings: all near zero or negative);
- both fits are close (a fluttering leaf or a bird's flight is not a parabola);
- it goes more down than sideways.

Without a calibration the height is measured in frame heights, and the acceleration range is wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.falls.calibration import Calibration
from edge.falls.config import DetectionConfig

G = 9.81
WINDOW = 40  # the judgement uses a track's latest points (perspective bends long tracks)


@dataclass(frozen=True, slots=True)
class Geometry:
    """How analysis pixels relate to heights: through a calibration, or in frame heights."""

    size: tuple[int, int]  # analysis frame (width, height)
    calibration: Calibration | None

    @property
    def unit(self) -> str:
        return "m" if self.calibration is not None else "frame"

    def fractions(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.column_stack([np.asarray(x) / self.size[0], np.asarray(y) / self.size[1]])

    def heights(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height up the facade: metres (calibrated) or frame heights (uncalibrated), larger is higher."""
        if self.calibration is None:
            return -np.asarray(y, dtype=np.float64) / self.size[1]
        return self.calibration.heights_m(self.fractions(x, y))


@dataclass(frozen=True, slots=True)
class Verdict:
    fall: bool
    reason: str  # why not, or "fall"
    acceleration: float  # downward, in the geometry's unit per s²
    drop: float  # in the geometry's unit
    rms_px: float
    score: float
    v0: float = 0.0  # vertical speed at the first point judged (up positive), unit per s


def _fit(t: np.ndarray, values: np.ndarray, degree: int) -> tuple[np.ndarray, float]:
    coeffs = np.polyfit(t, values, degree)
    rms = float(np.sqrt(np.mean((np.polyval(coeffs, t) - values) ** 2)))
    return coeffs, rms


def judge(t: list[float], x: list[float], y: list[float], geometry: Geometry, config: DetectionConfig) -> Verdict:
    n = len(t)
    if n < config.min_track_frames:
        return Verdict(False, "too few points", 0.0, 0.0, 0.0, 0.0)
    ts = np.asarray(t[-WINDOW:], dtype=np.float64)
    ts = ts - ts[0]
    xs = np.asarray(x[-WINDOW:], dtype=np.float64)
    ys = np.asarray(y[-WINDOW:], dtype=np.float64)
    if ts[-1] <= 0:
        return Verdict(False, "no time span", 0.0, 0.0, 0.0, 0.0)
    heights = geometry.heights(xs, ys)
    drop = float(heights[0] - heights[-1])
    low, high = config.acceleration_m_s2 if geometry.calibration is not None else config.acceleration_frames_s2
    min_drop = config.min_drop_m if geometry.calibration is not None else config.min_drop_fraction
    h_coeffs, _ = _fit(ts, heights, 2)
    acceleration = float(-2 * h_coeffs[0])
    v0 = float(h_coeffs[1])
    _, rms_y = _fit(ts, ys, 2)
    _, rms_x = _fit(ts, xs, 2)
    rms = max(rms_x, rms_y)
    if drop < min_drop:
        return Verdict(False, "not far enough down", acceleration, drop, rms, 0.0, v0)
    if not low <= acceleration <= high:
        return Verdict(False, "acceleration out of range", acceleration, drop, rms, 0.0, v0)
    if rms > config.max_fit_rms_px:
        return Verdict(False, "not a smooth fall", acceleration, drop, rms, 0.0, v0)
    down_px = ys[-1] - ys[0]
    if down_px <= 0 or abs(xs[-1] - xs[0]) > config.max_sideways_ratio * down_px:
        return Verdict(False, "more sideways than down", acceleration, drop, rms, 0.0, v0)
    expected = G if geometry.calibration is not None else (low * high) ** 0.5
    closeness = max(0.0, 1.0 - abs(np.log(acceleration / expected)) / np.log(high / low) * 2)
    smooth = max(0.0, 1.0 - rms / config.max_fit_rms_px)
    score = round(0.5 + 0.25 * closeness + 0.25 * smooth, 3)
    return Verdict(True, "fall", acceleration, drop, rms, score, v0)
