"""The fall camera component against bad input: a camera that drops, a corrupt calibration."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.components import build_components
from edge.falls.calibration import CalibrationError
from edge.falls.component import FallCamera
from simulators.facade_camera import FacadeScene, load_fall_scenario
from simulators.mjpeg import MjpegServer
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

pytestmark = pytest.mark.vision

BASE = "ce/v1/site1/gw1"


def _availability(sub: Subscriber, camera: str) -> list[dict]:
    return [m.json() for m in sub.snapshot(f"{BASE}/devices/{camera}/availability")]


def _offline_reasons(sub: Subscriber, camera: str) -> list[str]:
    events = [m.json() for m in sub.snapshot(f"{BASE}/events/{camera}")]
    return [e["details"]["reason"] for e in events if e["kind"] == "device.offline" and e["state"] == "raised"]


async def test_a_camera_that_drops_goes_offline_and_comes_back(tmp_path: Path, mosquitto) -> None:
    scene = FacadeScene(load_fall_scenario("clouds")).prerender()
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        server = MjpegServer(lambda: scene.frames(hold_last=True), fps=scene.fps).start()
        port = server.port
        config = make_config(
            tmp_path, mosquitto.port, falls=[{"id": "facade-1", "camera_url": server.url, "reconnect_max_s": 1}]
        )
        async with running(config, build_components(config)):
            await async_wait_for(
                lambda: any(a["state"] == "online" for a in _availability(sub, "facade-1")), 30, "camera online"
            )
            server.stop()  # the camera dies mid-stream
            await async_wait_for(lambda: _availability(sub, "facade-1")[-1]["state"] == "offline", 20, "offline")
            reasons = await async_wait_for(lambda: _offline_reasons(sub, "facade-1"), 5, "device.offline raised")
            assert "ended or stalled" in reasons[0] or "cannot connect" in reasons[0], reasons
            server = MjpegServer(lambda: scene.frames(hold_last=True), fps=scene.fps, port=port).start()
            await async_wait_for(lambda: _availability(sub, "facade-1")[-1]["state"] == "online", 30, "back online")
            server.stop()
    finally:
        sub.stop()


def test_a_corrupt_calibration_stops_the_gateway_at_start_naming_the_camera(tmp_path: Path) -> None:
    bad = tmp_path / "facade.yaml"
    bad.write_text("image_size: [480, 270]\ncorners: nonsense\nfloors: 8\ncolumns: 5\n")
    config = make_config(tmp_path, 1883, falls=[{"id": "facade-1", "camera_url": "rtsp://x", "calibration": str(bad)}])
    with pytest.raises(CalibrationError, match=r"falls\[facade-1\]: calibration .*facade.yaml: corners"):
        build_components(config)


async def test_a_calibration_spoilt_after_start_takes_the_camera_offline_with_the_reason(
    tmp_path: Path, mosquitto
) -> None:
    scene = FacadeScene(load_fall_scenario("clouds"))
    good = tmp_path / "facade.yaml"
    from edge.falls.calibration import save_calibration

    save_calibration(scene.calibration(), good)
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        config = make_config(
            tmp_path,
            mosquitto.port,
            falls=[{"id": "facade-1", "camera_url": "http://127.0.0.1:9/none", "calibration": str(good)}],
        )
        components = build_components(config)
        good.write_text("{{{ not yaml")  # spoilt between the start check and the camera process
        camera = next(c for c in components if isinstance(c, FallCamera))
        async with running(config, components):
            reasons = await async_wait_for(
                lambda: [r for r in _offline_reasons(sub, "facade-1") if "not valid YAML" in r],
                30,
                "offline with the calibration's problem",
            )
            assert str(good) in reasons[0] and camera.failure is not None
    finally:
        sub.stop()
