"""The fall test as a pure function: parabolas pass; constant speed, landing, sideways and fluttering fail."""

from __future__ import annotations

import numpy as np
import pytest

from edge.falls.calibration import Calibration, CalibrationFile
from edge.falls.config import DetectionConfig
from edge.falls.trajectory import Geometry, judge

SIZE = (640, 360)
CONFIG = DetectionConfig()
FPS = 25.0


def _calibration() -> Calibration:
    # a flat facade of 10 floors x 3 m filling rows 0..360: 12 px per metre, no perspective
    return Calibration(
        CalibrationFile(image_size=SIZE, corners=((0, 0), (640, 0), (640, 360), (0, 360)), floors=10, columns=5)
    )


def _track(y_of_t, x_of_t=lambda t: 300.0, frames: int = 20, noise: float = 0.3, seed: int = 1):
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    return (list(t), list(x_of_t(t) + rng.normal(0, noise, frames)), list(y_of_t(t) + rng.normal(0, noise, frames)))


CAL = Geometry(SIZE, _calibration())
UNCAL = Geometry(SIZE, None)
G_PX = 9.81 * 12  # px/s² on that facade


@pytest.mark.parametrize("geometry", [CAL, UNCAL], ids=["calibrated", "uncalibrated"])
def test_a_dropped_object_is_a_fall(geometry: Geometry) -> None:
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2)
    verdict = judge(t, x, y, geometry, CONFIG)
    assert verdict.fall, verdict
    if geometry is CAL:
        assert verdict.acceleration == pytest.approx(9.81, rel=0.1)
        assert verdict.score > 0.8


def test_a_thrown_object_drifting_sideways_is_a_fall() -> None:
    t, x, y = _track(lambda t: 60 - 12 * t + 0.5 * G_PX * t**2, lambda t: 200 + 20 * t, frames=30)
    assert judge(t, x, y, CAL, CONFIG).fall


@pytest.mark.parametrize(
    ("name", "y_of_t", "x_of_t", "reason"),
    [
        ("rain at a constant speed", lambda t: 20 + 96 * t, lambda t: 300 + 0 * t, "acceleration out of range"),
        (
            "a bird landing (slowing down)",
            lambda t: 40 + 120 * t - 0.5 * 60 * t**2,
            lambda t: 100 + 60 * t,
            "acceleration out of range",
        ),
        ("a bird crossing", lambda t: 100 + 5 * t, lambda t: 50 + 200 * t, "not far enough down"),
        (
            "a leaf fluttering",
            lambda t: 50 + 15 * t + 0 * t,
            lambda t: 300 + 8 * np.sin(2 * np.pi * 0.7 * t),
            "not far enough down",
        ),  # over the latest WINDOW points
        (
            "a leaf falling a long way",
            lambda t: 50 + 40 * t,
            lambda t: 300 + 8 * np.sin(2 * np.pi * 0.7 * t),
            "acceleration out of range",
        ),
        (
            "laundry swinging",
            lambda t: 200 + 3 * np.cos(2 * np.pi * 0.6 * t),
            lambda t: 300 + 10 * np.sin(3.8 * t),
            "not far enough down",
        ),
    ],
)
def test_distractors_are_not_falls(name, y_of_t, x_of_t, reason) -> None:
    t, x, y = _track(y_of_t, x_of_t, frames=40)
    verdict = judge(t, x, y, CAL, CONFIG)
    assert not verdict.fall, name
    assert verdict.reason == reason, (name, verdict)


def test_a_parabola_within_the_noise_is_refused() -> None:
    # a short, noisy track whose bend (about 1.6 px) is smaller than three times its noise
    t, x, y = _track(lambda t: 20 + 40 * t + 0.5 * 80 * t**2, frames=11, noise=0.0)
    zigzag = [v + 0.8 * (-1) ** i for i, v in enumerate(y)]  # centroid noise of 0.8 px
    verdict = judge(t, x, zigzag, CAL, CONFIG)
    assert verdict.reason == "acceleration hidden in the noise", verdict
    # the same bend without noise is a fall
    t, x, y = _track(lambda t: 20 + 40 * t + 0.5 * 80 * t**2, frames=11, noise=0.05)
    assert judge(t, x, y, CAL, CONFIG).fall


def test_a_fall_beginning_beside_the_facade_is_refused() -> None:
    narrow = Calibration(
        CalibrationFile(image_size=SIZE, corners=((200, 0), (440, 0), (440, 360), (200, 360)), floors=10, columns=2)
    )
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, lambda t: 600 + 0 * t)
    assert judge(t, x, y, Geometry(SIZE, narrow), CONFIG).reason == "began off the facade"
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, lambda t: 320 + 0 * t)
    assert judge(t, x, y, Geometry(SIZE, narrow), CONFIG).fall


def test_a_fall_too_jerky_for_a_parabola_is_refused() -> None:
    t, x, y = _track(
        lambda t: 60 + 0.5 * G_PX * t**2, lambda t: 300 + 6 * np.sign(np.sin(40 * t)), frames=25, noise=0.1
    )
    assert judge(t, x, y, CAL, CONFIG).reason == "not a smooth fall"


def test_mostly_sideways_is_refused() -> None:
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, lambda t: 100 + 160 * t, frames=25)
    assert judge(t, x, y, CAL, CONFIG).reason == "more sideways than down"


def test_too_few_points_are_not_judged() -> None:
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, frames=CONFIG.min_track_frames - 1)
    assert judge(t, x, y, CAL, CONFIG).reason == "too few points"


def test_a_track_seen_on_too_few_of_its_frames_is_refused() -> None:
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, frames=30)
    every_other = (t[::2], x[::2], y[::2])  # seen on half its frames: a flickering blob
    assert judge(*every_other, CAL, CONFIG, frame_period=1 / FPS).reason == "seen on too few frames"
    assert judge(t, x, y, CAL, CONFIG, frame_period=1 / FPS).fall


def test_a_leaf_fluttering_sideways_while_it_seems_to_fall_is_refused() -> None:
    # the height of a fall (as a small leaf's noisy centroid can bend like one), while sideways it swings 6 px at
    # 0.7 Hz, as a leaf does: its sideways acceleration is as large as the downward one
    def flutter(t: np.ndarray) -> np.ndarray:
        return 300 + 6 * np.sin(2 * np.pi * 0.7 * t - 0.19)

    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, flutter, frames=16)
    assert judge(t, x, y, CAL, CONFIG).reason == "flutters sideways"
    # the same fall drifting steadily sideways is one
    t, x, y = _track(lambda t: 60 + 0.5 * G_PX * t**2, lambda t: 300 + 20 * t, frames=16)
    assert judge(t, x, y, CAL, CONFIG).fall


def test_a_thrown_object_slowed_sideways_by_drag_is_a_fall() -> None:
    # thrown at 2 m/s sideways; drag slows it by 2 m/s² (k = 0.08 /m at 5 m/s) and the fall by 1 m/s²
    t, x, y = _track(lambda t: 60 + 0.5 * 0.9 * G_PX * t**2, lambda t: 200 + 24 * t - 0.5 * 24 * t**2, frames=20)
    assert judge(t, x, y, CAL, CONFIG).fall
