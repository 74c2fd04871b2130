"""Facade calibration: the grid maps picture points to floors and columns; bad files get clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.falls.calibration import Calibration, CalibrationError, CalibrationFile, load_calibration, save_calibration
from simulators.facade_camera import FacadeScene, load_fall_scenario

GOOD = CalibrationFile(
    image_size=(1280, 720), corners=((400, 40), (880, 40), (1010, 700), (270, 700)), floors=18, columns=6, first_floor=2
)


def test_round_trip_and_the_grid(tmp_path: Path) -> None:
    path = save_calibration(GOOD, tmp_path / "cal.yaml")
    cal = load_calibration(path)
    assert cal.spec == GOOD
    # the corners map to the facade's corners; the bottom-left window is floor 2 (first_floor), column 1
    u, v = cal.to_facade(np.array([[270 / 1280, 700 / 720], [880 / 1280, 40 / 720]])).T
    assert u == pytest.approx([0, 6], abs=1e-6) and v == pytest.approx([0, 18], abs=1e-6)
    where = cal.locate(0.5, 0.5, du=0.3, dv=0.4)
    assert (where.floor, where.column, where.floor_range) == (2, 1, (2, 2))
    top = cal.locate(5.9, 17.9, du=0.3, dv=0.4)
    assert (top.floor, top.column, top.floor_range) == (19, 6, (19, 19))


def test_the_simulated_scene_is_calibrated_by_its_corners() -> None:
    scene = FacadeScene(load_fall_scenario("drop_day"))
    cal = Calibration(scene.calibration())
    w, h = scene.size
    point = scene.to_image(1.5, 6.45)[0] / np.array([w, h])  # column 2, floor 7 of a first_floor 1 facade
    where = cal.locate(*cal.to_facade(point[None])[0], du=0.1, dv=0.1)
    assert (where.floor, where.column) == (7, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image_size: [1280, 720\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("image_size: [1280, 720]\nfloors: 5\ncolumns: 3\n", "corners: Field required"),
        ("image_size: [1280, 720]\ncorners: [[0, 0], [10, 0], [10, 10]]\nfloors: 5\ncolumns: 3\n", "corners"),
        (
            "image_size: [1280, 720]\ncorners: [[0,0],[100,0],[100,100],[0,100]]\nfloors: 0\ncolumns: 3\n",
            "floors: Input should be greater than or equal to 1",
        ),
        (
            "image_size: [1280, 720]\ncorners: [[0,0],[100,0],[100,100],[0,100]]\nfloors: 5\ncolumns: 3\nfoo: 1\n",
            "foo: unknown key",
        ),
        (
            "image_size: [1280, 720]\ncorners: [[0,0],[1500,0],[100,100],[0,100]]\nfloors: 5\ncolumns: 3\n",
            "top-right outside the 1280x720 image",
        ),
        (
            "image_size: [1280, 720]\ncorners: [[0,0],[100,100],[100,0],[0,100]]\nfloors: 5\ncolumns: 3\n",
            "do not form a facade",
        ),
    ],
    ids=["bad-yaml", "not-a-mapping", "no-corners", "three-corners", "no-floors", "unknown-key", "outside", "crossed"],
)
def test_a_corrupt_calibration_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cal.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_missing_calibration_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="nothing.yaml: No such file"):
        load_calibration(tmp_path / "nothing.yaml")
