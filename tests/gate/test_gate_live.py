"""The whole gate in a real gateway: MJPEG camera simulator -> vision process -> decisions -> relay, log, MQTT.

Real parts only: photos served as an HTTP MJPEG stream, the spawned vision process with dlib, the core's
outbox and uplink, a real mosquitto; the relay board is a writer registered on the core's IoRouter (what
the bus driver registers), recording each pulse.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edge.app import Gateway
from edge.core.types import Command, CommandError, Event
from edge.gate.commands import UnlockArgs
from edge.gate.component import GateService, build_components
from edge.gate.config import STORE_FILE
from edge.gate.store import ResidentStore
from edge.platform.client import PlatformClient
from simulators.mjpeg import MjpegServer, slideshow_frames, video_frames
from tests.edge.gwrun import running
from tests.edge.test_gateway_e2e import schema
from tests.gate.conftest import make_store
from tests.gate.remeasure import afresh
from tests.support import Subscriber, async_wait_for, free_port, make_config

BASE = "ce/v1/site1/gw1"
SIZE = (960, 540)  # HOG without upsampling finds faces from ~72 px: the group photos need this size
BLANK = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)


def gate_section(camera: str, **overrides) -> dict:
    # still photos are by nature not live: liveness is off here; test_gate_spoof runs the gate with it on
    section = {
        "id": "main",
        "camera": camera,
        "cooldown_s": 0.5,
        "liveness": "off",
        "door": {"relay_device": "relay1", "relay_channel": 2, "unlock_s": 3},
    }
    section.update(overrides)
    return section


def slideshow(paths: list[Path], frames_each: int = 10):
    """Each photo for ``frames_each`` frames, with blank frames between people."""

    def frames():
        for path in paths:
            yield from slideshow_frames([path], frames_each=frames_each, size=SIZE)
            yield from [BLANK] * 5

    return frames


class Relay:
    """Stands in for the relay board's driver on the IoRouter: records every write."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, dict]] = []

    async def __call__(self, action: str, args: dict) -> None:
        self.writes.append((action, args))


class Events:
    def __init__(self) -> None:
        self.items: list[Event] = []

    def access(self, kind: str | None = None) -> list[Event]:
        return [e for e in self.items if e.kind.startswith("access.") and (kind is None or e.kind == kind)]


@contextlib.asynccontextmanager
async def gate_running(config, relay: Relay | None = None) -> AsyncIterator[tuple[Gateway, Events]]:
    events = Events()
    async with running(config, build_components(config)) as gw:
        if relay is not None:
            gw.io.register("relay1", relay)

        async def collect() -> None:
            async with gw.hub.subscribe_events() as queue:
                while True:
                    events.items.append(await queue.get())

        collector = asyncio.create_task(collect())
        try:
            yield gw, events
        finally:
            collector.cancel()


# the relay board and door contact a gate names must be configured devices; only the gate component runs in
# these tests, so the bus is never opened and the Relay below stands in for its driver on the IoRouter
DEVICES = {
    "buses": [{"id": "b1", "url": "tcp://127.0.0.1:1502"}],
    "devices": [{"id": "relay1", "bus": "b1", "profile": "relay_board", "unit_id": 1}],
}


def prepared(tmp_path: Path, enrolled, port: int, camera: str, **gate) -> object:
    config = make_config(tmp_path, port, gates=[gate_section(camera, **gate)], **DEVICES)
    make_store(config.data_dir / STORE_FILE, enrolled).close()
    return config


async def test_residents_walk_through_and_the_lock_is_pulsed(tmp_path, mosquitto, enrolled, faces_dir) -> None:
    probes = [faces_dir / "probes" / n for n in ("alex_lacamoire1.jpg", "obama1.jpg", "kit_with_rose.jpg")]
    relay = Relay()
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/events/#"]).start()
    try:
        with MjpegServer(slideshow(probes), fps=10) as camera:
            config = prepared(tmp_path, enrolled, mosquitto.port, camera.url)
            async with gate_running(config, relay) as (gw, events):
                expected = {"alex_lacamoire", "obama", "kit_harington", "rose_leslie"}
                await async_wait_for(
                    lambda: {e.details["person"] for e in events.access("access.granted")} >= expected,
                    90,
                    "every resident of the slideshow granted",
                )
                granted = events.access("access.granted")
                assert not events.access("access.stranger") and not events.access("access.denied")
                assert gw.devices.get("main").online is True
                first = granted[0]
                assert first.device == "main" and first.details["result"] == "granted"
                assert first.details["distance"] < config.gates[0].threshold
                assert first.details["unlock"] == "pulsed"
                assert first.snapshot_jpeg is not None and first.snapshot_jpeg.startswith(b"\xff\xd8")
                assert len(first.snapshot_jpeg) < 60_000
                assert relay.writes[0] == ("pulse", {"channel": 2, "seconds": 3.0})
                assert len(relay.writes) == len(granted)
                log = ResidentStore(config.data_dir / STORE_FILE)
                try:
                    rows = log.access_log()
                finally:
                    log.close()
                assert {r["event_id"] for r in rows} >= {e.id for e in granted}
                published = await async_wait_for(
                    lambda: [
                        m.json() for m in sub.snapshot(f"{BASE}/events/main") if m.json()["kind"] == "access.granted"
                    ],
                    15,
                    "access events over MQTT",
                )
                assert published[0]["details"]["person"] in expected
                for body in published:
                    jsonschema.validate(body, schema("event"))
                assert base64.b64decode(published[0]["snapshot_jpeg"]).startswith(b"\xff\xd8")
    finally:
        sub.stop()


async def test_stranger_gets_a_stranger_event_and_no_unlock(tmp_path, enrolled, clip) -> None:
    relay = Relay()
    with MjpegServer(lambda: video_frames(clip), fps=15) as camera:
        config = prepared(tmp_path, enrolled, free_port(), camera.url)
        async with gate_running(config, relay) as (gw, events):
            stranger = await async_wait_for(lambda: events.access("access.stranger"), 60, "a stranger event")
            assert stranger[0].details["person"] == "unknown" and stranger[0].details["result"] == "denied"
            assert not events.access("access.granted") and not events.access("access.visitor")
            assert relay.writes == []


class Proxy:
    """A TCP forwarder between the gateway and the broker: ``cut()`` is the uplink going down."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_gate_decides_with_the_uplink_down_and_the_log_arrives_later(
    tmp_path, mosquitto, enrolled, faces_dir
) -> None:
    proxy = Proxy(mosquitto.port)
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/events/#"]).start()
    try:
        with MjpegServer(slideshow([faces_dir / "probes" / "obama1.jpg"]), fps=10) as camera:
            config = prepared(tmp_path, enrolled, proxy.port, camera.url)  # the proxy is down from the start
            async with gate_running(config, Relay()) as (gw, events):
                granted = await async_wait_for(lambda: events.access("access.granted"), 60, "a decision offline")
                assert not gw.uplink.connected.is_set()
                assert gw.outbox.depth >= 1
                assert not [m for m in sub.snapshot(f"{BASE}/events/main")]
                await proxy.up()
                delivered = await async_wait_for(
                    lambda: [m.json() for m in sub.snapshot(f"{BASE}/events/main") if m.json()["id"] == granted[0].id],
                    30,
                    "the offline decision delivered",
                )
                assert delivered[0]["details"]["person"] == "obama"
    finally:
        await proxy.cut()
        sub.stop()


async def test_camera_that_dies_mid_way_goes_offline_and_comes_back(tmp_path, enrolled, faces_dir) -> None:
    photos = slideshow([faces_dir / "probes" / "obama1.jpg"])
    camera = MjpegServer(photos, fps=10).start()
    port = camera.port
    config = prepared(tmp_path, enrolled, free_port(), camera.url, cooldown_s=0.1)
    try:
        async with gate_running(config, Relay()) as (gw, events):
            await async_wait_for(lambda: gw.devices.get("main") and gw.devices.get("main").online, 30, "online")
            camera.stop()  # the stream dies mid-way
            await async_wait_for(lambda: gw.devices.get("main").online is False, 30, "camera offline noticed")
            offline = [e for e in events.items if e.kind == "device.offline" and e.device == "main"]
            assert offline and "ended or stalled" in offline[0].details["reason"]
            camera = MjpegServer(photos, fps=10, port=port).start()
            await async_wait_for(lambda: gw.devices.get("main").online, 30, "camera back online")
            restarted = time.time()
            await async_wait_for(
                lambda: [e for e in events.access("access.granted") if e.ts > restarted], 60, "decisions resume"
            )
    finally:
        camera.stop()


async def test_signed_platform_commands_enrol_revoke_and_unlock(
    tmp_path, mosquitto, platform_keys, faces_dir, probes
) -> None:
    private, public = platform_keys
    config = make_config(
        tmp_path,
        mosquitto.port,
        commands={"platform_public_key": {"file": str(public)}},
        gates=[gate_section(f"http://127.0.0.1:{free_port()}/video.mjpg")],
        **DEVICES,
    )
    relay = Relay()
    photo = (faces_dir / "residents" / "obama" / "obama.jpg").read_bytes()
    group = (faces_dir / "probes" / "kit_with_rose.jpg").read_bytes()
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    async with gate_running(config, relay) as (gw, events):
        await async_wait_for(gw.uplink.connected.is_set, 10, "uplink connected")
        async with PlatformClient(config, private) as platform:

            async def call(action: str, **args) -> dict:
                request_id = await platform.send(action, target="main", args=args)
                final = [r async for r in platform.results(request_id, timeout=60) if r["status"] != "accepted"]
                assert final, f"no answer to {action}"
                return final[-1]

            done = await call("enrol_resident", name="Barack", photos=[b64(photo)], gates=["main"])
            assert done["status"] == "done" and done["data"]["encodings"] == 1
            refused = await call("enrol_resident", name="Pair", photos=[b64(group)])
            assert refused["status"] == "failed" and "2 faces found" in refused["reason"]
            corrupt = await call("enrol_resident", name="Bad", photos=[b64(photo[:300])])
            assert corrupt["status"] == "failed" and "not a readable image" in corrupt["reason"]
            bad_args = await call("enrol_resident", name="X", photos=["not base64!"], colour="red")
            assert bad_args["status"] == "failed" and "args.colour: unknown argument" in bad_args["reason"]
            assert "photo 0 is not valid base64" in bad_args["reason"]

            service = gw.components[0]
            assert isinstance(service, GateService)
            decider = service.gates["main"].decider
            obama = next(p for p in probes if p.name == "obama1.jpg")
            shown = [afresh(obama.faces) for _ in range(3)]  # the photo in three frames
            (decision,) = [d for i, f in enumerate(shown) for d in decider.decide(i * 0.1, time.time(), f, ref=None)]
            assert decision.name == "Barack" and decision.allowed

            revoked = await call("remove_resident", resident="Barack", revoke_only=True)
            assert revoked["status"] == "done" and revoked["data"]["removed"] is False
            shown = [afresh(obama.faces) for _ in range(3)]
            (after,) = [d for i, f in enumerate(shown) for d in decider.decide(100 + i * 0.1, time.time(), f, ref=None)]
            assert (after.allowed, after.reason) == (False, "revoked")

            now = time.time()
            issued = await call(
                "issue_visitor_pass",
                name="Guest",
                photos=[b64(photo)],
                gates=["main"],
                valid_from=now - 10,
                valid_until=now + 600,
                max_uses=1,
            )
            assert issued["status"] == "done" and issued["data"]["uses"] == 0
            gone = await call("revoke_visitor_pass", pass_id=issued["data"]["id"])
            assert gone["status"] == "done" and gone["data"]["revoked_at"] is not None
            unknown_gate = await call(
                "issue_visitor_pass",
                name="G",
                photos=[b64(photo)],
                gates=["nope"],
                valid_from=now,
                valid_until=now + 60,
            )
            assert unknown_gate["status"] == "failed" and "unknown gate(s) nope" in unknown_gate["reason"]

            unlocked = await call("unlock", by="guard-7")
            assert unlocked["status"] == "done"
            assert relay.writes == [("pulse", {"channel": 2, "seconds": 3.0})]
            remote = await async_wait_for(lambda: events.access("access.granted"), 10, "remote unlock logged")
            assert remote[0].details["person"] == "guard-7" and "remote unlock" in remote[0].details["reason"]


@pytest.mark.parametrize("relay_device", [None, "relay1"])
async def test_unlock_that_cannot_reach_a_relay_fails_with_the_reason(tmp_path, relay_device) -> None:
    door = {"relay_device": relay_device} if relay_device else {}
    config = make_config(
        tmp_path,
        free_port(),
        gates=[{"id": "main", "camera": f"http://127.0.0.1:{free_port()}/x", "door": door}],
        **DEVICES,
    )
    async with gate_running(config) as (gw, events):
        service = gw.components[0]
        await async_wait_for(lambda: "main" in service.gates, 10)
        command = Command("r1", "main", "unlock", {}, 0.0, 1e12, params=UnlockArgs())
        with pytest.raises(
            CommandError,
            match="no lock relay configured" if relay_device is None else "relay relay1 channel 0: no writable device",
        ):  # its driver is not running
            await service.unlock(command)
        assert events.access() == []


async def test_a_vision_process_that_dies_is_restarted(tmp_path, enrolled, faces_dir) -> None:
    import os
    import signal

    with MjpegServer(slideshow([faces_dir / "probes" / "obama1.jpg"]), fps=10) as camera:
        config = prepared(tmp_path, enrolled, free_port(), camera.url, cooldown_s=0.1)
        async with gate_running(config, Relay()) as (gw, events):
            gate = gw.components[0].gates["main"]
            await async_wait_for(lambda: events.access("access.granted"), 60, "a first decision")
            first_pid = gate.worker.pid
            os.kill(first_pid, signal.SIGKILL)
            await async_wait_for(lambda: gw.devices.get("main").online is False, 30, "the death noticed")

            def offline() -> list:
                return [e for e in events.items if e.kind == "device.offline" and e.device == "main"]

            # the device's state changes first; its event reaches the test's sink just after
            await async_wait_for(offline, 10, "the device.offline event")
            assert "vision process exited" in offline()[-1].details["reason"]
            await async_wait_for(
                lambda: gate.worker.restarts == 1 and gw.devices.get("main").online, 60, "restarted and back online"
            )
            assert gate.worker.pid != first_pid
            killed_at = time.time()
            await async_wait_for(
                lambda: [e for e in events.access("access.granted") if e.ts > killed_at],
                60,
                "decisions after the restart",
            )
