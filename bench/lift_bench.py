"""Lift camera benchmark (issue 5): analysis cost per frame, cameras per gateway, e-bike to door held.

1. per frame, in this process, one inference thread: decode-size frames (640 wide) through the motion gate
   and the detector, with the gate on and off, on the people clip and on composed e-bike clips; reported as
   ms of CPU per analysed frame, the fps one core could sustain, and the CPU share of one camera at 5 fps;
2. cameras per gateway: N real camera processes (the lift component, spawn) sharing one detector process,
   each reading its own MJPEG simulator (people clip, 10 fps) and analysing at 5 fps, for a while; achieved
   fps per camera, CPU (the MJPEG servers run in this process and are counted too) and the memory of the
   camera and detector processes (RSS, PSS, USS);
3. e-bike in view to door held: the lift component on a composed scene, repeated; from the moment the
   simulator sends the first frame with the e-bike to the relay write "on".

    python -m bench.lift_bench [--seconds 20] [--cameras 1,2,4,6] [--episodes 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil

from drivers.detectors import load_detector
from edge.lift.camera_host import CameraHost
from edge.lift.component import LiftCamera
from edge.lift.config import LiftConfig
from edge.lift.detector_process import SharedDetector
from edge.lift.pipeline import FrameAnalyzer
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer, encode_jpeg, video_frames

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared"))
LIFT = SHARED / "lift"
MODELS = SHARED / "models"
PEOPLE = LIFT / "intel_one-by-one-person-detection.mp4"
ROOM = LIFT / "intel_room_empty_obo_f0020.jpg"


def people_frames(count: int, step: int = 2) -> list[np.ndarray]:
    """The people clip at 640 wide, every ``step``-th frame (10 fps clip -> 5 fps)."""
    return list(itertools.islice(video_frames(PEOPLE, max_width=640), 0, count * step, step))


def scene(photo: str, **kw: Any) -> LiftScene:
    return LiftScene.from_photos(ROOM, LIFT / photo, **kw)


# -- 1. cost per frame ---------------------------------------------------------------------------------


def per_frame(model: str, frames: list[np.ndarray], motion: bool) -> dict[str, float]:
    detector = load_detector(model, model_dir=MODELS, threads=1)
    config = LiftConfig(id="bench", camera_url="x", model=model, model_dir=MODELS, motion={"enabled": motion})
    analyzer = FrameAnalyzer(config, detector)
    analyzer.analyze(frames[0], 0.0)  # warm-up
    runs = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, frame in enumerate(frames[1:], start=1):
        runs += analyzer.analyze(frame, i / 5).ran_detector
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = len(frames) - 1
    ms = cpu / n * 1000
    return {
        "frames": n,
        "detector_share": round(runs / n, 3),
        "cpu_ms_per_frame": round(ms, 2),
        "wall_ms_per_frame": round(wall / n * 1000, 2),
        "max_fps_one_core": round(1000 / ms, 1),
        "cpu_percent_at_5fps": round(ms * 5 / 10, 1),
    }


def bench_per_frame(models: list[str]) -> list[dict[str, Any]]:
    cv2.setNumThreads(1)
    clips = {
        "people clip (600 frames at 5 fps)": people_frames(600),
        "motorcycle across the room": [
            scene("skimage_middlebury_motorcycle_left.png", fps=5, before_s=4, cross_s=8, after_s=4).image(i)
            for i in range(80)
        ],
        "bicycle across the room": [
            scene("darknet_dog.jpg", fps=5, before_s=4, cross_s=8, after_s=4).image(i) for i in range(80)
        ],
    }
    out = []
    for model in models:
        for name, frames in clips.items():
            for motion in (True, False):
                row = {"model": model, "clip": name, "motion_gate": motion, **per_frame(model, frames, motion)}
                print(json.dumps(row), flush=True)
                out.append(row)
    return out


async def _until(condition: Any, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


# -- 2. cameras per gateway -----------------------------------------------------------------------------


class _Ctx:
    """The few Context parts a LiftCamera uses, for a bench without a broker."""

    def __init__(self) -> None:
        from edge.core.hub import Hub
        from edge.core.io import IoRouter
        from edge.core.metrics import Metrics
        from edge.pipeline.alarm_book import AlarmBook
        from edge.pipeline.devices import DeviceRegistry

        self.writes: list[tuple[float, dict[str, Any]]] = []
        self.data_dir = Path(tempfile.mkdtemp(prefix="lift-bench-"))

        async def emit(event: Any) -> None:
            return None

        async def relay(action: str, args: dict[str, Any]) -> None:
            self.writes.append((time.monotonic(), args))

        self.emit = emit
        self.alarms = AlarmBook(emit)
        self.devices = DeviceRegistry(self.alarms)
        self.hub = Hub()
        self.io = IoRouter()
        self.io.register("relay", relay)
        self.metrics = Metrics()


def _own_cpu_seconds() -> float:
    """CPU time of this process (MJPEG servers, event loop) and its camera processes so far."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


async def _run_cameras(
    count: int,
    seconds: float,
    jpegs: list[bytes],
    model: str,
    motion: bool,
    threads: int = 1,
    networks: int | str = "auto",
) -> dict[str, Any]:
    ctx = _Ctx()
    servers = [MjpegServer(lambda: iter(jpegs), fps=10).start() for _ in range(count)]
    configs = [
        LiftConfig(
            id=f"lift-{i}",
            camera_url=s.url,
            model=model,
            model_dir=MODELS,
            fps=5,
            motion={"enabled": motion},
            threads=threads,
            networks=networks,
        )
        for i, s in enumerate(servers)
    ]
    detector = SharedDetector(configs)
    host = CameraHost(configs, {c.id: detector for c in configs})
    lifts = [LiftCamera(c, detector, host) for c in configs]
    tasks = [asyncio.create_task(detector.run(ctx)), asyncio.create_task(host.run(ctx))]  # type: ignore[arg-type]
    tasks += [asyncio.create_task(lift.run(ctx)) for lift in lifts]  # type: ignore[arg-type]
    try:
        await _until(lambda: all(lift.counts["frames"] >= 3 for lift in lifts), 60, 0.2)
        start = [lift.counts["frames"] for lift in lifts]
        psutil.cpu_percent(None)
        own0, t0 = _own_cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = psutil.cpu_percent(None)
        elapsed = time.monotonic() - t0
        own = (_own_cpu_seconds() - own0) / elapsed * 100
        fps = [(lift.counts["frames"] - s) / elapsed for lift, s in zip(lifts, start, strict=True)]
        frames = max(1, sum(lift.counts["frames"] for lift in lifts))
        runs = sum(lift.counts["detector_runs"] for lift in lifts) / frames
        memory = process_memory([lift.worker_pid for lift in lifts], detector.pid)
        networks_at_end = detector.networks
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in servers:
            server.stop()
    return {
        "cameras": count,
        "model": model,
        "motion_gate": motion,
        "detector_threads": threads,
        "networks_setting": networks,
        "networks_at_end": networks_at_end,
        "fps_per_camera_min": round(min(fps), 2),
        "fps_per_camera_mean": round(statistics.mean(fps), 2),
        "own_cpu_percent_of_one_core": round(own, 1),
        "per_camera_cpu_percent": round(own / count, 1),
        "machine_cpu_percent_all_users": round(cpu, 1),
        "detector_share": round(runs, 3),
        "cores": psutil.cpu_count(),
        **memory,
    }


def _mb(value: float) -> float:
    return round(value / 2**20, 1)


def process_memory(camera_pids: list[int | None], detector_pid: int | None) -> dict[str, Any]:
    """RSS, PSS and USS of the camera process(es) (mean) and of the detector process, in MB."""
    cams = [psutil.Process(pid).memory_full_info() for pid in dict.fromkeys(camera_pids) if pid]
    out: dict[str, Any] = {}
    for key in ("rss", "pss", "uss"):
        out[f"camera_{key}_mb_mean"] = _mb(statistics.mean(getattr(m, key) for m in cams)) if cams else None
    if detector_pid:
        det = psutil.Process(detector_pid).memory_full_info()
        out.update({f"detector_{key}_mb": _mb(getattr(det, key)) for key in ("rss", "pss", "uss")})
    out["lift_processes_rss_total_mb"] = _mb(sum(m.rss for m in cams) + (det.rss if detector_pid else 0))
    out["lift_processes_pss_total_mb"] = _mb(sum(m.pss for m in cams) + (det.pss if detector_pid else 0))
    out["camera_processes"] = len(cams)
    return out


def bench_cameras(
    counts: list[int],
    seconds: float,
    model: str,
    threads: int = 1,
    motions: tuple[bool, ...] = (True, False),
    networks: int | str = "auto",
) -> list[dict[str, Any]]:
    jpegs = [encode_jpeg(f, 85) for f in people_frames(600, step=1)]
    out = []
    for motion in motions:
        for count in counts:
            row = asyncio.run(_run_cameras(count, seconds, jpegs, model, motion, threads, networks))
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


# -- 3. e-bike in view to door held ---------------------------------------------------------------------


async def _latency(episodes: int, model: str) -> dict[str, Any]:
    ctx = _Ctx()
    # a 25 fps camera; the empty stretch before each appearance varies by whole frames, so the e-bike's
    # first frame falls at every phase of the 5 fps analysis (a fixed loop would lock the phase)
    sc = scene("skimage_middlebury_motorcycle_left.png", fps=25, before_s=2, cross_s=2, after_s=3)
    rng = random.Random(5)
    delays: list[float] = []
    with MjpegServer(sc.frames, fps=25, loop=True) as server:
        config = LiftConfig(
            id="lift-1",
            camera_url=server.url,
            model=model,
            model_dir=MODELS,
            fps=5,
            door_hold={"device": "relay", "channel": 0},
            confirm={"end_after_s": 1.0},
        )
        lift = LiftCamera(config)
        task = asyncio.create_task(lift.run(ctx))  # type: ignore[arg-type]
        try:
            while len(delays) < episodes:
                sc.before_s = 2.0 + rng.randrange(10) / 25
                sc.appeared_at = None
                seen = len(ctx.writes)
                await _until(lambda: any(a["on"] for _, a in ctx.writes[seen:]), 30, 0.005)  # noqa: B023
                held = next((t for t, a in ctx.writes[seen:] if a["on"]), None)
                if held is None or sc.appeared_at is None:
                    raise RuntimeError("the door was not held within 30 s of the scene starting")
                delays.append(held - sc.appeared_at)
                await _until(lambda: not lift.door_held, 30)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    delays.sort()
    return {
        "model": model,
        "episodes": len(delays),
        "min_s": round(delays[0], 3),
        "median_s": round(statistics.median(delays), 3),
        "p90_s": round(delays[int(0.9 * (len(delays) - 1))], 3),
        "max_s": round(delays[-1], 3),
    }


def _networks_arg(value: str) -> int | str:
    if value == "auto" or (value.isdigit() and 1 <= int(value) <= 16):
        return value if value == "auto" else int(value)
    raise argparse.ArgumentTypeError(f"'auto' or a number of copies from 1 to 16, not {value!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="yolox_nano,nanodet_m", help="models for the per-frame figures")
    parser.add_argument("--cameras", default="1,2,4,6", help="camera counts to run at 5 fps")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per camera count")
    parser.add_argument("--episodes", type=int, default=20, help="e-bike appearances for the latency figure")
    parser.add_argument("--threads", type=int, default=1, help="threads of one inference in the detector process")
    parser.add_argument(
        "--networks",
        default="auto",
        type=_networks_arg,
        help="copies of the network in the detector process: a number or auto",
    )
    parser.add_argument("--motion", choices=("both", "on", "off"), default="both", help="motion gate runs")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: frame,cameras,latency")
    parser.add_argument("--json", type=Path, help="write all figures here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "opencv": cv2.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    models = args.models.split(",")
    if "frame" not in skip:
        report["per_frame"] = bench_per_frame(models)
    if "cameras" not in skip:
        motions = {"both": (True, False), "on": (True,), "off": (False,)}[args.motion]
        report["cameras"] = bench_cameras(
            [int(c) for c in args.cameras.split(",")],
            args.seconds,
            models[0],
            args.threads,
            motions,
            args.networks,
        )
    if "latency" not in skip:
        row = asyncio.run(_latency(args.episodes, models[0]))
        print(json.dumps(row), flush=True)
        report["ebike_to_door_held"] = row
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(report, fh, indent=2)
        print(f"all figures: {fh.name}")


if __name__ == "__main__":
    main()
