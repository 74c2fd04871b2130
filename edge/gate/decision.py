"""When a gate decides: k of the last n frames agree on one person, and then not again for a while.

A pure function of the sightings it is shown (no clock, no I/O), so the live gate, ``edge gate replay``
and the tests take the same decisions from the same frames. The one-frame decision of face_recognition's
examples let the stranger of the shared clip in (one frame of 275 within 0.6 of a resident); needing
k agreeing frames removes that single-frame luck.

- A *sighting* is one face of one frame: the nearest enrolled owner, the distance, the distance of the
  next other owner, and the face's p(live). It is that owner when the distance is within the tolerance
  *and* the owner is nearer than every other owner by at least the margin; otherwise the face counts as
  *unknown* (a stranger key of its own): a face that could be either of two residents is neither.
- Each processed frame enters the window, faces or not; a key (an owner, or unknown) is decided when it
  is seen in k of the last n frames *with k distinct evidence*: a sighting names the computation its
  embedding and p(live) come from (``evidence``); a face that reused the previous frame's result
  (edge.gate.still) counts once with it, not twice, and evidence a decision was taken on never counts
  towards the next decision (with a cool-down of 0). The decision carries the best (smallest) distance
  and the frame that gave it, for the snapshot, and the p(live) of every agreeing measurement (liveness
  is combined over the same window that agrees on the identity).
- Cool-down: after a decision the key is not decided again until it has been out of view for
  ``cooldown_s``; a person standing at the gate gets one decision, not one every few seconds. While a
  person cools down, faces of theirs that come out just outside the tolerance (``linger_margin``) are taken
  as theirs, so the same resident does not turn into a stranger event a few frames after being let in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Ref = TypeVar("Ref")

UNKNOWN = None
SPENT_KEPT = 256  # evidence numbers of past decisions remembered (a reuse comes one frame after its computation)


@dataclass(slots=True, frozen=True)
class Sighting(Generic[Key]):
    nearest: Key | None  # the nearest enrolled owner; None when nothing is enrolled
    distance: float
    tolerance: float
    second: float = float("inf")  # distance of the nearest other owner
    margin: float = 0.0  # how much nearer than ``second`` the nearest owner must be
    live: float | None = None  # p(live) of the face; None when liveness is off
    evidence: Hashable | None = None  # the computation it rests on; None: this sighting's own

    @property
    def key(self) -> Key | None:
        """The owner when within tolerance and clear of every other owner by the margin, else UNKNOWN."""
        if self.nearest is None or self.distance > self.tolerance:
            return UNKNOWN
        return self.nearest if self.second - self.distance >= self.margin else UNKNOWN


@dataclass(slots=True, frozen=True)
class Agreement(Generic[Key, Ref]):
    """k of the last n frames agree on ``key`` (UNKNOWN for a stranger)."""

    key: Key | None
    t: float
    distance: float  # the best of the agreeing frames (to the nearest owner, also for strangers)
    frames: int  # agreeing frames with distinct evidence
    best: Ref
    distances: tuple[float, ...] = field(default=())
    live: tuple[float, ...] = field(default=())  # p(live) of the agreeing frames that measured it

    @property
    def live_score(self) -> float | None:
        """The combined p(live) of the window: the mean over its frames (None when not measured)."""
        return sum(self.live) / len(self.live) if self.live else None


@dataclass(slots=True, frozen=True)
class Seen(Generic[Ref]):
    """A key's sighting in one frame of the window."""

    distance: float
    ref: Ref
    live: float | None
    evidence: Hashable


class DecisionTracker(Generic[Key, Ref]):
    def __init__(self, *, k: int, n: int, cooldown_s: float, linger_margin: float = 0.1) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.k, self.n, self.cooldown_s, self.linger_margin = k, n, cooldown_s, linger_margin
        self._window: deque[dict[Key | None, Seen[Ref]]] = deque(maxlen=n)
        self._cooling: dict[Key | None, float] = {}  # key -> last time seen since its decision
        self._spent: deque[Hashable] = deque(maxlen=SPENT_KEPT)  # evidence already behind a decision

    def cooling(self, key: Key | None, t: float) -> bool:
        last = self._cooling.get(key)
        return last is not None and t - last < self.cooldown_s

    def observe(self, t: float, sightings: Sequence[Sighting[Key]], ref: Ref) -> list[Agreement[Key, Ref]]:
        """Add one processed frame at time ``t``; the decisions it completes."""
        self._cooling = {key: last for key, last in self._cooling.items() if t - last < self.cooldown_s}
        frame: dict[Key | None, Seen[Ref]] = {}
        for s in sightings:
            key = s.key
            near_miss = s.nearest is not None and s.distance <= s.tolerance + self.linger_margin
            if key is UNKNOWN and near_miss and self.cooling(s.nearest, t):
                key = s.nearest  # a cooling person seen a little less clearly: still them
            if self.cooling(key, t):
                self._cooling[key] = t
                continue
            if s.evidence is not None and s.evidence in self._spent:
                continue  # a reuse of a result that a decision was already taken on
            if key not in frame or s.distance < frame[key].distance:
                frame[key] = Seen(s.distance, ref, s.live, object() if s.evidence is None else s.evidence)
        self._window.append(frame)
        decided: list[Agreement[Key, Ref]] = []
        for key in list(frame):
            independent: dict[Hashable, Seen[Ref]] = {}
            for f in self._window:
                if key in f:
                    independent.setdefault(f[key].evidence, f[key])  # the frame that computed it, not a reuse
            seen = list(independent.values())
            if len(seen) < self.k:
                continue
            top = min(seen, key=lambda item: item.distance)
            live = tuple(s.live for s in seen if s.live is not None)
            decided.append(Agreement(key, t, top.distance, len(seen), top.ref, tuple(s.distance for s in seen), live))
            self._cooling[key] = t
            self._spent.extend(independent)
            for f in self._window:
                f.pop(key, None)
        return decided

    def reset(self) -> None:
        self._window.clear()
        self._cooling.clear()
        self._spent.clear()
