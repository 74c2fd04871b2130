"""Confirming an e-bike over frames: a pure state machine of sightings and time.

As deployed systems do it: the door is held at the first suspicious sighting; within ``window_s`` at
least ``min_sightings`` frames must show an e-bike, else the door is released and that object (its box)
is ignored for ``ignore_s``. Once confirmed, the alarm stays up, the door held, until no e-bike was seen
for ``end_after_s``.

``step(state, t, sightings, rules)`` returns the new state and what to do; it never reads a clock, so the
same code runs live (monotonic time) and on a recording (time in the video), and tests are tables.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from edge.lift.config import ConfirmConfig

Box = tuple[float, float, float, float]


class Phase(enum.StrEnum):
    IDLE = "idle"
    SUSPECT = "suspect"  # door held, waiting for confirmation
    ALARM = "alarm"  # confirmed: alarm up, voice on, door held


class Action(enum.StrEnum):
    HOLD = "hold"  # first suspicious sighting: hold the door
    RELEASE_UNCONFIRMED = "release_unconfirmed"  # not confirmed in time: release, ignore that object
    CONFIRM = "confirm"  # raise the alarm with the best snapshot, voice warning on
    END = "end"  # e-bike gone long enough: clear the alarm, voice off, release the door


@dataclass(frozen=True, slots=True)
class Sighting:
    """The best e-bike detection of one frame."""

    label: str
    score: float
    box: Box
    snapshot: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Ignored:
    box: Box
    until: float


@dataclass(frozen=True, slots=True)
class State:
    phase: Phase = Phase.IDLE
    since: float = 0.0  # first sighting of the current episode
    sightings: int = 0  # frames with a sighting in the current episode
    last_seen: float = 0.0
    best: Sighting | None = None
    ignored: tuple[Ignored, ...] = ()


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _best(current: Sighting | None, new: Sighting | None) -> Sighting | None:
    if new is None:
        return current
    return new if current is None or new.score > current.score else current


def step(
    state: State, t: float, sightings: Sequence[Sighting], rules: ConfirmConfig
) -> tuple[State, tuple[Action, ...]]:
    """Advance by one frame (or a timer tick with no sightings) at time ``t``."""
    ignored = tuple(i for i in state.ignored if i.until > t)
    if state.phase is not Phase.ALARM:
        sightings = [s for s in sightings if not any(iou(s.box, i.box) >= rules.ignore_iou for i in ignored)]
    state = replace(state, ignored=ignored)
    top = max(sightings, key=lambda s: s.score) if sightings else None

    if state.phase is Phase.IDLE:
        if top is None:
            return state, ()
        state = replace(state, phase=Phase.SUSPECT, since=t, sightings=1, last_seen=t, best=top)
        if rules.min_sightings <= 1:
            return replace(state, phase=Phase.ALARM), (Action.HOLD, Action.CONFIRM)
        return state, (Action.HOLD,)

    if state.phase is Phase.SUSPECT:
        if t - state.since > rules.window_s:
            assert state.best is not None
            forget = Ignored(state.best.box, t + rules.ignore_s)
            idle = State(ignored=(*ignored, forget) if rules.ignore_s > 0 else ignored)
            after, actions = step(idle, t, sightings, rules)
            return after, (Action.RELEASE_UNCONFIRMED, *actions)
        if top is None:
            return state, ()
        state = replace(state, sightings=state.sightings + 1, last_seen=t, best=_best(state.best, top))
        if state.sightings >= rules.min_sightings:
            return replace(state, phase=Phase.ALARM), (Action.CONFIRM,)
        return state, ()

    # Phase.ALARM
    if top is not None:
        return replace(state, sightings=state.sightings + 1, last_seen=t, best=_best(state.best, top)), ()
    if t - state.last_seen >= rules.end_after_s:
        return State(ignored=ignored), (Action.END,)
    return state, ()
