"""A whole compound on this machine (issue 15): memory and CPU of the gateway's processes.

The demo's compound (mosquitto, the ``compound_day`` scenario: every Modbus device kind on a simulated
RS-485 bus, with its scripted day), one gate camera (the residents' photos and the stranger's clip, the
residents enrolled) and N lift cameras (an e-bike crossing an empty room every 40 s, shifted per lift),
and, unless ``--no-facade``, the demo's facade camera (a falling-object camera at 25 fps, issue 14); all
simulators in this process; the gateway is ``edge run`` with the web console, as deployed. After a
warm-up the gateway's process tree is sampled: RSS, PSS and USS per process (the peak over the samples),
and CPU over the window in cores, per process and in total.

    python -m bench.compound_bench [--lifts 4] [--no-facade] [--drop-caches] [--warmup 40] [--seconds 60]
                                   [--json out.json]

RSS counts the pages of the shared libraries (OpenCV, NumPy, ...) that a process has mapped, and the kernel
maps more of a library at each fault when more of its file is in the page cache: right after ``pip install``
wrote the libraries, the same processes show about 25 MB more RSS each than after a boot. ``--drop-caches``
(root) empties the page cache first, as after a boot, so runs compare; the report says which it was. PSS and
USS move much less.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from simulators.broker import free_port, start_mosquitto, stop
from simulators.demo import DemoOptions, demo_config, facade_scene, gate_frames, shared_parts
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared"))


def role(proc: psutil.Process, gateway_pid: int, camera_ports: dict[int, str] | None = None) -> str:
    """What a process of the gateway's tree is: the core, a camera process, a detector, the helpers."""
    if proc.pid == gateway_pid:
        return "core (edge run, with the console)"
    name = proc.name()
    if name.startswith("cams-"):
        return f"lift cameras ({name})"
    if name.startswith("det-"):
        return f"lift detector ({name})"
    cmd = " ".join(proc.cmdline())
    if "resource_tracker" in cmd:
        return "multiprocessing resource tracker"
    if "edge.pipeline.command_listener" in cmd:
        return "command listener (its own MQTT connection)"
    if "spawn_main" not in cmd:
        return f"other ({name})"
    with contextlib.suppress(psutil.Error):  # a camera process is known by the simulator it reads from
        for conn in proc.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port in (camera_ports or {}):
                return f"{(camera_ports or {})[conn.raddr.port]} ({name})"
    return f"other child ({name})"


def sample(gateway: psutil.Process, camera_ports: dict[int, str]) -> dict[int, dict[str, Any]]:
    out = {}
    for proc in [gateway, *gateway.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            mem = proc.memory_full_info()
            cpu = proc.cpu_times()
            out[proc.pid] = {
                "role": role(proc, gateway.pid, camera_ports),
                "rss": mem.rss,
                "pss": mem.pss,
                "uss": mem.uss,
                "cpu": cpu.user + cpu.system,
            }
    return out


async def run(lifts: int, warmup: float, seconds: float, facade: bool = True) -> dict[str, Any]:
    from simulators.scenario import ScenarioRun, load_scenario

    work = Path(tempfile.mkdtemp(prefix="compound-bench-"))
    missing = {part: m for part, m in shared_parts(SHARED).items() if m}
    if missing:
        raise SystemExit(f"shared data missing under {SHARED}: {missing}")
    opts = DemoOptions(workdir=work, broker_port=free_port(), web_port=free_port(), shared=SHARED)
    broker = start_mosquitto(opts.broker_port, work / "broker", persistence=False)
    env = {**os.environ, "EDGE_SHARED": str(SHARED), "EDGE_DEMO_WEB_PASSWORD": "bench-only-password"}
    script = Path(sys.executable).parent / "edge"  # the console script, as systemd runs it
    edge = [str(script)] if script.exists() else [sys.executable, "-m", "edge"]
    keys = work / "keys"
    keys.mkdir()
    subprocess.run(  # noqa: ASYNC221 - setup, before the measured window
        [*edge, "keys", "generate", str(keys / "platform.key"), str(keys / "platform.pub")],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    cameras = [MjpegServer(lambda: gate_frames(SHARED), fps=10).start()]
    opts.gate_camera_port = cameras[0].port
    scenes = []
    for i in range(lifts):
        scene = LiftScene.from_photos(
            SHARED / "lift" / "intel_room_empty_obo_f0020.jpg",
            SHARED / "lift" / "skimage_middlebury_motorcycle_left.png",
            fps=10,
            before_s=10 + 8 * i,
            cross_s=6,
            after_s=24 - 8 * i,
        )
        scenes.append(scene)
        cameras.append(MjpegServer(scene.frames, fps=10, loop=True).start())
    camera_ports = {opts.gate_camera_port: "gate camera"}
    if facade:
        scene = facade_scene(opts)
        cameras.append(MjpegServer(scene.frames, fps=scene.fps, loop=True).start())
        opts.facade_camera_port = cameras[-1].port
        camera_ports[opts.facade_camera_port] = "facade camera"
    gateway_proc: subprocess.Popen | None = None
    try:
        scenario = ScenarioRun(load_scenario("compound_day"), log=lambda line: None)
        async with scenario.started():
            config = demo_config(opts, scenario.gateway_sections(), {"gate": [], "lift": []}, keys)
            template = config["lifts"][0]
            config["lifts"] = [
                {**template, "id": f"lift-{i + 1}", "camera_url": cameras[1 + i].url}
                if i == 1
                else {k: v for k, v in template.items() if k not in ("door_hold", "voice", "door_state")}
                | {"id": f"lift-{i + 1}", "camera_url": cameras[1 + i].url}
                for i in range(lifts)
            ]
            if not facade:
                config.pop("falls", None)
            path = work / "gateway.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            subprocess.run(  # noqa: ASYNC221 - setup, before the measured window
                [*edge, "residents", "import", str(SHARED / "faces" / "residents"), "-c", str(path)],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            log = open(work / "gateway.log", "ab")  # noqa: SIM115, ASYNC230
            gateway_proc = subprocess.Popen(  # noqa: ASYNC220 - starting the process under test
                [*edge, "run", "--config", str(path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            play = asyncio.create_task(scenario.play())
            gateway = psutil.Process(gateway_proc.pid)
            await asyncio.sleep(warmup)
            first = sample(gateway, camera_ports)
            t0 = time.monotonic()
            load0 = os.getloadavg()[0]
            peaks: dict[int, dict[str, Any]] = {pid: dict(v) for pid, v in first.items()}
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(5)
                for pid, row in sample(gateway, camera_ports).items():
                    peak = peaks.setdefault(pid, dict(row))
                    for key in ("rss", "pss", "uss"):
                        peak[key] = max(peak[key], row[key])
                    peak["cpu_end"] = row["cpu"]
            elapsed = time.monotonic() - t0
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play
            if gateway_proc.poll() is not None:
                raise SystemExit(f"the gateway exited (code {gateway_proc.returncode}); see {work / 'gateway.log'}")
    finally:
        if gateway_proc is not None and gateway_proc.poll() is None:
            gateway_proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                gateway_proc.wait(20)
        for camera in cameras:
            camera.stop()
        stop(broker)
    rows = []
    for pid, peak in peaks.items():
        start = first.get(pid, {}).get("cpu", 0.0)
        rows.append(
            {
                "pid": pid,
                "role": peak["role"],
                "rss_mb": round(peak["rss"] / 2**20, 1),
                "pss_mb": round(peak["pss"] / 2**20, 1),
                "uss_mb": round(peak["uss"] / 2**20, 1),
                "cores": round((peak.get("cpu_end", start) - start) / elapsed, 3),
            }
        )
    rows.sort(key=lambda r: -r["rss_mb"])
    return {
        "lift_cameras": lifts,
        "gate_cameras": 1,
        "falling_object_cameras": 1 if facade else 0,
        "seconds": round(elapsed, 1),
        "processes": rows,
        "total_rss_mb": round(sum(r["rss_mb"] for r in rows), 1),
        "total_pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
        "total_cores": round(sum(r["cores"] for r in rows), 3),
        "load_1m_at_start": round(load0, 2),
        "load_1m_at_end": round(os.getloadavg()[0], 2),
        "machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def drop_page_cache() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--drop-caches: cannot write /proc/sys/vm/drop_caches ({exc}); run as root") from exc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifts", type=int, default=4, help="lift cameras")
    parser.add_argument("--no-facade", action="store_true", help="leave out the falling-object camera")
    parser.add_argument("--warmup", type=float, default=40.0, help="seconds before sampling")
    parser.add_argument("--seconds", type=float, default=60.0, help="sampling window")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--drop-caches", action="store_true", help="empty the page cache before starting, as after a boot (root)"
    )
    args = parser.parse_args()
    if args.drop_caches:
        drop_page_cache()
    report = asyncio.run(run(args.lifts, args.warmup, args.seconds, facade=not args.no_facade))
    report["page_cache"] = "dropped before the start" if args.drop_caches else "as found"
    for row in report["processes"]:
        print(
            f"{row['role']:<48} RSS {row['rss_mb']:7.1f} MB  PSS {row['pss_mb']:7.1f}  USS {row['uss_mb']:7.1f}  "
            f"{row['cores']:.3f} cores"
        )
    print(
        f"total: RSS {report['total_rss_mb']} MB, PSS {report['total_pss_mb']} MB, {report['total_cores']} cores "
        f"(load {report['load_1m_at_start']} -> {report['load_1m_at_end']}; page cache {report['page_cache']})"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
