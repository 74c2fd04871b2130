"""The confirmation state machine, from tables of (time, sightings) -> actions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.lift.config import ConfirmConfig
from edge.lift.confirm import Action, Phase, Sighting, State, iou, step

HOLD, RELEASE, CONFIRM, END = Action.HOLD, Action.RELEASE_UNCONFIRMED, Action.CONFIRM, Action.END
RULES = ConfirmConfig()  # window 2.5 s, 2 sightings, ignore 30 s, end 7 s after the last sighting

LEFT = (10.0, 100.0, 200.0, 400.0)
LEFT_MOVED = (20.0, 100.0, 210.0, 400.0)
RIGHT = (400.0, 100.0, 600.0, 400.0)


def bike(box: tuple[float, float, float, float] = LEFT, score: float = 0.8) -> Sighting:
    return Sighting("motorbike", score, box, snapshot=f"jpeg {score}".encode())


def run(
    frames: list[tuple[float, list[Sighting]]], rules: ConfirmConfig = RULES
) -> tuple[State, list[tuple[float, tuple[Action, ...]]]]:
    state, log = State(), []
    for t, sightings in frames:
        state, actions = step(state, t, sightings, rules)
        if actions:
            log.append((t, actions))
    return state, log


CASES = {
    "nothing seen": ([(t / 5, []) for t in range(50)], [], Phase.IDLE),
    "one false sighting: held, then released after the window": (
        [(0.0, [bike()]), (1.0, []), (2.5, []), (2.6, [])],
        [(0.0, (HOLD,)), (2.6, (RELEASE,))],
        Phase.IDLE,
    ),
    "second sighting confirms at once": (
        [(0.0, [bike()]), (0.2, [bike(LEFT_MOVED)])],
        [(0.0, (HOLD,)), (0.2, (CONFIRM,))],
        Phase.ALARM,
    ),
    "second sighting on the window's edge still confirms": (
        [(0.0, [bike()]), (2.5, [bike()])],
        [(0.0, (HOLD,)), (2.5, (CONFIRM,))],
        Phase.ALARM,
    ),
    "second sighting too late: released, and that object is ignored": (
        [(0.0, [bike()]), (2.7, [bike(LEFT_MOVED)]), (3.0, [bike()]), (20.0, [bike()])],
        [(0.0, (HOLD,)), (2.7, (RELEASE,))],
        Phase.IDLE,
    ),
    "a different object after a release is a new suspect": (
        [(0.0, [bike()]), (2.7, [bike(RIGHT)]), (2.9, [bike(RIGHT)])],
        [(0.0, (HOLD,)), (2.7, (RELEASE, HOLD)), (2.9, (CONFIRM,))],
        Phase.ALARM,
    ),
    "the ignored object counts again once the ignore period is over": (
        [(0.0, [bike()]), (2.6, []), (32.5, [bike()]), (32.7, [bike()]), (32.8, [bike()])],
        [(0.0, (HOLD,)), (2.6, (RELEASE,)), (32.7, (HOLD,)), (32.8, (CONFIRM,))],
        Phase.ALARM,
    ),
    "the alarm ends end_after_s after the last sighting": (
        [(0.0, [bike()]), (0.2, [bike()]), (5.0, [bike()]), (11.9, []), (12.0, [])],
        [(0.0, (HOLD,)), (0.2, (CONFIRM,)), (12.0, (END,))],
        Phase.IDLE,
    ),
    "a parked e-bike keeps the alarm up": (
        [(t * 0.2, [bike()]) for t in range(100)] + [(19.9, []), (25.0, [])],
        [(0.0, (HOLD,)), (0.2, (CONFIRM,))],
        Phase.ALARM,
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_table(case: str) -> None:
    frames, expected, phase = CASES[case]
    state, log = run(frames)
    assert log == expected
    assert state.phase is phase


def test_release_remembers_the_object_for_ignore_s() -> None:
    state, _ = run([(0.0, [bike()]), (2.6, [])])
    assert [(i.box, i.until) for i in state.ignored] == [(LEFT, 32.6)]
    state, actions = step(state, 40.0, [], RULES)
    assert state.ignored == () and actions == ()


def test_ignore_period_zero_ignores_nothing() -> None:
    rules = ConfirmConfig(ignore_s=0)
    _, log = run([(0.0, [bike()]), (2.7, [bike()])], rules)
    assert log == [(0.0, (HOLD,)), (2.7, (RELEASE, HOLD))]


def test_one_sighting_is_enough_when_configured() -> None:
    _, log = run([(0.0, [bike()])], ConfirmConfig(min_sightings=1))
    assert log == [(0.0, (HOLD, CONFIRM))]


def test_three_sightings_needed_when_configured() -> None:
    state, log = run([(0.0, [bike()]), (0.5, [bike()]), (1.0, [bike()])], ConfirmConfig(min_sightings=3))
    assert log == [(0.0, (HOLD,)), (1.0, (CONFIRM,))]
    assert state.sightings == 3


def test_best_sighting_is_kept_for_the_snapshot() -> None:
    state, _ = run([(0.0, [bike(score=0.5)]), (0.2, [bike(score=0.9), bike(RIGHT, 0.6)]), (0.4, [bike(score=0.7)])])
    assert state.best is not None
    assert state.best.score == 0.9 and state.best.snapshot == b"jpeg 0.9"


def test_several_bikes_in_one_frame_are_one_sighting() -> None:
    state, log = run([(0.0, [bike(), bike(RIGHT)])])
    assert log == [(0.0, (HOLD,))] and state.sightings == 1


def test_time_without_frames_still_moves_the_machine() -> None:
    """A camera that drops mid-alarm: the timer alone ends it."""
    state, _ = run([(0.0, [bike()]), (0.2, [bike()])])
    state, actions = step(state, 7.2, [], RULES)
    assert actions == (END,) and state.phase is Phase.IDLE


def test_iou() -> None:
    assert iou(LEFT, LEFT) == pytest.approx(1.0)
    assert iou(LEFT, RIGHT) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


# -- invariants over random sighting sequences -------------------------------------------------------------

FRAME = st.tuples(
    st.floats(min_value=0.05, max_value=3.0),  # time since the previous frame
    st.lists(st.sampled_from([LEFT, LEFT_MOVED, RIGHT]), max_size=2),  # e-bikes in this frame
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAME, max_size=60))
def test_invariants(frames: list[tuple[float, list]]) -> None:
    state, t = State(), 0.0
    alarms_open = 0
    for dt, boxes in frames:
        t += dt
        before = state
        state, actions = step(state, t, [bike(b) for b in boxes], RULES)
        for action in actions:
            if action is CONFIRM:
                alarms_open += 1
                assert state.sightings >= RULES.min_sightings and t - state.since <= RULES.window_s
            if action is END:
                alarms_open -= 1
                assert before.phase is Phase.ALARM and t - before.last_seen >= RULES.end_after_s
            if action is RELEASE:
                assert before.phase is Phase.SUSPECT and t - before.since > RULES.window_s
        assert alarms_open == (1 if state.phase is Phase.ALARM else 0)  # one alarm at a time, ended once
        if boxes and state.phase is Phase.IDLE:  # seen but idle: only an ignored object can be
            assert all(any(iou(b, i.box) >= RULES.ignore_iou for i in state.ignored) for b in boxes)
        assert all(i.until > t for i in state.ignored)
