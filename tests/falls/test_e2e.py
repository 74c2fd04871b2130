"""End to end: facade scenarios served as MJPEG cameras, the whole gateway with one fall camera per
scenario (each its own process), and a real mosquitto. Every fall is reported once with its floor ±1,
with a snapshot, a trajectory and a clip; the distractor scenarios report nothing."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest

from edge.components import build_components
from edge.falls.calibration import save_calibration
from simulators.facade_camera import FacadeScene, load_fall_scenario
from simulators.mjpeg import MjpegServer
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

pytestmark = [pytest.mark.vision, pytest.mark.slow]

BASE = "ce/v1/site1/gw1"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "v1"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def _events(sub: Subscriber, camera: str, kind: str | None = None) -> list[dict]:
    out = [m.json() for m in sub.snapshot(f"{BASE}/events/{camera}")]
    return [e for e in out if kind is None or e["kind"] == kind]


def _camera(name: str, url: str, calibration: Path, **extra: Any) -> dict:
    return {
        "id": name.replace("_", "-"),
        "camera_url": url,
        "fps": 25,
        "calibration": str(calibration),
        "clear_after_s": 2,
        "evidence": {"before_s": 1.0, "after_s": 1.0},
        **extra,
    }


async def _run_scenarios(tmp_path: Path, mosquitto, names: list[str]) -> tuple[Subscriber, dict[str, FacadeScene]]:
    scenes = {name: FacadeScene(load_fall_scenario(name)).prerender() for name in names}
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    with contextlib.ExitStack() as stack:
        cameras = []
        for name, scene in scenes.items():
            server = stack.enter_context(MjpegServer(lambda s=scene: s.frames(hold_last=True), fps=scene.fps))
            calibration = save_calibration(scene.calibration(), tmp_path / f"{name}.yaml")
            cameras.append(_camera(name, server.url, calibration))
        config = make_config(tmp_path, mosquitto.port, falls=cameras)
        async with running(config, build_components(config)):
            longest = max(scene.scenario.duration_s for scene in scenes.values())
            for name in scenes:
                camera = name.replace("_", "-")
                await async_wait_for(
                    lambda c=camera: any(
                        m.json()["state"] == "online" for m in sub.snapshot(f"{BASE}/devices/{c}/availability")
                    ),
                    30,
                    f"{camera} online",
                )
            # every scenario played to its end, every clip written, every alarm cleared
            expected_clips = sum(len(scene.scenario.objects) for scene in scenes.values())

            def settled() -> bool:
                clips = sum(len(_events(sub, n.replace("_", "-"), "fall.clip_saved")) for n in scenes)
                open_alarms = sum(
                    len([e for e in _events(sub, n.replace("_", "-"), "fall_detected") if e["state"] == "raised"])
                    - len([e for e in _events(sub, n.replace("_", "-"), "fall_detected") if e["state"] == "cleared"])
                    for n in scenes
                )
                return (
                    clips >= expected_clips
                    and open_alarms == 0
                    and all(len(s.released_at) == len(s.scenario.objects) for s in scenes.values())
                )

            await async_wait_for(settled, longest + 30, "scenarios played, clips saved, alarms cleared")
            # the distractors have had their whole scenario: wait until each stream passed its end
            await async_wait_for(
                lambda: all(_played(sub, n, s) for n, s in scenes.items()),
                longest + 20,
                "every scenario played to its end",
            )
    return sub, scenes


def _played(sub: Subscriber, name: str, scene: FacadeScene) -> bool:
    topic = f"{BASE}/devices/{name.replace('_', '-')}/availability"
    online = [m for m in sub.snapshot(topic) if m.json()["state"] == "online"]
    return bool(online) and online[0].arrived + scene.scenario.duration_s + 1.0 < time.time()


def _check_falls(sub: Subscriber, name: str, scene: FacadeScene, clip_dir: Path) -> None:
    camera = name.replace("_", "-")
    raised = [e for e in _events(sub, camera, "fall_detected") if e["state"] == "raised"]
    truths = scene.truths()
    assert len(raised) == len(truths), (name, [e["details"]["origin"] for e in raised])
    for event, (index, truth) in zip(raised, enumerate(truths), strict=True):
        jsonschema.validate(event, _schema("event"))
        details = event["details"]
        jsonschema.validate(details, _schema("fall-detected"))
        assert event["severity"] == "critical"
        assert abs(details["origin"]["floor"] - truth.floor) <= 1, (name, details["origin"], truth)
        assert abs(details["origin"]["column"] - truth.column) <= 1, (name, details["origin"], truth)
        assert len(details["trajectory"]) >= 7 and details["unit"] == "m"
        snapshot = cv2.imdecode(np.frombuffer(base64.b64decode(event["snapshot_jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        assert snapshot is not None and snapshot.shape[:2] == (scene.size[1], scene.size[0])
        latency = event["ts"] - scene.released_wall[index]
        print(
            f"{name} fall {index}: floor {details['origin']['floor']} (true {truth.floor}), "
            f"alarm {latency:.2f} s after the release"
        )
    saved = _events(sub, camera, "fall.clip_saved")
    assert sorted(e["details"]["alarm_id"] for e in saved) == sorted(e["alarm_id"] for e in raised)
    for event in saved:
        clip = clip_dir / camera / event["details"]["clip"]
        assert clip.is_file() and clip.stat().st_size == event["details"]["bytes"]
        # bounds: from about before_s (1 s) before the fall's start to after_s (1 s) after its detection
        assert 0.8 <= event["details"]["before_s"] <= 1.2, event["details"]
        cap = cv2.VideoCapture(str(clip))
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        assert frames == event["details"]["frames"] and 2.2 * 25 <= frames <= 3.6 * 25, event["details"]


async def test_falls_are_reported_once_with_their_floor_and_clip(tmp_path: Path, mosquitto) -> None:
    sub, scenes = await _run_scenarios(tmp_path, mosquitto, ["drop_day", "night", "shake"])
    try:
        for name, scene in scenes.items():
            _check_falls(sub, name, scene, tmp_path / "data" / "falls")
        shake = [e["kind"] for e in _events(sub, "shake") if e["kind"].startswith("fall.analysis")]
        assert shake == ["fall.analysis_paused", "fall.analysis_resumed"]
        for name in scenes:
            for event in _events(sub, name.replace("_", "-")):
                jsonschema.validate(event, _schema("event"))
    finally:
        sub.stop()


async def test_distractor_scenarios_raise_nothing(tmp_path: Path, mosquitto) -> None:
    sub, scenes = await _run_scenarios(tmp_path, mosquitto, ["birds", "wind", "rain", "clouds"])
    try:
        for name in scenes:
            kinds = [e["kind"] for e in _events(sub, name)]
            assert "fall_detected" not in kinds, (name, [e["details"] for e in _events(sub, name, "fall_detected")])
    finally:
        sub.stop()
