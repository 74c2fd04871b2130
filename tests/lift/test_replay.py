"""The pipeline on recordings: `edge lift replay` on composed e-bike scenes and on the people clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from drivers.detectors import Detection, Detector, load_manifest
from edge.lift.cli import register
from edge.lift.config import LiftConfig
from edge.lift.pipeline import FrameAnalyzer, split_sightings
from simulators.lift_camera import LiftScene
from tests.lift.conftest import read_image

pytestmark = pytest.mark.vision


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def version() -> None:  # a second command, so typer keeps `lift` as a sub-command
        """(unused)"""

    return app


def _config(tmp_path: Path, model_dir: Path, model: str = "yolox_nano", lifts: int = 1) -> Path:
    entries = "".join(
        f"  - id: lift-{i}\n    camera_url: http://127.0.0.1:9/video.mjpg\n    model: {model}\n"
        f"    model_dir: {model_dir}\n    fps: 5\n"
        for i in range(1, lifts + 1)
    )
    path = tmp_path / "gateway.yaml"
    path.write_text(f"site_id: s1\ngateway_id: g1\nlifts:\n{entries}")
    return path


def _inside_fraction(box: list[float], outer: tuple[int, int, int, int]) -> float:
    w = max(0.0, min(box[2], outer[2]) - max(box[0], outer[0]))
    h = max(0.0, min(box[3], outer[3]) - max(box[1], outer[1]))
    return w * h / ((box[2] - box[0]) * (box[3] - box[1]))


def _flat(text: str) -> str:
    """CLI output without rich's box and line wrapping."""
    return " ".join(text.replace("│", " ").split())


def _replay(*args: str) -> list[dict]:
    result = CliRunner().invoke(_app(), ["lift", "replay", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("model", "photo", "label"),
    [
        ("yolox_nano", "skimage_middlebury_motorcycle_left.png", "motorbike"),
        ("nanodet_m", "skimage_middlebury_motorcycle_left.png", "motorbike"),
        ("yolox_nano", "darknet_dog.jpg", "bicycle"),
    ],
)
def test_replay_of_a_composed_scene(
    tmp_path: Path, model_dir: Path, lift_dir: Path, model: str, photo: str, label: str
) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg", lift_dir / photo, fps=10, before_s=2, cross_s=3, after_s=1
    )
    video = scene.write_video(tmp_path / "scene.avi")
    lines = _replay(str(video), "--config", str(_config(tmp_path, model_dir, model)))

    sightings = [line for line in lines if line["type"] == "sighting"]
    assert sightings and {s["class"] for s in sightings} <= {"bicycle", "motorbike"}
    assert sum(s["class"] == label for s in sightings) > len(sightings) / 2
    assert sightings[0]["t"] == pytest.approx(2.0)  # seen in the first frame it is in
    assert sightings[-1]["t"] <= 5.0
    for s in sightings:  # each box is inside the photo, where it was at that time
        truth = scene.ebike_box(round(s["t"] * scene.fps))
        assert truth is not None and _inside_fraction(s["box"], truth) > 0.9, s
    changes = [(line["action"], line["state"]) for line in lines if line["type"] == "alarm"]
    assert changes == [("hold", "suspect"), ("confirm", "alarm"), ("end", "idle")]
    end = next(line for line in lines if line.get("action") == "end")
    assert end["t"] == pytest.approx(sightings[-1]["t"] + 7.0, abs=0.21) and end["after_end"] is True


def test_people_clip_raises_nothing(tmp_path: Path, model_dir: Path, lift_dir: Path) -> None:
    clip = lift_dir / "intel_one-by-one-person-detection.mp4"
    lines = _replay(str(clip), "--config", str(_config(tmp_path, model_dir)), "--others", "--from", "22", "--to", "42")
    assert [line for line in lines if line["type"] != "other"] == []
    people = [line for line in lines if line["class"] == "person"]
    assert len(people) > 20  # the people were seen, and are not e-bikes
    assert all(22 <= line["t"] <= 42 for line in lines)


def test_replay_names_a_bad_lift_and_a_bad_config(tmp_path: Path, model_dir: Path, lift_dir: Path) -> None:
    clip = str(lift_dir / "intel_one-by-one-person-detection.mp4")
    runner = CliRunner()
    result = runner.invoke(_app(), ["lift", "replay", clip, "--config", str(_config(tmp_path, model_dir, lifts=2))])
    assert result.exit_code == 2 and "the config has 2 lifts ['lift-1', 'lift-2']; pick one" in _flat(result.output)
    result = runner.invoke(
        _app(), ["lift", "replay", clip, "--config", str(_config(tmp_path, model_dir)), "--lift", "lift-9"]
    )
    assert result.exit_code == 2 and "no lift 'lift-9'" in _flat(result.output)
    bad = tmp_path / "bad.yaml"
    bad.write_text("site_id: s1\ngateway_id: g1\nlifts:\n  - id: l1\n    camera_url: x\n    fps: 99\n")
    result = runner.invoke(_app(), ["lift", "replay", clip, "--config", str(bad)])
    assert result.exit_code == 2 and "lifts[0].fps" in _flat(result.output) and "line 6" in _flat(result.output)


def test_replay_with_a_missing_model_says_which_file(tmp_path: Path, lift_dir: Path) -> None:
    clip = str(lift_dir / "intel_one-by-one-person-detection.mp4")
    result = CliRunner().invoke(_app(), ["lift", "replay", clip, "--config", str(_config(tmp_path, tmp_path / "void"))])
    assert result.exit_code == 2
    assert "model 'yolox_nano': file" in result.output
    assert "void/yolox_nano/yolox_nano.onnx not found" in _flat(result.output)


def test_person_alone_is_no_sighting(detectors: dict[str, Detector], lift_dir: Path) -> None:
    config = LiftConfig(id="l1", camera_url="x", motion={"enabled": False})
    report = FrameAnalyzer(config, detectors["yolox_nano"]).analyze(
        read_image(lift_dir, "intel_room_person_obo_f0300.jpg"), 0.0
    )
    assert report.ran_detector and report.sightings == () and report.snapshot is None
    assert [d.label for d in report.others] == ["person"]


def test_only_ebike_classes_are_sightings() -> None:
    spec = load_manifest().get("yolox_nano")
    names = ["person", "handbag", "backpack", "suitcase", "bicycle", "motorbike", "car"]
    found = [Detection(spec.classes.index(n), n, 0.9, (0, 0, 10, 10)) for n in names]
    sightings, others = split_sightings(found, spec.ebike_class_ids)
    assert [d.label for d in sightings] == ["bicycle", "motorbike"]
    assert [d.label for d in others] == ["person", "handbag", "backpack", "suitcase", "car"]
    assert split_sightings(found[:4], spec.ebike_class_ids)[0] == ()  # a person carrying bags


def test_motion_gate_skips_still_frames(detectors: dict[str, Detector], lift_dir: Path) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg",
        lift_dir / "skimage_middlebury_motorcycle_left.png",
        fps=10,
        before_s=1,
        cross_s=1,
        after_s=1,
    )
    gated = FrameAnalyzer(LiftConfig(id="l1", camera_url="x"), detectors["yolox_nano"])
    always = FrameAnalyzer(LiftConfig(id="l1", camera_url="x", motion={"enabled": False}), detectors["yolox_nano"])
    runs = {"gated": [], "always": []}
    for index in range(scene.length):
        runs["gated"].append(gated.analyze(scene.image(index), index / 10))
        runs["always"].append(always.analyze(scene.image(index), index / 10))
    assert sum(r.ran_detector for r in runs["always"]) == scene.length
    ran = [i for i, r in enumerate(runs["gated"]) if r.ran_detector]
    still = [*range(1, scene.first_ebike_frame), scene.length - 2, scene.length - 1]
    assert not set(ran) & set(still)  # nothing moves: no detector run (frame 0 calibrates)
    assert set(range(scene.first_ebike_frame, scene.last_ebike_frame + 1)) <= set(ran)
    seen = [i for i, r in enumerate(runs["gated"]) if r.sightings]
    assert seen[0] == scene.first_ebike_frame
    assert all(r.regions >= 1 for r in runs["gated"] if r.ran_detector)
    forced = gated.analyze(scene.image(0), 99.0, force=True)
    assert forced.ran_detector and forced.sightings == ()
