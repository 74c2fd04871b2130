"""Falling-object benchmark (issue 14), on the facade simulator.

1. detection: ``--falls`` random falls at 1280x720 (random floor, column, size of at least 8 px across,
   colour, throw and drag), each in its own short scene with a bird and a person; every frame goes
   through JPEG (quality 85) and the analysis (analysis width 640). A fall counts as detected when
   exactly one fall is reported for its scene, starting within 0.6 s of the release; its floor is right
   when within ±1 of the true one;
2. false alarms: random distractor scenes (birds crossing and landing, leaves, a swaying tree, rain,
   laundry, people, clouds, camera shake, lights at night) for ``--distractor-minutes`` of scene time,
   analysed as fast as the machine goes (time compressed); every fall reported is a false alarm;
3. ring: what the pre-fall ring of JPEG frames costs (encode time, bytes a frame) at 720p and 1080p;
4. gateway: the real component with ``--cameras`` camera processes, each on its own MJPEG simulator
   (a separate process, frames pre-rendered) at ``--size`` and 25 fps with a fall every 6 s, and a real
   mosquitto: CPU of each camera process and of the gateway process, fps analysed, and the time from the
   fall's release (the simulator sends the first frame of it) to the alarm at an MQTT subscriber.

    python -m bench.fall_bench [--falls 100] [--distractor-minutes 60] [--cameras 2] [--size 1280x720]
        [--seconds 30] [--only detection,false,ring,gateway] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import yaml

from edge.falls.analyzer import FallAnalyzer
from edge.falls.calibration import Calibration, save_calibration
from edge.falls.config import FallCameraConfig
from simulators.facade_camera import FacadeScene, FallScenario

ROOT = Path(__file__).resolve().parents[1]
CONFIG = FallCameraConfig(id="bench", camera_url="file")


def analyse_scene(scene: FacadeScene, calibration: Calibration | None, quality: int = 85) -> list[dict[str, Any]]:
    """Every frame of ``scene`` through JPEG and the analysis; the falls reported (at their track's end)."""
    analyzer = FallAnalyzer(CONFIG, calibration)
    out = []
    for index in range(scene.frame_count):
        ok, buf = cv2.imencode(".jpg", scene.image(index), [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        result = analyzer.analyze(image, index / scene.fps)
        out.extend(f.to_dict() for f in result.ended)
    out.extend(f.to_dict() for f in analyzer.finish())
    return out


def random_fall(rng: np.random.Generator, index: int, size: tuple[int, int]) -> FacadeScene:
    floors, columns = int(rng.integers(6, 16)), 5
    floor, column = int(rng.integers(2, floors + 1)), int(rng.integers(1, columns + 1))
    data: dict[str, Any] = {
        "name": f"fall-{index}",
        "duration_s": 4.5,
        "seed": index,
        "camera": {"width": size[0], "height": size[1], "fps": 25},
        "facade": {"floors": floors, "columns": columns},
    }
    px_per_m = FacadeScene(FallScenario.model_validate(data)).px_per_m(column - 0.5, floor - 1 + 0.45)
    size_px = float(rng.uniform(8, 24))
    data["objects"] = [
        {
            "at": 1.0,
            "floor": floor,
            "column": column,
            "size_m": size_px / px_per_m,
            "colour": [int(v) for v in rng.integers(0, 256, 3)],
            "velocity": [float(rng.uniform(-2, 2)), float(rng.uniform(0, 1.5))],
            "drag": float(rng.uniform(0.005, 0.08)),
            "shape": "box" if rng.random() < 0.3 else "disc",
        }
    ]
    data["distractors"] = [
        {
            "kind": "bird",
            "at": float(rng.uniform(0, 2)),
            "duration": 2.5,
            "start": [0.0, float(rng.uniform(0.1, 0.6))],
            "end": [1.0, float(rng.uniform(0.1, 0.6))],
            "size_px": float(rng.uniform(5, 12)),
        },
        {"kind": "person", "floor": int(rng.integers(2, floors + 1)), "column": int(rng.integers(1, columns + 1))},
    ]
    return FacadeScene(FallScenario.model_validate(data))


def detection(falls: int, size: tuple[int, int], seed: int = 14) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    found = floor_ok = 0
    misses, cpu, frames = [], 0.0, 0
    for i in range(falls):
        scene = random_fall(rng, i, size)
        truth = scene.truths()[0]
        start = time.process_time()
        reported = analyse_scene(scene, Calibration(scene.calibration()))
        cpu += time.process_time() - start
        frames += scene.frame_count
        near = [f for f in reported if truth.t - 0.1 <= f["t_start"] <= truth.t + 0.6]
        if len(reported) == 1 and near:
            found += 1
            floor_ok += abs(near[0]["origin"]["floor"] - truth.floor) <= 1
        else:
            misses.append(
                {
                    "scene": i,
                    "floor": truth.floor,
                    "size_px": round(truth.size_px, 1),
                    "reported": [(f["t_start"], f["origin"]["floor"]) for f in reported],
                }
            )
    return {
        "falls": falls,
        "size": list(size),
        "detected": found,
        "detected_pct": round(100 * found / falls, 1),
        "floor_within_1": floor_ok,
        "floor_within_1_pct": round(100 * floor_ok / max(found, 1), 1),
        "misses": misses[:20],
        "cpu_ms_per_frame_incl_render_and_jpeg": round(1000 * cpu / frames, 2),
    }


DISTRACTOR_KINDS = ["birds", "wind", "rain", "clouds", "shake", "night"]


def random_distractors(rng: np.random.Generator, index: int, seconds: float) -> FacadeScene:
    kind = DISTRACTOR_KINDS[index % len(DISTRACTOR_KINDS)]
    floors = int(rng.integers(6, 16))

    def fr(a: float, b: float) -> float:
        return float(rng.uniform(a, b))

    items: list[dict[str, Any]] = [
        {
            "kind": "person",
            "floor": int(rng.integers(2, floors + 1)),
            "column": int(rng.integers(1, 6)),
            "pace_s": fr(2, 6),
        }
    ]
    if kind == "birds":
        for _ in range(4):
            landing = bool(rng.random() < 0.4)
            items.append(
                {
                    "kind": "bird",
                    "at": fr(0, seconds - 4),
                    "duration": fr(1.5, 4),
                    "start": [fr(0, 1), fr(0, 0.7)],
                    "end": [fr(0, 1), fr(0.1, 0.9)],
                    "size_px": fr(4, 10),
                    "landing": landing,
                }
            )
    elif kind == "wind":
        items += [
            {
                "kind": "leaves",
                "at": 0.0,
                "count": 12,
                "spread_s": seconds - 3,
                "region": [0.1, 0.05, 0.9, 0.5],
                "fall_speed_m_s": fr(0.8, 2.0),
                "size_px": fr(2, 5),
            },
            {
                "kind": "branches",
                "base": [fr(0.02, 0.15), 1.0],
                "height": fr(0.3, 0.5),
                "sway_deg": fr(4, 12),
                "sway_hz": fr(0.3, 1.0),
            },
            {
                "kind": "laundry",
                "floor": int(rng.integers(2, floors + 1)),
                "column": int(rng.integers(1, 6)),
                "swing_deg": fr(10, 40),
                "swing_hz": fr(0.3, 1.2),
            },
        ]
    elif kind == "rain":
        items.append(
            {
                "kind": "rain",
                "at": 0.0,
                "duration": seconds,
                "drops_per_frame": int(rng.integers(20, 120)),
                "speed_m_s": fr(6, 10),
            }
        )
    elif kind == "clouds":
        items += [
            {"kind": "clouds", "at": fr(0, 2), "duration": fr(2, 5), "depth": fr(0.2, 0.6)},
            {"kind": "clouds", "at": fr(seconds / 2, seconds - 3), "duration": fr(1.5, 3), "depth": fr(0.2, 0.5)},
        ]
    elif kind == "shake":
        items += [
            {"kind": "shake", "at": fr(0.5, 3), "duration": fr(1, 3), "amplitude_px": fr(3, 12)},
            {"kind": "shake", "at": fr(seconds / 2, seconds - 2), "duration": fr(0.5, 1.5), "amplitude_px": fr(0.5, 2)},
        ]
    data = {
        "name": f"distractors-{index}",
        "duration_s": seconds,
        "seed": index,
        "night": kind == "night",
        "camera": {"width": 640, "height": 360, "fps": 25},
        "facade": {"floors": floors, "columns": 5},
        "distractors": items
        + ([{"kind": "lights", "at": 0.5, "spread_s": seconds - 2, "windows": 15}] if kind == "night" else []),
    }
    return FacadeScene(FallScenario.model_validate(data))


def false_alarms(minutes: float, seed: int = 15) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    seconds_each = 20.0
    scenes = max(1, round(minutes * 60 / seconds_each))
    alarms: list[dict[str, Any]] = []
    by_kind: dict[str, int] = {}
    start = time.monotonic()
    for i in range(scenes):
        scene = random_distractors(rng, i, seconds_each)
        reported = analyse_scene(scene, Calibration(scene.calibration()))
        kind = DISTRACTOR_KINDS[i % len(DISTRACTOR_KINDS)]
        by_kind[kind] = by_kind.get(kind, 0) + len(reported)
        alarms += [{"scene": i, "kind": kind, "t": f["t_start"], "origin": f["origin"]} for f in reported]
    return {
        "scene_minutes": round(scenes * seconds_each / 60, 1),
        "scenes": scenes,
        "false_alarms": len(alarms),
        "by_kind": by_kind,
        "examples": alarms[:10],
        "wall_s": round(time.monotonic() - start, 1),
    }


def ring_cost(size: tuple[int, int], frames: int = 200) -> dict[str, Any]:
    """What keeping the pre-fall ring as JPEG costs: encode time and bytes per frame at clip width, against the
    raw frame (the demo's scene at ``size``, decoded from the camera's JPEG as the camera process has it)."""
    from edge.falls.evidence import FrameRing, fit_clip_width

    ev = CONFIG.evidence
    scenario = FallScenario.model_validate(
        {
            "name": "ring",
            "duration_s": frames / 25,
            "seed": 4,
            "camera": {"width": size[0], "height": size[1], "fps": 25},
            "facade": {"floors": 10, "columns": 5},
            "objects": [{"at": 1.0, "floor": 6, "column": 3, "size_m": 0.5}],
            "distractors": [{"kind": "person", "floor": 4, "column": 2}, {"kind": "laundry", "floor": 6, "column": 4}],
        }
    )
    scene = FacadeScene(scenario)
    images = [
        cv2.imdecode(cv2.imencode(".jpg", scene.image(i), [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_COLOR)
        for i in range(frames)
    ]
    ring = FrameRing(1e9, ev.clip_width, quality=ev.ring_quality)
    start = time.process_time()
    for i, image in enumerate(images):
        ring.add(i / 25, image)
    cpu = time.process_time() - start
    start = time.process_time()
    for image in images:  # the resize to clip width alone: the raw ring did it too
        fit_clip_width(image, ev.clip_width)
    resize = time.process_time() - start
    raw = 3 * ev.clip_width * round(ev.clip_width * size[1] / size[0])
    return {
        "size": list(size),
        "clip_width": ev.clip_width,
        "quality": ev.ring_quality,
        "ring_add_ms_per_frame": round(1000 * cpu / frames, 2),
        "of_which_resize_ms": round(1000 * resize / frames, 2),
        "jpeg_kib_per_frame": round(ring.bytes / frames / 1024, 1),
        "raw_kib_per_frame": round(raw / 1024, 1),
        "ring_mib_for_5_s_at_25_fps": round(ring.bytes / frames * 125 / 2**20, 1),
    }


# -- 3. the gateway -----------------------------------------------------------------------------------


def gateway_scenario(size: tuple[int, int], seconds: float, path: Path) -> Path:
    falls = [
        {
            "at": 2.0 + 6.0 * k,
            "floor": 3 + (k * 3) % 7,
            "column": 1 + k % 5,
            "size_m": 0.5,
            "colour": [30 + 40 * k % 200, 60, 150],
        }
        for k in range(int((seconds - 4) // 6))
    ]
    data = {
        "name": "bench",
        "duration_s": seconds,
        "seed": 3,
        "camera": {"width": size[0], "height": size[1], "fps": 25},
        "facade": {"floors": 10, "columns": 5},
        "objects": falls,
        "distractors": [{"kind": "person", "floor": 4, "column": 2}, {"kind": "laundry", "floor": 6, "column": 4}],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def start_camera(scenario: Path, port: int) -> subprocess.Popen:
    """The facade simulator in its own process (its CPU is not the gateway's), serving once it prints."""
    server = subprocess.Popen(
        [sys.executable, "-m", "simulators.facade_camera", str(scenario), "--port", str(port), "--prerender"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()  # "facade camera ... at URL": serving
    return server


async def gateway_run(cameras: int, size: tuple[int, int], seconds: float) -> dict[str, Any]:
    from edge.components import build_components
    from simulators.broker import free_port, start_mosquitto, stop
    from tests.edge.gwrun import running
    from tests.support import Subscriber, async_wait_for, make_config

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scenario = gateway_scenario(size, seconds, work / "bench.yaml")
        scene = FacadeScene(FallScenario.model_validate(yaml.safe_load(scenario.read_text())))
        calibration = save_calibration(scene.calibration(), work / "cal.yaml")
        broker_port = free_port()
        broker = start_mosquitto(broker_port, work / "broker", persistence=False)
        servers, ports = [], []
        try:
            for _ in range(cameras):
                port = free_port()
                ports.append(port)
                servers.append(start_camera(scenario, port))
            sub = Subscriber("127.0.0.1", broker_port).start()
            config = make_config(
                work,
                broker_port,
                falls=[
                    {
                        "id": f"cam-{i}",
                        "camera_url": f"http://127.0.0.1:{p}/video.mjpg",
                        "fps": 25,
                        "decode_width": size[0],
                        "calibration": str(calibration),
                        "clear_after_s": 1,
                    }
                    for i, p in enumerate(ports)
                ],
            )
            components = build_components(config)
            gateway_proc = psutil.Process()
            async with running(config, components):
                await async_wait_for(lambda: all(c.worker_pid for c in components), 30, "camera processes")
                workers = [psutil.Process(c.worker_pid) for c in components]
                # the stream of each camera starts when its process connects: wait until all are online
                await async_wait_for(
                    lambda: all(
                        any(
                            m.json()["state"] == "online"
                            for m in sub.snapshot(f"ce/v1/site1/gw1/devices/cam-{i}/availability")
                        )
                        for i in range(cameras)
                    ),
                    30,
                    "cameras online",
                )
                online_at = time.time()
                before = [w.cpu_times() for w in workers]
                gw_before = gateway_proc.cpu_times()
                t0 = time.monotonic()
                await asyncio.sleep(seconds)
                wall = time.monotonic() - t0
                after = [w.cpu_times() for w in workers]
                gw_after = gateway_proc.cpu_times()
                fps = [c.fps for c in components]
            sub.stop()
        finally:
            for server in servers:
                server.terminate()
                server.wait(5)
            stop(broker)
    per_camera = [
        round(100 * ((a.user + a.system) - (b.user + b.system)) / wall, 1) for a, b in zip(after, before, strict=True)
    ]
    gateway_cpu = round(100 * ((gw_after.user + gw_after.system) - (gw_before.user + gw_before.system)) / wall, 1)
    raised = [
        m
        for m in sub.messages
        if "/events/cam-" in m.topic and m.json()["kind"] == "fall_detected" and m.json()["state"] == "raised"
    ]
    truths = scene.truths()
    latencies, floors_ok = [], 0
    for msg in raised:
        details = msg.json()["details"]
        # the scene starts when the camera process connects (about when the camera went online)
        truth = min(truths, key=lambda t: abs(details["started_at"] - online_at - t.t))
        floors_ok += abs(details["origin"]["floor"] - truth.floor) <= 1
        latencies.append(msg.arrived - details["started_at"])
    expected = sum(1 for t in truths if t.t < seconds - 1) * cameras
    return {
        "cameras": cameras,
        "size": list(size),
        "seconds": round(wall, 1),
        "cpu_pct_per_camera_process": per_camera,
        "gateway_process_cpu_pct": gateway_cpu,
        "falls_expected_about": expected,
        "falls_raised": len(raised),
        "floor_within_1": floors_ok,
        "fps": fps,
        "track_start_to_subscriber_s": {
            "median": round(statistics.median(latencies), 3) if latencies else None,
            "max": round(max(latencies), 3) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--falls", type=int, default=100)
    parser.add_argument("--distractor-minutes", type=float, default=60.0)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--sizes", default="1280x720,1920x1080", help="sizes of the one-camera CPU runs")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", default="detection,false,ring,gateway")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    size = tuple(int(v) for v in args.size.split("x"))
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "python": platform.python_version(),
            "opencv": cv2.__version__,
        },
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if "detection" in parts:
        out["detection"] = detection(args.falls, size)  # type: ignore[arg-type]
        print(json.dumps(out["detection"]), flush=True)
    if "false" in parts:
        out["false_alarms"] = false_alarms(args.distractor_minutes)
        print(json.dumps(out["false_alarms"]), flush=True)
    if "ring" in parts:
        out["ring"] = [ring_cost(tuple(int(v) for v in text.split("x"))) for text in args.sizes.split(",")]  # type: ignore[arg-type]
        print(json.dumps(out["ring"]), flush=True)
    if "gateway" in parts:
        out["gateway"] = asyncio.run(gateway_run(args.cameras, size, args.seconds))  # type: ignore[arg-type]
        print(json.dumps(out["gateway"]), flush=True)
        out["per_camera"] = []
        for text in args.sizes.split(","):
            one = tuple(int(v) for v in text.split("x"))
            out["per_camera"].append(asyncio.run(gateway_run(1, one, args.seconds)))  # type: ignore[arg-type]
            print(json.dumps(out["per_camera"][-1]), flush=True)
    out["machine"]["loadavg_after"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
