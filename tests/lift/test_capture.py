"""`edge lift capture`: frames around motion while the door is open, into episode folders bounded on disk;
the request reaches a running lift's camera process; what it writes is a folder `edge lift evaluate` reads."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from edge.lift.capture import Recorder, episodes
from edge.lift.component import LiftCamera
from edge.lift.config import LiftConfig
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer
from tests.lift.harness import Harness
from tests.lift.test_replay import _app
from tests.support import async_wait_for

pytestmark = pytest.mark.vision


def _flags(door_open: bool = True, capturing: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        door_open=SimpleNamespace(value=int(door_open)),
        capture_until=SimpleNamespace(value=time.time() + 60 if capturing else 0.0),
    )


def _lift(tmp_path: Path, **capture: object) -> LiftConfig:
    return LiftConfig(id="lift-1", camera_url="x", fps=5, capture={"dir": tmp_path / "cap", **capture})


def _frames(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(n)]


def test_an_episode_keeps_the_frames_before_during_and_after_the_motion(tmp_path: Path) -> None:
    recorder = Recorder(_lift(tmp_path, pre_s=1, post_s=1), _flags())  # 5 frames before, 1 s after
    frames = _frames(40, 1)
    motion = [False] * 10 + [True] * 10 + [False] * 20
    for i, (image, moving) in enumerate(zip(frames, motion, strict=True)):
        recorder.frame(image, i * 0.2, moving)
    [episode] = episodes(tmp_path / "cap" / "lift-1")
    # 5 before + 10 moving + those up to 1 s after the last motion (t 3.8 -> 4.8: 6 frames, the last ends it)
    assert episode.frames == 5 + 10 + 6
    written = sorted(episode.path.glob("*.jpg"))
    assert written[0].name == "000001.jpg"


def test_nothing_is_kept_with_the_door_closed_or_no_request(tmp_path: Path) -> None:
    for flags in (_flags(door_open=False), _flags(capturing=False)):
        recorder = Recorder(_lift(tmp_path), flags)
        for i, image in enumerate(_frames(10, 2)):
            recorder.frame(image, i * 0.2, True)
    assert episodes(tmp_path / "cap" / "lift-1") == []


def test_the_disk_bound_deletes_the_oldest_episodes(tmp_path: Path) -> None:
    lift = _lift(tmp_path, pre_s=0, post_s=0, max_mb=0.5, quality=95)  # noise frames: ~45 kB each
    recorder = Recorder(lift, _flags())
    t = 0.0
    for episode in range(6):
        for image in _frames(4, 10 + episode):
            recorder.frame(image, t, True)
            t += 0.2
        recorder.frame(_frames(1, 99)[0], t + 5, False)  # motion over: the episode ends
        t += 10
    kept = episodes(tmp_path / "cap" / "lift-1")
    assert sum(e.bytes for e in kept) <= 500_000
    assert 1 <= len(kept) < 6  # the oldest went
    assert kept[-1].frames == 5  # the newest is whole (4 moving frames and the one that ended it)


def test_an_episode_that_alone_passes_the_bound_stops_being_written(tmp_path: Path) -> None:
    recorder = Recorder(_lift(tmp_path, pre_s=0, max_mb=0.2, quality=95), _flags())
    for i, image in enumerate(_frames(20, 3)):
        recorder.frame(image, i * 0.2, True)
    [episode] = episodes(tmp_path / "cap" / "lift-1")
    assert episode.bytes <= 200_000 and 1 <= episode.frames < 20


async def test_capture_on_a_running_lift(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg",
        lift_dir / "darknet_dog.jpg",
        fps=10,
        before_s=2,
        cross_s=3,
        after_s=2,
        loop_empty=True,
    )
    with MjpegServer(scene.frames, fps=10) as camera:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            f"site_id: s1\ngateway_id: g1\ndata_dir: {tmp_path}\nlifts:\n  - id: lift-1\n"
            f"    camera_url: {camera.url}\n    model_dir: {model_dir}\n    fps: 5\n"
            "    capture: {pre_s: 1, post_s: 1}\n"
        )
        lift_config = LiftConfig(
            id="lift-1", camera_url=camera.url, model_dir=model_dir, fps=5, capture={"pre_s": 1, "post_s": 1}
        )
        harness = Harness(tmp_path, lift_config)
        lift = LiftCamera(lift_config)
        lift.door_open = True
        task = asyncio.create_task(lift.run(harness.ctx))
        try:
            result = CliRunner().invoke(_app(), ["lift", "capture", "--config", str(config), "--minutes", "5"])
            assert result.exit_code == 0, result.output
            assert "capturing until" in result.output and str(tmp_path / "lift-capture" / "lift-1") in result.output
            folder = tmp_path / "lift-capture" / "lift-1"
            await async_wait_for(lambda: any(e.frames >= 10 for e in episodes(folder)), 40, "an episode captured")
            status = CliRunner().invoke(_app(), ["lift", "capture", "--config", str(config), "--status"])
            assert status.exit_code == 0 and "lift lift-1: capturing until" in status.output
            assert "episodes" in status.output and "frames" in status.output
            stop = CliRunner().invoke(_app(), ["lift", "capture", "--config", str(config), "--stop"])
            assert stop.exit_code == 0
            await async_wait_for(
                lambda: lift._worker is not None and lift._worker.flags.capture_until.value == 0,
                5,
                "the stop reached the camera process",
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    # what was captured is an evaluation folder's episode
    from edge.lift.dataset import find_episodes

    data = tmp_path / "eval"
    (data / "positives").mkdir(parents=True)
    episode = episodes(tmp_path / "lift-capture" / "lift-1")[0].path
    episode.rename(data / "positives" / episode.name)
    [found] = find_episodes(data)
    assert found.kind == "sequence" and found.positive
