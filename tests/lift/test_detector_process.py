"""One detector process per model shared by the lift cameras that use it: real camera processes, a real
detector process, frames in shared memory; a killed detector comes back without losing a camera; batches
where the network takes them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from drivers.detectors import load_detector
from edge.lift.camera_host import CameraHost
from edge.lift.component import LiftCamera
from edge.lift.config import LiftConfig
from edge.lift.detector_process import SharedDetector
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer
from tests.lift.harness import Harness
from tests.lift.onnx_graphs import brightness_network, manifest_for
from tests.support import async_wait_for, free_port

pytestmark = pytest.mark.vision


@contextlib.asynccontextmanager
async def shared_lifts(
    tmp_path: Path, urls: list[str], model_dir: Path
) -> AsyncIterator[tuple[Harness, SharedDetector, list[LiftCamera]]]:
    configs = [
        LiftConfig(
            id=f"lift-{i}",
            camera_url=url,
            model_dir=model_dir,
            reconnect_max_s=1,
            door_hold={"device": "relay-1", "channel": i},
        )
        for i, url in enumerate(urls)
    ]
    harness = Harness(tmp_path, *configs)
    detector = SharedDetector(configs)
    host = CameraHost(configs, {c.id: detector for c in configs})
    lifts = [LiftCamera(c, detector, host) for c in configs]
    tasks = [asyncio.create_task(detector.run(harness.ctx)), asyncio.create_task(host.run(harness.ctx))]
    tasks += [asyncio.create_task(lift.run(harness.ctx)) for lift in lifts]
    try:
        yield harness, detector, lifts
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _scene(lift_dir: Path) -> LiftScene:
    return LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg",
        lift_dir / "skimage_middlebury_motorcycle_left.png",
        fps=10,
        before_s=1,
        cross_s=2,
        after_s=1,
        loop_empty=True,
    )


async def test_two_cameras_share_one_detector_process(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    """Two lifts and a third whose camera is not there, in one camera process (a thread each), one detector."""
    scenes = [_scene(lift_dir), _scene(lift_dir)]
    nowhere = f"http://127.0.0.1:{free_port()}/video.mjpg"
    with MjpegServer(scenes[0].frames, fps=10) as cam0, MjpegServer(scenes[1].frames, fps=10) as cam1:
        async with shared_lifts(tmp_path, [cam0.url, cam1.url, nowhere], model_dir) as (h, detector, lifts):
            await async_wait_for(lambda: all(lift.worker_pid for lift in lifts) and detector.pid, 30, "processes")
            await async_wait_for(
                lambda: all(lift.counts["sightings"] >= 2 for lift in lifts[:2]), 30, "both cameras see the motorcycle"
            )
            await async_wait_for(
                lambda: len([e for e in h.events if e.kind == "ebike_in_lift"]) >= 2, 10, "an alarm on each lift"
            )
            pids = {lift.worker_pid for lift in lifts} | {detector.pid}
            assert len(pids) == 2  # one camera process for the three lifts, one detector process
            assert pids <= {c.pid for c in psutil.Process().children()}
            assert {p.name() for p in map(psutil.Process, pids)} == {"cams-lifts", "det-yolox_nano"}
            # the network (weights and its working buffers) lives in the detector process only
            camera_pid = lifts[0].worker_pid
            assert camera_pid is not None and detector.pid is not None
            cam, det = (psutil.Process(pid).memory_full_info().uss / 2**20 for pid in (camera_pid, detector.pid))
            assert cam + 10 < det, (cam, det)
            assert {e.device for e in h.events if e.kind == "ebike_in_lift"} == {"lift-0", "lift-1"}
            # the camera that is not there is offline, on its own
            nowhere_lift = h.devices.get("lift-2")
            assert nowhere_lift.online is False and "cannot connect" in nowhere_lift.offline_reason
            assert h.devices.get("lift-0").online is True and h.devices.get("lift-1").online is True


async def test_a_detector_crash_restarts_it_without_losing_a_camera(
    tmp_path: Path, lift_dir: Path, model_dir: Path
) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg", lift_dir / "darknet_dog.jpg", before_s=600, loop_empty=True
    )
    with MjpegServer(scene.frames, fps=10) as cam:
        async with shared_lifts(tmp_path, [cam.url], model_dir) as (h, detector, [lift]):
            lift.door_open = True  # the detector looks at every frame
            await async_wait_for(lambda: lift.worker_pid and lift.counts["detector_runs"] >= 3, 30, "analysing")
            camera_pid, first = lift.worker_pid, detector.pid
            assert first is not None
            # a detector that stops answering: the lift is offline with the reason, back when it answers
            os.kill(first, signal.SIGSTOP)
            try:
                await async_wait_for(lambda: h.devices.get("lift-0").online is False, 10, "offline: no detector")
                assert "detector process of 'yolox_nano': no answer" in h.devices.get("lift-0").offline_reason
            finally:
                os.kill(first, signal.SIGCONT)
            await async_wait_for(lambda: h.devices.get("lift-0").online is True, 10, "online: detector answers")
            # a detector that dies is started again; the camera process goes on
            os.kill(first, signal.SIGKILL)
            runs = lift.counts["detector_runs"]
            await async_wait_for(lambda: detector.pid not in (None, first), 20, "a new detector process")
            await async_wait_for(lambda: lift.counts["detector_runs"] > runs + 3, 30, "frames analysed again")
            await async_wait_for(lambda: h.devices.get("lift-0").online is True, 10, "lift online")
            assert lift.worker_pid == camera_pid  # the camera process was not restarted
            assert detector.restarts == 1


def test_batched_inference_where_the_network_takes_a_batch(tmp_path: Path) -> None:
    rows = np.zeros((1, 7, 84), np.float32)
    rows[0, :4, 70] = [32, 16, 20, 10]
    network = brightness_network(tmp_path / "net" / "b.onnx", rows, cell=70, column=5, size=(64, 64))
    manifest = manifest_for(
        tmp_path, network, name="b", size=(64, 64), layout={"family": "yolov8"}, classes=["person", "ebike", "pram"]
    )
    detector = load_detector("b", manifest=manifest, model_dir=tmp_path, max_batch=4)
    assert detector.max_batch == 4
    batches: list[int] = []
    infer = detector.backend.infer

    def counting(blob: np.ndarray, extra: dict | None = None) -> dict:
        batches.append(blob.shape[0])
        return infer(blob, extra)

    detector.backend.infer = counting  # type: ignore[method-assign]
    images = [np.full((64, 128, 3), v, np.uint8) for v in (250, 150, 60, 200, 100)]
    together = detector.detect_many([(image, None) for image in images], score_threshold=0.1)
    assert batches == [4, 1]
    alone = [detector.detect(image, score_threshold=0.1) for image in images]
    assert together == alone
    assert len({round(found[0].score, 3) for found in together}) == 5  # each image its own answer
    fixed = load_detector("yolox_nano", max_batch=4)  # the shipped models have a fixed batch of one
    assert fixed.max_batch == 1


def test_slots_of_a_killed_gateway_are_removed_and_own_slots_unlinked() -> None:
    import subprocess

    from edge.lift.frame_slot import SHM_DIR, FrameSlot

    if not SHM_DIR.is_dir():
        pytest.skip("no /dev/shm on this system")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = SHM_DIR / f"ce-lift-{dead.pid}-1"
    stale.write_bytes(b"\0" * 64)
    slot = FrameSlot.create(64, 64)
    try:
        assert not stale.exists()
        assert (SHM_DIR / slot.name.lstrip("/")).exists()
        other = FrameSlot.attach(slot.name, 64, 64)
        seq = slot.ask(np.full((32, 48, 3), 7, np.uint8), [(0, 0, 48, 32)], 0.4, 0.5)
        assert other.pending() == seq
        image, regions, score, iou = other.take()
        assert image.shape == (32, 48, 3) and int(image.max()) == 7 and regions == [(0, 0, 48, 32)]
        assert (score, iou) == (0.4, 0.5)
        other.close()
    finally:
        name = slot.name.lstrip("/")
        slot.close()
    assert not (SHM_DIR / name).exists()


GATEWAY = """
import asyncio, sys
from pathlib import Path
from edge.lift.component import LiftCamera
from edge.lift.config import LiftConfig
from tests.lift.harness import Harness

async def main():
    config = LiftConfig(id="lift-1", camera_url=sys.argv[1], model_dir=sys.argv[2])
    harness = Harness(Path(sys.argv[3]), config)
    lift = LiftCamera(config)
    task = asyncio.create_task(lift.run(harness.ctx))
    while not (lift.worker_pid and lift.detector.pid and lift.counts["frames"] >= 2):
        await asyncio.sleep(0.05)
    print(lift.worker_pid, lift.detector.pid, flush=True)
    await task

asyncio.run(main())
"""


def test_the_lift_processes_do_not_outlive_a_killed_gateway(tmp_path: Path, lift_dir: Path, model_dir: Path) -> None:
    import subprocess
    import sys
    import time

    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg", lift_dir / "darknet_dog.jpg", before_s=600, loop_empty=True
    )
    with MjpegServer(scene.frames, fps=10) as cam:
        gateway = subprocess.Popen(
            [sys.executable, "-c", GATEWAY, cam.url, str(model_dir), str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            assert gateway.stdout is not None
            pids = [int(p) for p in gateway.stdout.readline().split()]
            assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
            gateway.kill()
            gateway.wait(10)
            deadline = time.monotonic() + 15
            while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
                assert time.monotonic() < deadline, "a lift process outlived the gateway"
                time.sleep(0.1)
        finally:
            if gateway.poll() is None:
                gateway.kill()
