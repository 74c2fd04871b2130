"""The camera process under the lift component: a camera that drops and comes back, a camera that is not
there, a model that cannot load, and people walking (nothing raised)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge.lift.component import LiftCamera
from edge.lift.config import LiftConfig
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer, video_frames
from tests.lift.harness import Harness
from tests.support import async_wait_for, free_port

pytestmark = pytest.mark.vision


@contextlib.asynccontextmanager
async def running_lift(tmp_path: Path, **config) -> AsyncIterator[tuple[Harness, LiftCamera]]:
    lift_config = LiftConfig(id="lift-1", door_hold={"device": "relay-1", "channel": 0}, reconnect_max_s=1, **config)
    harness = Harness(tmp_path, lift_config)
    lift = LiftCamera(lift_config)
    task = asyncio.create_task(lift.run(harness.ctx))
    try:
        yield harness, lift
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def online(harness: Harness) -> bool | None:
    state = harness.devices.get("lift-1")
    return state.online if state else None


async def test_camera_that_drops_goes_offline_and_comes_back(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg", lift_dir / "darknet_dog.jpg", before_s=60, loop_empty=True
    )
    port = free_port()
    server = MjpegServer(scene.frames, fps=10, port=port).start()
    async with running_lift(tmp_path, camera_url=f"http://127.0.0.1:{port}/video.mjpg", model_dir=model_dir) as (
        h,
        lift,
    ):
        await async_wait_for(lambda: online(h) is True and lift.counts["frames"] >= 3, 30, "camera online")
        server.stop()
        await async_wait_for(lambda: online(h) is False, 15, "camera offline after the stream dropped")
        offline = [e for e in h.events if e.kind == "device.offline" and e.state.value == "raised"]
        assert offline and offline[0].device == "lift-1"
        assert "ended or stalled" in offline[0].details["reason"] or "cannot connect" in offline[0].details["reason"]
        frames = lift.counts["frames"]
        server = MjpegServer(scene.frames, fps=10, port=port).start()
        try:
            await async_wait_for(
                lambda: online(h) is True and lift.counts["frames"] > frames + 2,
                30,
                "camera back online, frames flowing",
            )
        finally:
            server.stop()
        assert [e.state.value for e in h.events if e.kind == "device.offline"] == ["raised", "cleared"]
        assert not lift.door_held and not h.alarms.active()


async def test_camera_not_there_is_offline_with_the_reason(tmp_path: Path, model_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/video.mjpg"
    async with running_lift(tmp_path, camera_url=url, model_dir=model_dir) as (h, _):
        await async_wait_for(lambda: online(h) is False, 30, "camera offline")
        assert "cannot connect" in h.devices.get("lift-1").offline_reason


async def test_model_that_cannot_load_stops_the_pipeline_with_the_reason(tmp_path: Path, model_dir: Path) -> None:
    broken = tmp_path / "models" / "yolox_nano"
    broken.mkdir(parents=True)
    (broken / "yolox_nano.onnx").write_bytes((model_dir / "yolox_nano" / "yolox_nano.onnx").read_bytes()[:-10])
    async with running_lift(tmp_path, camera_url="http://127.0.0.1:9/x", model_dir=tmp_path / "models") as (h, lift):
        await async_wait_for(lambda: online(h) is False, 30, "lift offline")
        reason = h.devices.get("lift-1").offline_reason
        assert "yolox_nano.onnx has sha256" in reason and "the manifest says 695e750a" in reason
        assert lift.failure == reason
        result = await lift.hold_for(2)  # door control still works without the camera
        assert result == 2 and h.relay.channels == {0: True}


async def test_people_walking_raise_nothing(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    clip = lift_dir / "intel_one-by-one-person-detection.mp4"
    stretch = lambda: itertools.islice(video_frames(clip, max_width=640), 230, 430)  # noqa: E731 (people walking)
    with MjpegServer(stretch, fps=25, loop=False) as server:
        async with running_lift(tmp_path, camera_url=server.url, model_dir=model_dir, fps=10) as (h, lift):
            await async_wait_for(lambda: server.frames_sent >= 200, 60, "the stretch was served")
            await async_wait_for(lambda: online(h) is False or lift.counts["frames"] >= 60, 20, "frames analysed")
    assert lift.counts["detector_runs"] >= 20 and lift.counts["other_objects"] >= 10  # people seen
    assert lift.counts["sightings"] == 0
    assert [e.kind for e in h.events if e.kind.startswith(("lift.", "ebike"))] == []
    assert h.relay.writes == []


async def test_camera_process_that_dies_is_restarted(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    import os
    import signal

    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg", lift_dir / "darknet_dog.jpg", before_s=60, loop_empty=True
    )
    with MjpegServer(scene.frames, fps=10) as server:
        async with running_lift(tmp_path, camera_url=server.url, model_dir=model_dir) as (h, lift):
            await async_wait_for(lambda: lift.worker_pid and lift.counts["frames"] >= 3, 30, "frames")
            first = lift.worker_pid
            os.kill(first, signal.SIGKILL)
            await async_wait_for(lambda: online(h) is False, 10, "offline after the process died")
            frames = lift.counts["frames"]
            await async_wait_for(
                lambda: (
                    lift.worker_pid not in (None, first) and lift.counts["frames"] > frames + 2 and online(h) is True
                ),
                30,
                "a new camera process at work",
            )
