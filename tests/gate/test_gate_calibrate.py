"""``edge gate calibrate`` on real photos (a part of faces/asia), and what it computes, on numbers known by hand."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edge.gate.calibrate import Scores, calibrate, pair_scores, rates, threshold_for_far
from edge.gate.cli import register

app = typer.Typer()
register(app)

PEOPLE = ("Jackie_Chan", "Zhu_Rongji", "Michelle_Kwan", "Yao_Ming", "Lucy_Liu", "Li_Peng")


@pytest.fixture(scope="module")
def photos(tmp_path_factory, faces_dir: Path) -> Path:
    """Six people of faces/asia, linked into a folder of the installer's layout, plus a photo without a face."""
    folder = tmp_path_factory.mktemp("calib")
    for person in PEOPLE:
        (folder / person).mkdir()
        for photo in sorted((faces_dir / "asia" / person).glob("*.jpg"))[:4]:
            (folder / person / photo.name).symlink_to(photo)
    cv2.imwrite(str(folder / "Li_Peng" / "wall.jpg"), np.full((200, 200, 3), 128, np.uint8))
    return folder


def test_calibrate_prints_the_distributions_rates_and_threshold_and_writes_a_det_png(photos, tmp_path) -> None:
    det = tmp_path / "det.png"
    result = CliRunner().invoke(app, ["gate", "calibrate", str(photos), "--det", str(det), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["people"], summary["photos"], summary["skipped"]) == (6, 24, 1)
    assert summary["genuine_pairs"] == 6 * 6 and summary["impostor_pairs"] == (24 * 23) // 2 - 36
    assert summary["limited_by_data"] is True  # 1e-4 needs > 10,000 impostor pairs
    assert summary["far"] == 0 and 0.3 < summary["threshold"] < 0.8 and summary["frr"] < 0.3
    image = cv2.imread(str(det))
    assert image is not None and image.shape == (600, 600, 3)
    text = CliRunner().invoke(app, ["gate", "calibrate", str(photos), "--det", str(det), "--embedding", "dlib"])
    assert text.exit_code == 0, text.output
    for expected in ("genuine distances", "impostor distances", "threshold for FAR <= 0.0001", "wall.jpg: no face"):
        assert expected in text.output


def test_calibrate_refuses_bad_folders_and_models(tmp_path) -> None:
    (tmp_path / "only_one").mkdir()
    cv2.imwrite(str(tmp_path / "only_one" / "a.jpg"), np.zeros((50, 50, 3), np.uint8))
    wide = {"COLUMNS": "300"}  # the error box wraps at the terminal width
    one = CliRunner().invoke(app, ["gate", "calibrate", str(tmp_path)], env=wide)
    assert one.exit_code == 2 and "at least two sub-folders" in one.output
    model = CliRunner().invoke(app, ["gate", "calibrate", str(tmp_path), "--embedding", "facenet"], env=wide)
    assert model.exit_code == 2 and "unknown embedding 'facenet'" in model.output


def test_far_frr_and_the_threshold_for_a_target_far() -> None:
    scores = Scores(genuine=np.array([0.1, 0.2, 0.3, 0.6]), impostor=np.array([0.5, 0.7, 0.8, 0.9]), metric="cosine")
    low = rates(scores, 0.35)
    assert (low.far, low.frr) == (0.0, 0.25)
    at = rates(scores, 0.55)
    assert (at.far, at.frr) == (0.25, 0.25)
    assert threshold_for_far(scores, 0.0) < 0.5 <= threshold_for_far(scores, 0.25) < 0.7
    result = calibrate_scores(scores)
    assert result.chosen.far == 0.0 and result.resolution == 0.25 and result.limited_by_data


def calibrate_scores(scores: Scores):
    from edge.gate.calibrate import Embedded

    # four people with the genuine/impostor structure rebuilt from vectors is overkill: go through calibrate's
    # public function with a tiny embedded set instead
    vectors = [np.array([1.0, 0.0]), np.array([0.99, 0.05]), np.array([0.0, 1.0]), np.array([0.05, 0.99])]
    return calibrate([Embedded(p, "x", v) for p, v in zip("aabb", vectors, strict=True)], "cosine", 1e-4, [])


def test_pairs_are_every_pair_once() -> None:
    from edge.gate.calibrate import Embedded

    vectors = [np.array([1.0, 0.0]), np.array([0.9, 0.1]), np.array([0.0, 1.0])]
    scores = pair_scores([Embedded(p, "x", v) for p, v in zip("aab", vectors, strict=True)], "euclidean")
    assert len(scores.genuine) == 1 and len(scores.impostor) == 2
    assert scores.genuine[0] == pytest.approx(np.hypot(0.1, 0.1))
