"""``make demo``: a whole simulated compound with live alerts, on local defaults.

It starts, in this order, and stops in reverse on Ctrl-C:
1. mosquitto on a loopback port (``--broker-port``, another free one if that is taken);
2. the ``compound_day`` scenario: every Modbus device kind on one simulated RS-485 bus (Modbus RTU on a
   pseudo-terminal at 19200 baud, real wire timing) with a scripted day;
3. two cameras as HTTP MJPEG streams: the north gate (residents' photos, then a stranger's clip) and lift 2
   (an e-bike, shown by the COCO "motorbike" photo, wheeled across an empty room), when the shared photos,
   clips and models are there (``EDGE_SHARED``, default ../shared); and the block 3 facade camera (rendered:
   a flower pot falls from floor ``fall_floor`` every 45 s, among birds, laundry and clouds);
4. the residents enrolled from the shared photos (``edge residents import``);
5. the gateway (``edge run``) with the web console and a platform key pair;
6. the live view: ``edge watch`` on a terminal, or one line per event otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulators.broker import free_port, start_mosquitto, stop

ROOT = Path(__file__).resolve().parent.parent
SITE, GATEWAY = "harbour-view", "guardroom"
GATE_SIZE = (960, 540)


@dataclass
class DemoOptions:
    workdir: Path = ROOT / "var" / "demo"
    broker_port: int = 18830
    web_port: int = 8080
    gate_camera_port: int = 18081
    lift_camera_port: int = 18082
    facade_camera_port: int = 18083
    fall_floor: int = 7  # the floor the demo's flower pot falls from (simulators/scenarios/falls/demo_fall.yaml)
    watch: bool | None = None  # None: the terminal view when stdout is a terminal
    duration: float = 0.0  # 0: until Ctrl-C (tests and CI stop it earlier)
    shared: Path = field(default_factory=lambda: Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared")))


def port_or_free(port: int) -> int:
    """``port`` if it is free on loopback, else (and for 0) another free one."""
    if port == 0:
        return free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def shared_parts(shared: Path) -> dict[str, list[str]]:
    """Which demo parts the shared data allows, and what is missing for the others."""
    need = {
        "gate": [
            "faces/residents",
            "faces/probes",
            "faces/clips/short_hamilton_clip.mp4",
            "faces/spoof/print_attack.jpg",
        ],
        "lift": [
            "lift/intel_room_empty_obo_f0020.jpg",
            "lift/skimage_middlebury_motorcycle_left.png",
            "models/yolox_nano/yolox_nano.onnx",
        ],
    }
    return {part: [p for p in paths if not (shared / p).exists()] for part, paths in need.items()}


def gate_frames(shared: Path) -> Iterator[Any]:
    """Residents' photos (4 s each), a printed poster held up, then the stranger's clip; the server loops it.

    The gate runs with liveness enforced. The slideshow's photos of residents are pictures of live people, shown
    as they are, so they stand for residents walking up and are granted; the poster is a photograph of a print
    (faces/spoof), which MiniFASNetV2 scores as a spoof: access.spoof_attempt, the door stays locked. (obama1.jpg
    is left out: its p(live) is 0.5, on the edge.)"""
    import numpy as np

    from simulators.mjpeg import letterbox, read_image, video_frames

    blank = np.full((GATE_SIZE[1], GATE_SIZE[0], 3), 40, np.uint8)
    for photo in ("probes/alex_lacamoire1.jpg", "probes/kit_with_rose.jpg", "spoof/print_attack.jpg"):
        image = letterbox(read_image(shared / "faces" / photo), GATE_SIZE)
        yield from itertools.repeat(image, 40)
        yield from itertools.repeat(blank, 30)
    for frame in video_frames(shared / "faces" / "clips" / "short_hamilton_clip.mp4"):
        yield letterbox(frame, GATE_SIZE)
    yield from itertools.repeat(blank, 120)


def demo_config(opts: DemoOptions, sections: dict[str, Any], parts: dict[str, list[str]], keys: Path) -> dict[str, Any]:
    config: dict[str, Any] = {
        "site_id": SITE,
        "gateway_id": GATEWAY,
        "data_dir": str(opts.workdir / "data"),
        "mqtt": {"host": "127.0.0.1", "port": opts.broker_port, "reconnect_min_s": 0.2, "reconnect_max_s": 5},
        "pipeline": {"alarm_resend_s": 60},
        "commands": {"platform_public_key": {"file": str(keys / "platform.pub")}},
        **sections,
        "web": {
            "enabled": True,
            "host": "127.0.0.1",
            "port": opts.web_port,
            "users": [
                {"name": name, "role": role, "password": {"env": "EDGE_DEMO_WEB_PASSWORD"}} for name, role in DEMO_USERS
            ],
        },
    }
    if not parts["gate"]:
        config["gates"] = [
            {
                "id": "north-gate",
                "camera": f"http://127.0.0.1:{opts.gate_camera_port}/video.mjpg",
                "area": "north gate",
                "door": {
                    "relay_device": "relay-gate",
                    "relay_channel": 0,
                    "unlock_s": 5,
                    "contact_device": "di-gatehouse",
                    "contact_key": "gate_door",
                    "contact_open_value": True,
                    "held_open_s": 20,
                },
            }
        ]
    if not parts["lift"]:
        config["lifts"] = [
            {
                "id": "lift-2",
                "area": "block 2",
                "camera_url": f"http://127.0.0.1:{opts.lift_camera_port}/video.mjpg",
                "fps": 5,
                "model": "yolox_nano",
                "model_dir": str(opts.shared / "models"),
                "door_hold": {"device": "relay-lift2", "channel": 0},
                "voice": {"device": "relay-lift2", "channel": 1},
                "door_state": {"device": "di-lift2", "key": "lift_door"},
            }
        ]
    config["falls"] = [
        {
            "id": "facade-b3-south",
            "area": "block 3",
            "fps": 25,
            "calibration": str(opts.workdir / "facade-b3.yaml"),
            "camera_url": f"http://127.0.0.1:{opts.facade_camera_port}/video.mjpg",
        }
    ]
    known = {item["id"] for section in ("devices", "gates", "lifts", "falls") for item in config.get(section, [])}
    config["web"]["names"] = {"devices": {k: v for k, v in DEMO_NAMES.items() if k in known}, "areas": DEMO_AREAS}
    plan = site_plan(opts.workdir / "site-plan.png")
    config["web"]["plan"] = {
        "image": str(plan),
        "positions": {k: list(v) for k, v in DEMO_POSITIONS.items() if k in known},
    }
    return config


def site_plan(path: Path) -> Path:
    """A drawn plan of the demo compound: blocks 1-3, the north gate, the east road, the refuse rooms."""
    import cv2
    import numpy as np

    image = np.full((540, 960, 3), (46, 40, 34), np.uint8)
    for (x, y, w, h), name in (
        ((90, 90, 220, 150), "Block 1"),
        ((380, 90, 220, 150), "Block 2"),
        ((90, 320, 220, 150), "Block 3"),
        ((700, 60, 30, 420), "East road"),
    ):
        cv2.rectangle(image, (x, y), (x + w, y + h), (96, 88, 76), -1)
        cv2.putText(image, name, (x + 10, y + 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 200, 200), 1)
    cv2.rectangle(image, (400, 0), (560, 24), (60, 110, 60), -1)
    cv2.putText(image, "North gate", (420, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (230, 230, 230), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


DEMO_USERS = [("guard", "guard"), ("chief", "supervisor"), ("fitter", "installer")]
DEMO_NAMES = {
    "smoke-b3-duct": "3号楼风管烟感",
    "smoke-b3-stair": "3号楼楼梯烟雾浓度",
    "manhole-07": "东路7号井盖",
    "bin-a": "1号楼垃圾桶",
    "bin-b": "2号楼垃圾桶",
    "di-gatehouse": "北门岗亭输入",
    "relay-gate": "北门门禁继电器",
    "di-lift2": "2号梯门状态",
    "relay-lift2": "2号梯继电器",
    "north-gate": "北门人脸门禁",
    "lift-2": "2号楼电梯",
    "facade-b3-south": "3号楼南立面高空抛物",
}
DEMO_AREAS = {
    "block 1 refuse room": "1号楼垃圾房",
    "block 2 refuse room": "2号楼垃圾房",
    "block 2": "2号楼",
    "block 3": "3号楼",
    "east road": "东路",
    "north gate": "北门",
}
DEMO_POSITIONS = {
    "smoke-b3-duct": (0.2, 0.72),
    "smoke-b3-stair": (0.28, 0.8),
    "manhole-07": (0.745, 0.5),
    "bin-a": (0.12, 0.42),
    "bin-b": (0.44, 0.42),
    "di-gatehouse": (0.5, 0.08),
    "north-gate": (0.5, 0.03),
    "lift-2": (0.52, 0.3),
    "facade-b3-south": (0.2, 0.88),
}


def facade_scene(opts: DemoOptions) -> Any:
    """The demo's facade camera: its scenario with the fall from ``opts.fall_floor``; its calibration written."""
    from edge.falls.calibration import save_calibration
    from simulators.facade_camera import FacadeScene, load_fall_scenario

    scenario = load_fall_scenario("demo_fall")
    floor = min(max(opts.fall_floor, scenario.facade.first_floor), scenario.facade.floors)
    objects = [obj.model_copy(update={"floor": floor}) for obj in scenario.objects]
    scene = FacadeScene(scenario.model_copy(update={"objects": objects}))
    save_calibration(scene.calibration(), opts.workdir / "facade-b3.yaml")
    return scene


class Demo:
    def __init__(self, opts: DemoOptions) -> None:
        self.opts = opts
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cameras: list[Any] = []
        self.edge = [sys.executable, "-m", "edge"]
        self.env = {
            **os.environ,
            "EDGE_SHARED": str(opts.shared),
            "EDGE_DEMO_WEB_PASSWORD": os.environ.get("EDGE_DEMO_WEB_PASSWORD") or secrets.token_urlsafe(9),
        }

    def say(self, line: str) -> None:
        print(line, flush=True)

    async def run(self) -> None:
        opts = self.opts
        work = opts.workdir
        work.mkdir(parents=True, exist_ok=True)
        opts.broker_port = port_or_free(opts.broker_port)
        opts.web_port = port_or_free(opts.web_port)
        parts = shared_parts(opts.shared)
        for part, missing in parts.items():
            if missing:
                self.say(f"[demo] no {part} camera: missing in {opts.shared}: {', '.join(missing)}")
        self.procs.append(start_mosquitto(opts.broker_port, work / "broker", persistence=False))
        keys = work / "keys"
        keys.mkdir(exist_ok=True)
        if not (keys / "platform.key").exists():
            subprocess.run(  # noqa: ASYNC221 - setup
                [*self.edge, "keys", "generate", str(keys / "platform.key"), str(keys / "platform.pub")],
                check=True,
                stdout=subprocess.DEVNULL,
                env=self.env,
            )
        from simulators.scenario import ScenarioRun, load_scenario

        scenario_log = open(work / "scenario.log", "a", buffering=1)  # noqa: SIM115, ASYNC230
        watch = opts.watch if opts.watch is not None else sys.stdout.isatty()

        def log(line: str) -> None:
            if watch:
                scenario_log.write(line + "\n")
            else:
                self.say(f"[scenario] {line}")

        run = ScenarioRun(load_scenario("compound_day"), log=log)
        async with run.started():
            self.start_cameras(parts)
            config_path = work / "gateway.yaml"
            config_path.write_text(
                yaml.safe_dump(demo_config(opts, run.gateway_sections(), parts, keys), sort_keys=False)
            )
            if not parts["gate"]:
                self.enrol(config_path)
            gateway_log = open(work / "gateway.log", "ab")  # noqa: SIM115, ASYNC230
            self.procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, stopped by stop()
                    [*self.edge, "run", "--config", str(config_path)],
                    env=self.env,
                    stdout=gateway_log,
                    stderr=subprocess.STDOUT,
                )
            )
            self.intro(config_path, keys, parts, watch)
            play = asyncio.create_task(run.play(), name="scenario")
            try:
                if watch:
                    await self.terminal_view(config_path, keys)
                else:
                    await self.print_events(opts.duration)
            finally:
                play.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await play
                scenario_log.close()

    def start_cameras(self, parts: dict[str, list[str]]) -> None:
        from simulators.mjpeg import MjpegServer

        shared = self.opts.shared
        if not parts["gate"]:
            self.cameras.append(
                MjpegServer(lambda: gate_frames(shared), fps=10, port=port_or_free(self.opts.gate_camera_port)).start()
            )
            self.opts.gate_camera_port = self.cameras[-1].port
        if not parts["lift"]:
            from simulators.lift_camera import LiftScene

            scene = LiftScene.from_photos(
                shared / "lift" / "intel_room_empty_obo_f0020.jpg",
                shared / "lift" / "skimage_middlebury_motorcycle_left.png",
                fps=10,
                before_s=20,
                cross_s=6,
                after_s=25,
            )
            self.cameras.append(
                MjpegServer(scene.frames, fps=scene.fps, port=port_or_free(self.opts.lift_camera_port)).start()
            )
            self.opts.lift_camera_port = self.cameras[-1].port
        facade = facade_scene(self.opts)
        self.cameras.append(
            MjpegServer(facade.frames, fps=facade.fps, port=port_or_free(self.opts.facade_camera_port)).start()
        )
        self.opts.facade_camera_port = self.cameras[-1].port

    def enrol(self, config_path: Path) -> None:
        self.say("[demo] enrolling the residents from the shared photos ...")
        subprocess.run(
            [*self.edge, "residents", "import", str(self.opts.shared / "faces" / "residents"), "-c", str(config_path)],
            check=True,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )

    def intro(self, config_path: Path, keys: Path, parts: dict[str, list[str]], watch: bool) -> None:
        o = self.opts
        self.say(f"""
compound-edge demo: site {SITE}, gateway {GATEWAY}
  web console   http://127.0.0.1:{o.web_port}/   users: guard, chief (supervisor), fitter (installer)
                password: {self.env["EDGE_DEMO_WEB_PASSWORD"]}   (Chinese or English, as the browser asks)
  broker        127.0.0.1:{o.broker_port}   (mosquitto_sub -p {o.broker_port} -t 'ce/v1/#' -v)
  gateway       {config_path}   logs: {o.workdir / "gateway.log"}
  platform key  {keys / "platform.key"}   (edge send-command / edge watch --key)

What to watch for (the scripted day runs for about two minutes, then the compound stays live):
  t+10 s   smoke in block 3: smoke_concentration, then the duct detector's latched smoke alarm (critical)
  t+45 s   the manhole cover on the east road is lifted: manhole_open and manhole_tilt
  bins     bin-a fills over the two minutes: bin_warning, then bin_full
  t+70 s   someone climbs the north fence: beam_interrupted
  t+85 s   the north gate is forced open without an unlock: door.forced
  t+100 s  the lobby emergency button: emergency_button (critical until reset)""")
        if not parts["gate"]:
            self.say(
                "  gate     residents walk up to the north gate (access.granted, the door unlocks); a printed "
                "poster is held up (access.spoof_attempt, with snapshot); then a stranger (access.stranger)"
            )
        if not parts["lift"]:
            self.say("  lift 2   an e-bike is wheeled in every 50 s: the door is held, ebike_in_lift (with snapshot)")
        self.say(
            f"  block 3  a flower pot falls from floor {self.opts.fall_floor} at t+20 s, then every 45 s: "
            "fall_detected with the floor, the trajectory and a clip (play it in the console)"
        )
        self.say(
            "In the console: new critical alarms flash (click 'Sound on' to hear them); Acknowledge sends the "
            "acknowledgement.\n"
            + (
                "In the terminal view: j/k select, a acknowledges, q quits."
                if watch
                else "Events follow, one per line. Ctrl-C stops everything."
            )
            + "\n"
        )

    async def terminal_view(self, config_path: Path, keys: Path) -> None:
        await asyncio.sleep(3)
        view = await asyncio.create_subprocess_exec(
            *self.edge,
            "watch",
            "--config",
            str(config_path),
            "--key",
            str(keys / "platform.key"),
            "--by",
            "demo-guard",
            env=self.env,
        )
        await view.wait()

    async def print_events(self, duration: float) -> None:
        import aiomqtt

        async with aiomqtt.Client("127.0.0.1", self.opts.broker_port) as client:
            await client.subscribe(f"ce/v1/{SITE}/{GATEWAY}/events/#", qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration or None):
                    async for message in client.messages:
                        self.say(format_event(json.loads(message.payload)))

    def stop(self) -> None:
        """Stop in reverse order, each before the next: the gateway is gone (its last messages delivered, its
        offline status published) before the broker it talks to is stopped."""
        for camera in self.cameras:
            camera.stop()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            if proc.poll() is None:
                stop(proc)


def format_event(event: dict[str, Any]) -> str:
    state = f" {event['state']}" if event.get("state") else ""
    details = {
        k: v
        for k, v in event.get("details", {}).items()
        if k in ("person", "reason", "class", "value", "reminder", "origin")
    }
    extra = f" {json.dumps(details)}" if details else ""
    return f"[event] {event['severity']:<8} {event['kind']}{state} on {event['device']}{extra}"


def main(opts: DemoOptions) -> None:
    demo = Demo(opts)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(demo.run())
    finally:
        print("[demo] stopping everything it started ...", flush=True)
        demo.stop()
