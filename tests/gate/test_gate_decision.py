"""The k-of-n tracker alone: table-driven, no faces needed."""

from __future__ import annotations

import pytest

from edge.gate.decision import DecisionTracker, Sighting

TOL = 0.5


def seen(owner: str | None, distance: float) -> Sighting[str]:
    return Sighting(owner, distance, TOL)


def run(tracker: DecisionTracker, frames: list[list[Sighting]], dt: float = 0.1) -> list[tuple[int, str | None]]:
    """(frame number, key) of every decision over the frames."""
    out = []
    for i, sightings in enumerate(frames):
        out += [(i, a.key) for a in tracker.observe(i * dt, sightings, ref=i)]
    return out


A, B = "alice", "bob"


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # one lucky frame never decides
        ([[seen(A, 0.4)], [], [], [], [], []], []),
        # three of five agree: decided on the third
        ([[seen(A, 0.4)], [], [seen(A, 0.45)], [seen(A, 0.3)]], [(3, A)]),
        # two of five, then the first one falls out of the window: no decision
        ([[seen(A, 0.4)], [seen(A, 0.4)], [], [], [], [], [seen(A, 0.4)]], []),
        # outside the tolerance it is a stranger, whoever is nearest
        ([[seen(A, 0.55)], [seen(A, 0.58)], [seen(A, 0.7)]], [(2, None)]),
        # a stranger frame in between does not make a resident a stranger
        ([[seen(A, 0.4)], [seen(A, 0.6)], [seen(A, 0.4)], [seen(A, 0.4)]], [(3, A)]),
        # two people in view: each decided on their own frames
        ([[seen(A, 0.3), seen(B, 0.3)], [seen(A, 0.3), seen(B, 0.3)], [seen(A, 0.3), seen(B, 0.3)]], [(2, A), (2, B)]),
        # nothing enrolled: every face is a stranger
        ([[seen(None, float("inf"))]] * 3, [(2, None)]),
    ],
)
def test_k_of_n(frames: list[list[Sighting]], expected: list[tuple[int, str | None]]) -> None:
    assert run(DecisionTracker(k=3, n=5, cooldown_s=5), frames) == expected


def test_best_distance_and_frame_are_reported() -> None:
    tracker: DecisionTracker[str, int] = DecisionTracker(k=3, n=5, cooldown_s=5)
    tracker.observe(0.0, [seen(A, 0.45)], ref=10)
    tracker.observe(0.1, [seen(A, 0.31)], ref=11)
    (decision,) = tracker.observe(0.2, [seen(A, 0.40)], ref=12)
    assert (decision.key, decision.distance, decision.best, decision.frames) == (A, 0.31, 11, 3)


def test_one_person_one_decision_until_out_of_view_for_the_cooldown() -> None:
    tracker = DecisionTracker(k=2, n=3, cooldown_s=2.0)
    standing = [[seen(A, 0.3)]] * 50  # 5 s in view at 10 frames/s
    assert run(tracker, standing) == [(1, A)]
    # gone for 1 s (less than the cool-down), back: still no second decision
    assert [a.key for i in range(10) for a in tracker.observe(5.0 + i * 0.1, [], ref=0)] == []
    assert [a for i in range(5) for a in tracker.observe(6.0 + i * 0.1, [seen(A, 0.3)], ref=0)] == []
    # gone for 3 s: decided again
    back = [a.key for i in range(3) for a in tracker.observe(9.5 + i * 0.1, [seen(A, 0.3)], ref=0)]
    assert back == [A]


def test_a_resident_seen_less_clearly_while_cooling_is_no_stranger() -> None:
    tracker = DecisionTracker(k=2, n=3, cooldown_s=2.0)
    frames = [[seen(A, 0.3)], [seen(A, 0.3)]] + [[seen(A, 0.56)]] * 10
    assert run(tracker, frames) == [(1, A)]
    # but a face far from everyone is a stranger even then
    assert [a.key for a in tracker.observe(1.3, [seen(A, 0.8)], 0) + tracker.observe(1.4, [seen(A, 0.8)], 0)] == [None]


def test_k_must_fit_in_n() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        DecisionTracker(k=4, n=3, cooldown_s=1)


def measured(owner: str, distance: float, evidence: int, live: float | None = None) -> Sighting[str]:
    """A sighting resting on computation ``evidence`` (a face that reused a result repeats its number)."""
    return Sighting(owner, distance, TOL, live=live, evidence=evidence)


def test_a_reused_result_adds_no_vote() -> None:
    tracker: DecisionTracker[str, int] = DecisionTracker(k=3, n=5, cooldown_s=5)
    assert run(tracker, [[measured(A, 0.4, evidence=1)]] * 5) == []  # one measurement, five frames
    tracker.reset()
    frames = [[measured(A, 0.4, 1)], [measured(A, 0.4, 1)], [measured(A, 0.4, 2)], [measured(A, 0.4, 2)]]
    assert run(tracker, frames) == []
    (decision,) = tracker.observe(0.4, [measured(A, 0.3, 3)], ref=4)
    assert (decision.frames, decision.distances) == (3, (0.4, 0.4, 0.3))


def test_the_window_p_live_counts_each_measurement_once() -> None:
    tracker: DecisionTracker[str, int] = DecisionTracker(k=3, n=5, cooldown_s=5)
    frames = [[measured(A, 0.4, 1, live=0.9)]] * 3 + [[measured(A, 0.4, 2, live=0.1)], [measured(A, 0.4, 3, live=0.2)]]
    decisions = [a for i, f in enumerate(frames) for a in tracker.observe(i * 0.1, f, ref=i)]
    (decision,) = decisions
    assert decision.live == (0.9, 0.1, 0.2) and decision.live_score == pytest.approx(0.4)


def test_a_result_a_decision_was_taken_on_does_not_count_again() -> None:
    tracker: DecisionTracker[str, int] = DecisionTracker(k=3, n=5, cooldown_s=0)  # decided again at once
    frames = [[measured(A, 0.4, e)] for e in (1, 2, 3, 3, 4, 4, 5)]  # frame 3 reuses the deciding result
    assert run(tracker, frames) == [(2, A)]  # 3, 4, 5 would be three, but 3 was spent on the first decision
    assert [a.key for a in tracker.observe(0.7, [measured(A, 0.4, 6)], ref=7)] == [A]
