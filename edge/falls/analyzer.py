"""Per-frame analysis of a facade camera: frame -> grey at the analysis size -> shake check -> moving
blobs -> tracks -> falls. Used alike by the camera process (live) and ``edge fall replay`` (a recording).

``FallAnalyzer.analyze(image, t)`` returns a ``FrameResult``: the falls accepted on this frame (each track
once, as soon as it passes the test, so the alarm goes out while the object is still falling), the falls
whose track ended (with the whole trajectory, for the replay and the clip), and the camera's state
(shaking: analysis paused; night: the reduced sensitivity in use).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge.falls.calibration import Calibration
from edge.falls.config import FallCameraConfig
from edge.falls.foreground import Foreground
from edge.falls.origin import Origin, estimate_origin
from edge.falls.shake import ShakeDetector, Steadiness, compensate
from edge.falls.tracker import Track, Tracker
from edge.falls.trajectory import Geometry, Verdict, judge

CONTINUATION_S = 3.0  # a new track on the path of a fall accepted this recently is that fall again
PASSES = 3  # consecutive frames a track must pass the fall test on: a fall's evidence only grows, a noisy
# track's chance pass (it is judged on every frame of its life) does not last


@dataclass(frozen=True, slots=True)
class Fall:
    track_id: int
    t_start: float  # time of the track's first point
    t: float  # time of the frame that accepted it (or of its last point, once ended)
    points: tuple[tuple[float, float, float], ...]  # (t, x, y): x, y fractions of the frame
    origin: Origin
    verdict: Verdict
    unit: str  # "m" or "frame": of verdict.acceleration and verdict.drop

    def to_dict(self) -> dict[str, object]:
        v = self.verdict
        return {
            "track_id": self.track_id,
            "t_start": round(self.t_start, 3),
            "track": [[round(t, 3), round(x, 4), round(y, 4)] for t, x, y in self.points],
            "origin": self.origin.to_dict(),
            "score": v.score,
            "acceleration": round(v.acceleration, 3),
            "drop": round(v.drop, 3),
            "unit": self.unit,
        }


@dataclass(frozen=True, slots=True)
class FrameResult:
    t: float
    accepted: tuple[Fall, ...]
    ended: tuple[Fall, ...]
    shaking: bool
    night: bool
    blobs: int
    relearnt: bool
    shift: tuple[float, float]


def _extrapolate(fall: Fall, t: float, size: tuple[int, int]) -> tuple[float, float, float]:
    """Where the parabola of an accepted fall puts the object at ``t`` (analysis pixels), and its speed there."""
    w, h = size
    ts = np.array([p[0] for p in fall.points[-25:]]) - fall.points[-1][0]
    xs = np.array([p[1] * w for p in fall.points[-25:]])
    ys = np.array([p[2] * h for p in fall.points[-25:]])
    dt = t - fall.points[-1][0]
    cx, cy = np.polyfit(ts, xs, 1), np.polyfit(ts, ys, 2)
    vx, vy = cx[0], 2 * cy[0] * dt + cy[1]
    return float(np.polyval(cx, dt)), float(np.polyval(cy, dt)), float(np.hypot(vx, vy))


class FallAnalyzer:
    def __init__(self, config: FallCameraConfig, calibration: Calibration | None) -> None:
        self.config = config
        self.calibration = calibration
        self.size: tuple[int, int] | None = None
        self.tracker = Tracker(config.detection.max_missed_frames)
        self._foreground: Foreground | None = None
        self._shake: ShakeDetector | None = None
        self._geometry: Geometry | None = None
        self._accepted: dict[int, tuple[Track, Fall]] = {}
        self._recent: list[tuple[float, Track]] = []  # (time accepted, track) for continuations
        self._finished: dict[int, Fall] = {}  # accepted falls whose track ended, while they are recent
        self.shaking = False
        self._intervals: deque[float] = deque(maxlen=51)  # between the latest frames: the camera's period
        self._last_t: float | None = None
        self.resized: np.ndarray | None = None  # the latest frame at the analysis size, before any compensation

    def _setup(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        width = min(self.config.detection.analysis_width, w)
        self.size = (width, max(1, round(h * width / w)))
        self._foreground = Foreground(self.config.detection, self.size, self.config.masks)
        self._shake = ShakeDetector(self.config.shake, self.size, self._foreground.keep)
        self._geometry = Geometry(self.size, self.calibration)

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(grey, colour) at the analysis size; colour is None when the model runs on grey levels. The frame
        at the analysis size stays in ``resized`` (the camera process keeps it for the clip: no second resize)."""
        if self.size is not None and (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self.resized = image
        if image.ndim == 2:
            return image, None
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return grey, image if self.config.detection.colour else None

    def analyze(self, image: np.ndarray, t: float) -> FrameResult:
        if self.size is None:
            self._setup(image)
        assert self._foreground is not None and self._shake is not None
        if self._last_t is not None and t > self._last_t:
            self._intervals.append(t - self._last_t)
        self._last_t = t
        grey, colour = self.prepare(image)
        night = float(cv2.mean(grey, self._foreground.keep)[0]) < self.config.night.below_level
        shake = self._shake.update(grey, t)
        if shake.steadiness is Steadiness.SHAKING:
            ended = self._end_all() if not self.shaking else ()
            self.shaking = True
            return FrameResult(t, (), ended, True, night, 0, False, shake.shift)
        if self.shaking:
            self.shaking = False
        if shake.steadiness is Steadiness.COMPENSATED:
            grey = compensate(grey, shake.shift)
            colour = compensate(colour, shake.shift) if colour is not None else None
        night_cfg = self.config.night
        blobs = self._foreground.apply(
            grey,
            colour,
            threshold_factor=night_cfg.threshold_factor if night else 1.0,
            min_blob_factor=night_cfg.min_blob_factor if night else 1.0,
        )
        if blobs.relearnt:
            return FrameResult(t, (), self._end_all(), False, night, 0, True, shake.shift)
        touched = self.tracker.update(t, blobs.xy, blobs.area)
        accepted = tuple(fall for track in touched if (fall := self._judge(track, t)) is not None)
        ended = tuple(self._finish(track) for track in self.tracker.ended if track.id in self._accepted)
        self._recent = [(ta, tr) for ta, tr in self._recent if t - ta <= CONTINUATION_S]
        recent_ids = {tr.id for _, tr in self._recent}
        self._finished = {k: v for k, v in self._finished.items() if k in recent_ids}
        return FrameResult(t, accepted, ended, False, night, len(blobs.area), False, shake.shift)

    def finish(self) -> tuple[Fall, ...]:
        """The recording ended: the falls still being tracked, with what was seen of them."""
        return self._end_all()

    def _end_all(self) -> tuple[Fall, ...]:
        self.tracker.reset()
        ended = tuple(self._finish(track) for track in self.tracker.ended if track.id in self._accepted)
        self.tracker.ended = []
        return ended

    def _judge(self, track: Track, t: float) -> Fall | None:
        if track.accepted or track.continuation_of is not None:
            return None
        assert self._geometry is not None
        period = statistics.median(self._intervals) if len(self._intervals) >= 5 else None
        cfg = self.config.detection
        verdict = judge(track.t, track.x, track.y, self._geometry, cfg, period)
        track.passes = track.passes + 1 if verdict.fall else 0
        if track.passes < PASSES:
            return None
        if self._continues_recent(track):
            return None
        track.accepted = True
        fall = self._fall(track, verdict, t)
        self._accepted[track.id] = (track, fall)
        self._recent.append((t, track))
        return fall

    def _continues_recent(self, track: Track) -> bool:
        """A fall lost for a few frames (behind a mask, against a window of its colour, or its track taken by
        another blob) and found again: the new track begins where the accepted fall's parabola goes."""
        k = track.start
        t0, x0, y0 = track.t[k], track.x[k], track.y[k]
        for _, earlier in self._recent:
            fall = self._accepted.get(earlier.id, (None, None))[1] or self._finished.get(earlier.id)
            if fall is None or t0 <= fall.t:
                continue
            px, py, speed = _extrapolate(fall, t0, self.size or (1, 1))
            if np.hypot(px - x0, py - y0) <= 10.0 + 0.3 * speed * (t0 - fall.t):
                track.continuation_of = earlier.id
                return True
        return False

    def _fall(self, track: Track, verdict: Verdict, t: float) -> Fall:
        assert self.size is not None and self._geometry is not None
        w, h = self.size
        k = track.start
        origin = estimate_origin(track.t[k:], track.x[k:], track.y[k:], track.area[k:], self.size, self.calibration)
        points = tuple((tt, xx / w, yy / h) for tt, xx, yy in zip(track.t[k:], track.x[k:], track.y[k:], strict=True))
        return Fall(track.id, track.t[k], t, points, origin, verdict, self._geometry.unit)

    def _finish(self, track: Track) -> Fall:
        _, fall = self._accepted.pop(track.id)
        self._finished[track.id] = fall  # as accepted: its parabola predicts where the object went
        w, h = self.size or (1, 1)
        k = track.start
        points = tuple((tt, xx / w, yy / h) for tt, xx, yy in zip(track.t[k:], track.x[k:], track.y[k:], strict=True))
        return Fall(fall.track_id, fall.t_start, track.t[-1], points, fall.origin, fall.verdict, fall.unit)
