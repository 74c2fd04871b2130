"""The analysis on rendered facade videos: each fall found once with its floor ±1, nothing from distractors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.falls.analyzer import FallAnalyzer
from edge.falls.calibration import Calibration
from edge.falls.config import FallCameraConfig, MaskZone
from edge.falls.replay import replay
from edge.falls.shake import ShakeDetector, Steadiness
from simulators.facade_camera import FacadeScene

pytestmark = pytest.mark.vision

CONFIG = FallCameraConfig(id="facade-1", camera_url="file")


@pytest.mark.parametrize("name", ["drop_day", "birds", "wind", "rain", "night", "shake", "clouds"])
def test_every_scenario_gives_exactly_its_falls(scenario_videos, name: str) -> None:
    video, scene = scenario_videos[name]
    calibration = Calibration(scene.calibration())
    falls = [line for line in replay(video, CONFIG, calibration) if line["type"] == "fall"]
    truths = scene.truths()
    assert len(falls) == len(truths), [(f["t"], f["origin"]) for f in falls]
    for fall, truth in zip(sorted(falls, key=lambda f: f["t"]), truths, strict=True):
        assert truth.t - 0.1 <= fall["t"] <= truth.t + 0.6, (fall["t"], truth)
        assert abs(fall["origin"]["floor"] - truth.floor) <= 1, (fall["origin"], truth)
        assert fall["origin"]["floor_range"][0] <= truth.floor <= fall["origin"]["floor_range"][1]
        assert fall["unit"] == "m" and 5 < fall["acceleration"] < 13
        assert len(fall["track"]) >= CONFIG.detection.min_track_frames


def test_without_calibration_falls_are_found_but_floors_are_not_named(scenario_videos) -> None:
    video, scene = scenario_videos["drop_day"]
    falls = [line for line in replay(video, CONFIG, None) if line["type"] == "fall"]
    assert len(falls) == len(scene.truths())
    assert all(f["origin"]["floor"] is None and "no facade calibration" in f["origin"]["note"] for f in falls)
    assert all(f["unit"] == "frame" for f in falls)


def test_a_mask_hides_a_fall_inside_it(scenario_videos) -> None:
    video, scene = scenario_videos["drop_day"]
    # the first object falls in column 2 (x about 0.33-0.45): mask that strip
    masked = CONFIG.model_copy(update={"masks": [MaskZone(name="strip", box=(0.3, 0.0, 0.47, 1.0))]})
    falls = [line for line in replay(video, masked, None) if line["type"] == "fall"]
    assert [round(f["t"]) for f in falls] == [4, 7]


def test_replay_from_to_picks_a_part(scenario_videos) -> None:
    video, _ = scenario_videos["drop_day"]
    falls = [line for line in replay(video, CONFIG, None, start_s=3.5, end_s=6.5) if line["type"] == "fall"]
    assert [round(f["t"]) for f in falls] == [4]


def test_shaking_pauses_and_says_so(scenario_videos) -> None:
    video, _ = scenario_videos["shake"]
    lines = list(replay(video, CONFIG, None))
    states = [(line["type"], line["t"]) for line in lines if line["type"] in ("shaking", "steady")]
    assert [s for s, _ in states] == ["shaking", "steady"]
    assert 0.9 <= states[0][1] <= 1.3 and 3.0 <= states[1][1] <= 4.5  # shaken 1.0-3.0 s, calm_s 1


def test_small_shifts_are_compensated_large_ones_pause() -> None:
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur((rng.random((180, 320)) * 255).astype(np.uint8), (0, 0), 3)
    keep = np.full(base.shape, 255, np.uint8)
    detector = ShakeDetector(CONFIG.shake, (320, 180), keep)
    assert detector.update(base, 0.0).steadiness is Steadiness.STEADY

    def moved(dx: float, dy: float) -> np.ndarray:
        return cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, dy]]), (320, 180), borderMode=cv2.BORDER_REFLECT)

    small = detector.update(moved(1.8, -1.2), 0.04)
    assert small.steadiness is Steadiness.COMPENSATED
    assert small.shift == pytest.approx((1.8, -1.2), abs=0.5)
    assert detector.update(moved(6, 4), 0.08).steadiness is Steadiness.SHAKING
    assert detector.update(base, 0.5).steadiness is Steadiness.SHAKING  # not calm for calm_s yet
    assert detector.update(base, 1.6).steadiness is Steadiness.STEADY


def test_the_analysis_size_is_configurable(scenario_videos) -> None:
    video, scene = scenario_videos["drop_day"]
    small = CONFIG.model_copy(update={"detection": CONFIG.detection.model_copy(update={"analysis_width": 240})})
    analyzer = FallAnalyzer(small, None)
    analyzer.analyze(np.zeros((270, 480, 3), np.uint8), 0.0)
    assert analyzer.size == (240, 135)
    assert FacadeScene  # the scenes are the simulator's


def _falling_track(frames: int) -> list[tuple[float, float, float]]:
    """A fall at about g on a 640x360 picture of a 10-floor facade (12 px a metre): (t, x, y)."""
    rng = np.random.default_rng(3)
    return [(i / 25, 320 + rng.normal(0, 0.2), 40 + 0.5 * 9.81 * 12 * (i / 25) ** 2) for i in range(frames)]


def test_a_fall_is_accepted_once_it_has_passed_on_consecutive_frames() -> None:
    from edge.falls.analyzer import PASSES
    from edge.falls.calibration import CalibrationFile
    from edge.falls.tracker import Track
    from edge.falls.trajectory import judge

    spec = CalibrationFile(
        image_size=(640, 360), corners=((0, 0), (640, 0), (640, 360), (0, 360)), floors=10, columns=5
    )
    analyzer = FallAnalyzer(CONFIG, Calibration(spec))
    analyzer.analyze(np.full((360, 640, 3), 128, np.uint8), 0.0)  # the analysis size and geometry
    assert analyzer._geometry is not None
    track, first_pass, accepted = Track(1), None, None
    for index, (t, x, y) in enumerate(_falling_track(30)):
        track.add(t, x, y, 30.0)
        verdict = judge(track.t, track.x, track.y, analyzer._geometry, CONFIG.detection)
        first_pass = index if first_pass is None and verdict.fall else first_pass
        if analyzer._judge(track, t) is not None:
            accepted = index
            break
    assert first_pass is not None and accepted == first_pass + PASSES - 1
    # a track that passes once, then not (it jumped back up: a leaf turning), starts counting again
    track = Track(2)
    points = _falling_track(30)
    for t, x, y in points[: first_pass + 1]:
        track.add(t, x, y, 30.0)
        assert analyzer._judge(track, t) is None
    assert track.passes == 1
    t, x, _ = points[first_pass + 1]
    track.add(t, x, track.y[-1] - 8.0, 30.0)
    track.add(t + 0.04, x, track.y[-1] - 8.0, 30.0)
    assert analyzer._judge(track, t + 0.04) is None and track.passes == 0
