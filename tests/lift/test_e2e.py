"""End to end: a composed e-bike scene served as an MJPEG camera, the whole gateway (relay board and
door input on a simulated Modbus TCP bus, the lift camera process), and a real mosquitto."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from edge.components import build_components
from edge.lift.component import LiftCamera
from simulators.lift_camera import LiftScene
from simulators.mjpeg import MjpegServer
from simulators.model import SimBus, SimDevice
from simulators.tcp import TcpSimulator
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, free_port, make_config

pytestmark = [pytest.mark.vision, pytest.mark.slow]

BASE = "ce/v1/site1/gw1"
RELAY = {"id": "relay-1", "bus": "b1", "profile": "relay_board", "unit_id": 1}
DOOR = {
    "id": "di-1",
    "bus": "b1",
    "profile": "di_module",
    "unit_id": 2,
    "inputs": [{"channel": 0, "key": "lift_door", "nc": False}],
}


def _sim_bus() -> SimBus:
    return SimBus([SimDevice(resolve_device(DeviceConfig(**RELAY))), SimDevice(resolve_device(DeviceConfig(**DOOR)))])


def _config(
    tmp_path: Path,
    broker_port: int,
    bus_url: str,
    camera_url: str,
    model_dir: Path,
    sections: dict[str, Any] | None = None,
    **lift: Any,
):
    return make_config(
        tmp_path,
        broker_port,
        **(sections or {}),
        buses=[{"id": "b1", "url": bus_url, "timeout_s": 0.2}],
        devices=[{**RELAY, "poll_s": 0.2}, {**DOOR, "poll_s": 0.1}],
        lifts=[
            {
                "id": "lift-1",
                "camera_url": camera_url,
                "model_dir": str(model_dir),
                "fps": 5,
                "door_hold": {"device": "relay-1", "channel": 0},
                "door_state": {"device": "di-1", "key": "lift_door"},
                "voice": {"device": "relay-1", "channel": 1},
                "confirm": {"end_after_s": 3.0},
                **lift,
            }
        ],
    )


def _events(sub: Subscriber, kind: str, state: str | None = None) -> list[dict]:
    out = []
    for m in sub.snapshot(f"{BASE}/events/lift-1"):
        body = m.json()
        if body["kind"] == kind and (state is None or body.get("state") == state):
            out.append(body)
    return out


async def test_ebike_holds_the_door_raises_the_alarm_and_ends_after_it_leaves(
    tmp_path: Path, mosquitto, model_dir: Path, lift_dir: Path
) -> None:
    scene = LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg",
        lift_dir / "skimage_middlebury_motorcycle_left.png",
        fps=10,
        before_s=3,
        cross_s=3,
        after_s=1,
        loop_empty=True,
    )
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with TcpSimulator(_sim_bus()) as bus:
            relay = bus.bus.devices["relay-1"]
            with MjpegServer(scene.frames, fps=scene.fps) as camera:
                config = _config(tmp_path, mosquitto.port, bus.url, camera.url, model_dir)
                components = build_components(config)
                lift = next(c for c in components if isinstance(c, LiftCamera))
                async with running(config, components):
                    held_at = await async_wait_for(
                        lambda: time.monotonic() if relay.get("relay0") else None, 30, "door held"
                    )
                    assert scene.appeared_at is not None
                    print(f"door held {held_at - scene.appeared_at:.3f} s after the e-bike appeared")
                    assert held_at - scene.appeared_at < 1.0, "door held more than 1 s after the e-bike appeared"

                    raised = await async_wait_for(lambda: _events(sub, "ebike_in_lift", "raised"), 10, "alarm")
                    assert relay.get("relay1") is True  # voice warning on
                    alarm = raised[0]
                    assert alarm["severity"] == "major" and alarm["details"]["class"] == "motorbike"
                    assert alarm["details"]["sightings"] >= 2 and alarm["details"]["score"] > 0.5
                    snapshot = cv2.imdecode(
                        np.frombuffer(base64.b64decode(alarm["snapshot_jpeg"]), np.uint8), cv2.IMREAD_COLOR
                    )
                    assert snapshot is not None and snapshot.shape == (360, 640, 3)
                    assert _events(sub, "lift.hold_started")[0]["details"] == {"reason": "suspect"}

                    # the door contact says open: the detector looks at every frame
                    bus.bus.devices["di-1"].set("lift_door", True)
                    await async_wait_for(lambda: lift.door_open, 5, "door-open input seen")

                    cleared = await async_wait_for(lambda: _events(sub, "ebike_in_lift", "cleared"), 20, "cleared")
                    assert cleared[0]["alarm_id"] == alarm["alarm_id"]
                    await async_wait_for(
                        lambda: not relay.get("relay0") and not relay.get("relay1"), 5, "door released and voice off"
                    )
                    ended = await async_wait_for(lambda: _events(sub, "lift.hold_ended"), 5, "hold ended")
                    assert ended[0]["details"]["reason"] == "ebike_left"
                    assert _events(sub, "lift.hold_released_unconfirmed") == []
                    assert lift.camera_online is True
    finally:
        sub.stop()


async def test_platform_commands_hold_and_release_the_door(
    tmp_path: Path, mosquitto, model_dir: Path, platform_keys
) -> None:
    import json
    import uuid

    import aiomqtt

    from edge.pipeline.signing import load_private_key, sign_command

    key = load_private_key(platform_keys[0])

    async def send(action: str, **args: Any) -> dict:
        now = time.time()
        body = sign_command(
            key,
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "request_id": str(uuid.uuid4()),
                "target": "lift-1",
                "action": action,
                "args": args,
                "issued_at": now,
                "expires_at": now + 60,
            },
        )
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.publish(f"{BASE}/commands", json.dumps(body).encode(), qos=1)
        return body

    def result(body: dict) -> dict | None:
        for m in sub.snapshot(f"{BASE}/commands/result"):
            r = m.json()
            if r["request_id"] == body["request_id"] and r["status"] in ("done", "failed", "rejected"):
                return r
        return None

    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with TcpSimulator(_sim_bus()) as bus:
            relay = bus.bus.devices["relay-1"]
            keys = {"commands": {"platform_public_key": {"file": str(platform_keys[1])}}}
            config = _config(tmp_path, mosquitto.port, bus.url, f"http://127.0.0.1:{free_port()}/none", model_dir, keys)
            async with running(config, build_components(config)) as gw:
                await async_wait_for(gw.uplink.connected.is_set, 10, "uplink connected")
                hold = await send("hold_door", lift="lift-1", seconds=30)
                done = await async_wait_for(lambda: result(hold), 10, "hold_door result")
                assert done["status"] == "done" and done["data"]["lift"] == "lift-1"
                await async_wait_for(lambda: relay.get("relay0") is True, 5, "door held by command")
                bad = await send("hold_door", lift="lift-7", seconds=30)
                failed = await async_wait_for(lambda: result(bad), 10, "refused hold_door")
                assert failed["status"] == "failed" and "unknown lift 'lift-7'" in failed["reason"]
                release = await send("release_door", lift="lift-1")
                assert (await async_wait_for(lambda: result(release), 10, "release result"))["status"] == "done"
                await async_wait_for(lambda: relay.get("relay0") is False, 5, "door released by command")
                reasons = [e["details"]["reason"] for e in _events(sub, "lift.hold_started")]
                assert reasons == ["command"]
                ended = await async_wait_for(lambda: _events(sub, "lift.hold_ended"), 5, "hold ended event")
                assert ended[0]["details"]["reason"] == "command"
    finally:
        sub.stop()
