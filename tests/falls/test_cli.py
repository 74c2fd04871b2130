"""``edge fall calibrate`` and ``edge fall replay`` as an installer runs them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.falls.calibration import load_calibration

pytestmark = pytest.mark.vision

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "gateway.example.yaml"


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_replay_with_the_example_config_finds_falls_but_names_no_floors(scenario_videos) -> None:
    video, scene = scenario_videos["drop_day"]
    result = _invoke("fall", "replay", video, "--config", EXAMPLE)
    assert result.exit_code == 0, result.output
    falls = [line for line in _lines(result.stdout) if line["type"] == "fall"]
    assert [round(f["t"]) for f in falls] == [round(t.t) for t in scene.truths()]
    assert all(f["origin"]["floor"] is None for f in falls)
    assert "cannot be named" in result.stderr
    first = falls[0]
    assert set(first) >= {"type", "t", "track", "origin", "score"} and len(first["track"]) >= 7


def test_calibrate_from_a_still_then_replay_names_the_floors(tmp_path: Path, scenario_videos) -> None:
    video, scene = scenario_videos["drop_day"]
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), scene.image(0))
    corners = " ".join(f"{x:.1f},{y:.1f}" for x, y in scene.corners)
    cal, preview = tmp_path / "facade.yaml", tmp_path / "grid.png"
    result = _invoke(
        "fall",
        "calibrate",
        cal,
        "--still",
        still,
        "--corners",
        corners,
        "--floors",
        "8",
        "--columns",
        "5",
        "--preview",
        preview,
    )
    assert result.exit_code == 0, result.output
    assert load_calibration(cal).spec.floors == 8 and cv2.imread(str(preview)).shape == (270, 480, 3)
    annotated = tmp_path / "annotated.mp4"
    result = _invoke(
        "fall", "replay", video, "--config", EXAMPLE, "--calibration", cal, "--from", "3.5", "--annotate", annotated
    )
    assert result.exit_code == 0, result.output
    falls = [line for line in _lines(result.stdout) if line["type"] == "fall"]
    assert [(f["origin"]["floor"], f["origin"]["column"]) for f in falls] == [(4, 4), (2, 3)]
    cap = cv2.VideoCapture(str(annotated))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) > 100
    cap.release()


def test_a_corrupt_calibration_stops_replay_with_a_clear_error(tmp_path: Path, scenario_videos) -> None:
    video, _ = scenario_videos["drop_day"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("image_size: [480, 270]\ncorners: [[0, 0], [480, 0]]\nfloors: 8\ncolumns: 5\n")
    result = _invoke("fall", "replay", video, "--config", EXAMPLE, "--calibration", bad)
    assert result.exit_code == 2
    assert f"calibration {bad}: corners" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corners", "1,1 2,2 3,3"], "expected four 'x,y' points"),
        (["--corners", "10,10 100,10 100,100 10,100"], "give --still or --image-size"),
        (["--corners", "10,10 100,100 100,10 10,100", "--image-size", "200x200"], "do not form a facade"),
        (["--corners", "10,10 300,10 100,100 10,100", "--image-size", "200x200"], "outside the 200x200 image"),
    ],
)
def test_calibrate_refuses_bad_corners(tmp_path: Path, args: list[str], message: str) -> None:
    result = _invoke("fall", "calibrate", tmp_path / "c.yaml", "--floors", "5", "--columns", "3", *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "c.yaml").exists()
