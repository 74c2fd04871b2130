"""Is a track a fall? A pure function of the track's points and the camera's geometry.

A dropped or thrown object moves downwards with growing speed: its height follows
``h(t) = h0 + v0 t - a t² / 2`` with ``a`` close to g (less with air drag), and sideways it drifts
steadily. Fit both, and accept the track when

- it has enough points and has dropped far enough (metres with a calibration, frame heights without);
- the downward acceleration ``a`` is in the configured range (birds landing decelerate, rain and leaves
  fall at a constant speed, laundry swings: all near zero or negative);
- both fits are close (a fluttering leaf or a bird's flight is not a parabola);
- it was seen on at least ``min_coverage`` of the frames of its span (a branch tip flickers in and out);
- sideways it is in free flight: its sideways acceleration at most ``LATERAL_SHARE`` of the downward one
  (plus the x fit's noise), since drag only slows a drift; a leaf or a feather flutters from side to side;
- it goes more down than sideways;
- its final speed is what the drop and the acceleration imply (at least ``SPEED_CONSISTENCY`` of
  sqrt(2 a drop)): a slowly drifting leaf with a noisy track is not;
- the bend of its parabola stands out of the noise of the fit (``SAGITTA_OVER_NOISE``);
- with a calibration, it began on the facade (or above it), not in the sky beside it.

Without a calibration the height is measured in frame heights, and the acceleration range is wide. The
analyzer accepts a track once it has passed on ``PASSES`` frames running (edge/falls/analyzer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.falls.calibration import Calibration
from edge.falls.config import DetectionConfig

G = 9.81
WINDOW = 25  # the judgement uses a track's latest points (perspective bends long tracks; a jittery start)
SPEED_CONSISTENCY = 0.7  # the final speed must be at least this share of sqrt(2 a drop)
SAGITTA_OVER_NOISE = 3.0  # the bend of the fitted parabola must be this many times the fit's noise
BEFORE = 12  # points before the window that must lie on the window's parabola followed back
BEFORE_RMS_FACTOR = 3.0
MIN_RUNS_SHARE = 0.3  # residual sign runs per residual: noise alternates (about half), steps do not
FACADE_MARGIN = 0.5  # columns beside the facade, and floors below it, where a fall may still begin
LATERAL_SHARE = 0.5  # sideways acceleration at most this share of the downward one (pixels): free flight sideways
LATERAL_NOISE_SE = 2.0  # ... plus this many standard errors of the sideways fit (a short track's is large)


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

    def on_facade(self, x: float, y: float) -> bool:
        """Whether a point (analysis pixels) is on the calibrated facade, give or take a margin (and anywhere
        above its top: the roof)."""
        assert self.calibration is not None
        u, v = self.calibration.to_facade(self.fractions(np.array([x]), np.array([y])))[0]
        spec = self.calibration.spec
        return bool(-FACADE_MARGIN <= u <= spec.columns + FACADE_MARGIN and v >= -FACADE_MARGIN)

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


def _quadratic_se(t: np.ndarray, rms: float) -> float:
    """Standard error of the t² coefficient of a quadratic fit with residual ``rms`` at times ``t``."""
    design = np.vander(t, 3)
    n = len(t)
    sigma2 = rms**2 * n / max(n - 3, 1)
    return float(np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[0, 0]))


def _without_one_glitch(
    ts: np.ndarray, xs: np.ndarray, ys: np.ndarray, config: DetectionConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points without the single worst one, when that one is far off the fit (the blob merged for a frame
    with a window edge or a person) and the rest is enough; else the points unchanged."""
    if len(ts) < config.min_track_frames + 2:
        return ts, xs, ys
    residual = np.hypot(np.polyval(np.polyfit(ts, xs, 2), ts) - xs, np.polyval(np.polyfit(ts, ys, 2), ts) - ys)
    worst = int(np.argmax(residual))
    if residual[worst] <= 2.5 * config.max_fit_rms_px:
        return ts, xs, ys
    keep = np.arange(len(ts)) != worst
    return ts[keep], xs[keep], ys[keep]


def judge(
    t: list[float],
    x: list[float],
    y: list[float],
    geometry: Geometry,
    config: DetectionConfig,
    frame_period: float | None = None,
    *,
    check_before: bool = True,
) -> Verdict:
    """The verdict on a track; ``frame_period`` (the camera's, seconds) enables the coverage check."""
    n = len(t)
    if n < config.min_track_frames:
        return Verdict(False, "too few points", 0.0, 0.0, 0.0, 0.0)
    if frame_period and t[-1] > t[0] and (n - 1) * frame_period / (t[-1] - t[0]) < config.min_coverage:
        # a falling object is seen on (nearly) every frame; a flickering blob (a leaf turning, a branch
        # tip) is not
        return Verdict(False, "seen on too few frames", 0.0, 0.0, 0.0, 0.0)
    t_all = np.asarray(t, dtype=np.float64)
    origin_t = t_all[-WINDOW:][0] if n > WINDOW else t_all[0]
    ts = t_all[-WINDOW:] - origin_t
    xs = np.asarray(x[-WINDOW:], dtype=np.float64)
    ys = np.asarray(y[-WINDOW:], dtype=np.float64)
    before_t = t_all[:-WINDOW][-BEFORE:] - origin_t if n > WINDOW else np.empty(0)
    before_y = np.asarray(y[:-WINDOW][-BEFORE:], dtype=np.float64) if n > WINDOW else np.empty(0)
    if ts[-1] <= 0:
        return Verdict(False, "no time span", 0.0, 0.0, 0.0, 0.0)
    ts, xs, ys = _without_one_glitch(ts, xs, ys, config)
    heights = geometry.heights(xs, ys)
    drop = float(heights[0] - heights[-1])
    low, high = config.acceleration_m_s2 if geometry.calibration is not None else config.acceleration_frames_s2
    min_drop = config.min_drop_m if geometry.calibration is not None else config.min_drop_fraction
    h_coeffs, _ = _fit(ts, heights, 2)
    acceleration = float(-2 * h_coeffs[0])
    v0 = float(h_coeffs[1])
    y_coeffs, rms_y = _fit(ts, ys, 2)
    x_coeffs, rms_x = _fit(ts, xs, 2)
    rms = max(rms_x, rms_y)
    sagitta = y_coeffs[0] * ts[-1] ** 2 / 4  # how far the parabola bends away from its chord, pixels
    if drop < min_drop:
        return Verdict(False, "not far enough down", acceleration, drop, rms, 0.0, v0)
    if not low <= acceleration <= high:
        return Verdict(False, "acceleration out of range", acceleration, drop, rms, 0.0, v0)
    speed_end = -(h_coeffs[1] + 2 * h_coeffs[0] * ts[-1])  # downward, at the last point
    if speed_end < SPEED_CONSISTENCY * np.sqrt(2 * acceleration * drop):
        # whatever has fallen ``drop`` with acceleration ``a`` is going at least sqrt(2 a drop) by now; a leaf
        # drifting down at a steady speed with a noisy track that happens to bend is not
        return Verdict(False, "too slow for its drop", acceleration, drop, rms, 0.0, v0)
    if rms > config.max_fit_rms_px:
        return Verdict(False, "not a smooth fall", acceleration, drop, rms, 0.0, v0)
    if abs(x_coeffs[0]) > LATERAL_SHARE * y_coeffs[0] + LATERAL_NOISE_SE * _quadratic_se(ts, rms_x):
        # sideways a falling object is in free flight: a steady drift that only drag slows (by (g - a) v_x / v_y,
        # small for anything that falls at close to g); a leaf or a feather flutters from side to side
        return Verdict(False, "flutters sideways", acceleration, drop, rms, 0.0, v0)
    noisy = rms_y > 0.5 * config.max_fit_rms_px
    before_rms = np.sqrt(np.mean((np.polyval(y_coeffs, before_t) - before_y) ** 2)) if len(before_t) else 0.0
    if check_before and noisy and before_rms > BEFORE_RMS_FACTOR * config.max_fit_rms_px:
        # a noisy fit whose parabola, followed back, leaves the points seen just before the window: the bend
        # is noise on a slow drift (a leaf), not a fall (whose earlier points lie on the same parabola)
        return Verdict(False, "not a fall before the window", acceleration, drop, rms, 0.0, v0)
    residual = ys - np.polyval(y_coeffs, ts)
    signs = np.sign(residual[np.abs(residual) > 0.25 * max(rms_y, 1e-6)])
    runs = 1 + int(np.count_nonzero(signs[1:] != signs[:-1])) if len(signs) else 0
    if len(signs) >= 12 and runs < MIN_RUNS_SHARE * len(signs):
        # the track misses the parabola in long stretches: steps of a blob jumping between things, not noise
        return Verdict(False, "not a smooth fall", acceleration, drop, rms, 0.0, v0)
    if sagitta < SAGITTA_OVER_NOISE * max(rms_y, 0.1):
        return Verdict(False, "acceleration hidden in the noise", acceleration, drop, rms, 0.0, v0)
    if geometry.calibration is not None and not geometry.on_facade(xs[0], ys[0]):
        return Verdict(False, "began off the facade", acceleration, drop, rms, 0.0, v0)
    down_px = ys[-1] - ys[0]
    if down_px <= 0 or abs(xs[-1] - xs[0]) > config.max_sideways_ratio * down_px:
        return Verdict(False, "more sideways than down", acceleration, drop, rms, 0.0, v0)
    expected = G if geometry.calibration is not None else (low * high) ** 0.5
    closeness = max(0.0, 1.0 - abs(np.log(acceleration / expected)) / np.log(high / low) * 2)
    smooth = max(0.0, 1.0 - rms / config.max_fit_rms_px)
    score = round(0.5 + 0.25 * closeness + 0.25 * smooth, 3)
    return Verdict(True, "fall", acceleration, drop, rms, score, v0)
