"""``edge residents`` and ``edge gate replay`` through the typer app, on real photos and the stranger clip."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from edge.gate.cli import register
from edge.gate.config import STORE_FILE
from tests.gate.conftest import make_store

app = typer.Typer()
register(app)
runner = CliRunner()


def write_config(tmp_path: Path, **gate) -> Path:
    path = tmp_path / "gw.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "site_id": "s1",
                "gateway_id": "gw1",
                "data_dir": str(tmp_path / "data"),
                "gates": [{"id": "main", "camera": "0", **gate}],
            }
        )
    )
    return path


def test_residents_add_list_remove(tmp_path: Path, faces_dir: Path) -> None:
    config = write_config(tmp_path)
    photos = sorted((faces_dir / "residents" / "biden").iterdir())
    added = runner.invoke(
        app,
        [
            "residents",
            "add",
            "Joe",
            *map(str, photos),
            "--gate",
            "main",
            "--config",
            str(config),
            "--valid-until",
            "2099-01-01",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "enrolled Joe" in added.output and "from 2 photo(s)" in added.output
    listed = runner.invoke(app, ["residents", "list", "--json", "--config", str(config)])
    (joe,) = json.loads(listed.output)
    assert (joe["name"], joe["gates"], joe["encodings"]) == ("Joe", ["main"], 2) and joe["valid_until"] > 4e9
    removed = runner.invoke(app, ["residents", "remove", "joe", "--config", str(config)])
    assert removed.exit_code == 0 and "removed Joe" in removed.output
    assert json.loads(runner.invoke(app, ["residents", "list", "--json", "--config", str(config)]).output) == []


def test_residents_add_names_every_bad_photo(tmp_path: Path, faces_dir: Path) -> None:
    store = tmp_path / "r.db"
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    group = faces_dir / "probes" / "kit_with_rose.jpg"
    result = runner.invoke(app, ["residents", "add", "Pair", str(group), str(corrupt), "--store", str(store)])
    assert result.exit_code == 1
    assert "kit_with_rose.jpg: 2 faces found" in result.output
    assert "corrupt.jpg: not a readable image" in result.output
    assert "Pair not enrolled: 2 of 2 photo(s) unusable" in result.output
    bad_date = runner.invoke(app, ["residents", "add", "X", str(group), "--store", str(store), "--valid-from", "soon"])
    assert bad_date.exit_code == 2 and "not an ISO date" in bad_date.output


def test_replay_prints_one_json_line_per_decision(tmp_path: Path, enrolled, clip: Path) -> None:
    config = write_config(tmp_path)
    make_store(tmp_path / "data" / STORE_FILE, enrolled).close()
    result = runner.invoke(app, ["gate", "replay", str(clip), "--config", str(config), "--every", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, "no decision on the stranger clip"
    for line in lines:
        assert line["person"] == "unknown" and line["result"] == "denied" and line["kind"] == "access.stranger"
        assert 0 < line["t"] < 9.2 and line["distance"] > 0.5 and line["gate"] == "main"


def test_replay_bad_input(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    missing = runner.invoke(app, ["gate", "replay", str(tmp_path / "none.mp4"), "--config", str(config)])
    assert missing.exit_code == 2 and "no such file" in missing.output
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    broken = runner.invoke(app, ["gate", "replay", str(not_video), "--config", str(config)])
    assert broken.exit_code == 1 and "cannot open camera source" in broken.output
    other = runner.invoke(app, ["gate", "replay", str(not_video), "--config", str(config), "--gate", "side"])
    assert other.exit_code == 2 and "no gate 'side'" in other.output
    mode = runner.invoke(app, ["gate", "replay", str(not_video), "--config", str(config), "--liveness", "maybe"])
    assert mode.exit_code == 2 and "maybe" in mode.output and "enforce" in mode.output


def test_replay_liveness_override_keeps_the_json_fields(tmp_path: Path, faces_dir: Path, enroller) -> None:
    """A recording of a resident's photos: enforce refuses them as spoofs, off grants; same fields either way."""
    import cv2

    from edge.gate.store import ResidentStore

    config = write_config(tmp_path)
    store = ResidentStore(tmp_path / "data" / STORE_FILE)
    store.add_resident("Zhou Min", [enroller.enrol_file(faces_dir / "spoof" / "live.jpg")])
    store.close()
    video = tmp_path / "poster_then_her.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (480, 640))
    for name in ("print_attack.jpg", "live.jpg"):
        image = cv2.imread(str(faces_dir / "spoof" / name))
        for _ in range(8):
            writer.write(image)
    writer.release()
    runs = {}
    for mode in ("enforce", "off"):
        result = runner.invoke(app, ["gate", "replay", str(video), "--config", str(config), "--liveness", mode])
        assert result.exit_code == 0, result.output
        runs[mode] = [json.loads(line) for line in result.stdout.splitlines()]
        for line in runs[mode]:
            assert {"result", "person", "reason", "t"} <= set(line)
    assert [(d["kind"], d["reason"]) for d in runs["enforce"]][:1] == [("access.spoof_attempt", "spoof")]
    assert [d["person"] for d in runs["enforce"] if d["result"] == "granted"] == ["Zhou Min"]
    assert [d["kind"] for d in runs["off"]][:1] == ["access.stranger"]  # the poster is another woman


def test_residents_import_a_folder(tmp_path: Path, faces_dir: Path) -> None:
    store = tmp_path / "r.db"
    first = runner.invoke(app, ["residents", "import", str(faces_dir / "residents"), "--store", str(store)])
    assert first.exit_code == 0, first.output
    assert "5 enrolled, 0 already there, 0 failed" in first.output
    again = runner.invoke(app, ["residents", "import", str(faces_dir / "residents"), "--store", str(store)])
    assert "0 enrolled, 5 already there" in again.output
    names = [
        r["name"] for r in json.loads(runner.invoke(app, ["residents", "list", "--json", "--store", str(store)]).output)
    ]
    assert names == ["alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"]


def test_gate_log_shows_the_latest_decisions_first(tmp_path: Path) -> None:
    from edge.gate.store import ResidentStore

    store = ResidentStore(tmp_path / "r.db")
    store.log_access(
        ts=1.0,
        gate="main",
        kind="access.stranger",
        result="denied",
        owner=None,
        name="unknown",
        distance=0.71,
        reason="not enrolled",
        event_id="e1",
    )
    store.log_access(
        ts=2.0,
        gate="main",
        kind="access.granted",
        result="granted",
        owner=None,
        name="guard",
        distance=None,
        reason="remote unlock",
        event_id="e2",
    )
    store.close()
    rows = json.loads(runner.invoke(app, ["gate", "log", "--json", "--store", str(tmp_path / "r.db")]).output)
    assert [(r["event_id"], r["result"]) for r in rows] == [("e2", "granted"), ("e1", "denied")]
    table = runner.invoke(app, ["gate", "log", "--limit", "1", "--store", str(tmp_path / "r.db")]).output
    assert "remote unlock" in table and "not enrolled" not in table
