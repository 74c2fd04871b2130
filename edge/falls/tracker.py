"""A tracker of small moving blobs across frames: predict each track (constant acceleration over its last
points), match blobs to predictions nearest first inside a gate that widens with speed, start a track for
every blob left over, and end a track after ``max_missed`` frames unseen."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_POINTS = 400  # a track longer than this keeps its first point and its latest ones
GATE_PX = 5.0
SETTLED_POINTS = 8  # from this many points on, a track's gate no longer grows with the blob's size


@dataclass(slots=True)
class Track:
    id: int
    t: list[float] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    area: list[float] = field(default_factory=list)
    missed: int = 0
    accepted: bool = False  # judged a fall (reported once)
    passes: int = 0  # consecutive judgements that found a fall
    continuation_of: int | None = None  # the id of the accepted fall this track continues, if any
    start: int = 0  # index of the point where the fall began (the first, unless older points are dropped)

    def add(self, t: float, x: float, y: float, area: float) -> None:
        if len(self.t) >= MAX_POINTS:
            for values in (self.t, self.x, self.y, self.area):
                del values[1]
            self.start = max(0, self.start - 1)
        self.t.append(t)
        self.x.append(x)
        self.y.append(y)
        self.area.append(area)
        self.missed = 0

    def __len__(self) -> int:
        return len(self.t)

    def predict(self, t: float) -> tuple[float, float]:
        n = len(self.t)
        if n == 1:
            return self.x[0], self.y[0]
        k = min(n, 6)
        ts = np.array(self.t[-k:]) - self.t[-1]
        dt = t - self.t[-1]
        deg = 2 if k >= 4 else 1
        px = np.polyfit(ts, self.x[-k:], min(deg, 1))
        py = np.polyfit(ts, self.y[-k:], deg)
        return float(np.polyval(px, dt)), float(np.polyval(py, dt))

    def speed(self) -> float:
        """Pixels per second over the last two points."""
        if len(self.t) < 2 or self.t[-1] <= self.t[-2]:
            return 0.0
        return float(np.hypot(self.x[-1] - self.x[-2], self.y[-1] - self.y[-2])) / (self.t[-1] - self.t[-2])


def gate(track: Track, dt: float) -> float:
    """How far from its prediction a track's next point may be: wide while the track is young, narrower once
    its motion is known (so a blob passing close by does not take over a falling object's track)."""
    size = float(np.sqrt(track.area[-1])) * (1.0 if len(track) < SETTLED_POINTS else 0.5)
    return GATE_PX + 0.25 * track.speed() * dt * (1 + track.missed) + size


class Tracker:
    def __init__(self, max_missed: int) -> None:
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self.ended: list[Track] = []  # tracks that ended on the last update
        self._next_id = 1
        self._last_t: float | None = None

    def reset(self) -> None:
        self.ended = self.tracks
        self.tracks = []
        self._last_t = None

    def update(self, t: float, xy: np.ndarray, area: np.ndarray) -> list[Track]:
        """Add this frame's blobs; the tracks that got a point on this frame."""
        dt = t - self._last_t if self._last_t is not None else 0.04
        self._last_t = t
        matched_blobs: set[int] = set()
        touched: list[Track] = []
        if self.tracks and len(xy):
            predictions = np.array([track.predict(t) for track in self.tracks])
            gates = np.array([gate(track, dt) for track in self.tracks])
            distance = np.hypot(predictions[:, None, 0] - xy[None, :, 0], predictions[:, None, 1] - xy[None, :, 1])
            order = np.dstack(np.unravel_index(np.argsort(distance, axis=None), distance.shape))[0]
            used_tracks: set[int] = set()
            for ti, bi in order:
                if distance[ti, bi] > gates[ti]:
                    break
                if ti in used_tracks or bi in matched_blobs:
                    continue
                used_tracks.add(int(ti))
                matched_blobs.add(int(bi))
                track = self.tracks[ti]
                track.add(t, float(xy[bi, 0]), float(xy[bi, 1]), float(area[bi]))
                touched.append(track)
        touched_ids = {id(track) for track in touched}
        alive: list[Track] = []
        self.ended = []
        for track in self.tracks:
            if id(track) not in touched_ids:
                track.missed += 1
            (alive if track.missed <= self.max_missed else self.ended).append(track)
        for bi in range(len(xy)):
            if bi not in matched_blobs:
                track = Track(self._next_id)
                self._next_id += 1
                track.add(t, float(xy[bi, 0]), float(xy[bi, 1]), float(area[bi]))
                alive.append(track)
        self.tracks = alive
        return touched
