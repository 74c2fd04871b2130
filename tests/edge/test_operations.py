"""Operations: systemd notifications, `edge status`, reconnect back-off, shared subscriptions."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys

import yaml

from edge.core.types import Reading
from edge.pipeline.uplink import Backoff
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config, wait_for


def write_config(tmp_path, port: int) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "data_dir": str(tmp_path / "data"),
                "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
            }
        )
    )
    return str(path)


def test_systemd_ready_watchdog_and_stopping(tmp_path, mosquitto):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(15)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", write_config(tmp_path, mosquitto.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        got = [sock.recv(256).decode() for _ in range(3)]
        assert got[0] == "READY=1"
        assert got[1:] == ["WATCHDOG=1", "WATCHDOG=1"], "watchdog pings at half the interval"
        proc.send_signal(signal.SIGTERM)
        while (message := sock.recv(256).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        sock.close()


def test_status_shows_outbox_broker_and_devices(tmp_path, mosquitto):
    config = write_config(tmp_path, mosquitto.port)
    status = [sys.executable, "-m", "edge", "status", "--config", config, "--json"]
    stopped = subprocess.run(status, capture_output=True, text=True)
    assert stopped.returncode == 3  # not running is not success (systemctl status says 3 too)
    before = json.loads(stopped.stdout)
    assert before["running"] is False and before["outbox_depth"] == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:

        def connected() -> dict | None:
            out = json.loads(subprocess.run(status, capture_output=True, text=True).stdout)
            return out if out["running"] and out["broker"]["connected"] else None

        now = wait_for(connected, 20, what="status: running and connected")
        assert now["outbox_depth"] == 0
        mosquitto.stop()
        down = wait_for(
            lambda: (lambda o: o if not o["broker"]["connected"] else None)(
                json.loads(subprocess.run(status, capture_output=True, text=True, check=True).stdout)
            ),
            20,
            what="status: disconnected",
        )
        assert down["running"] is True
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    after = subprocess.run(status[:-1], capture_output=True, text=True)
    assert after.returncode == 3
    assert "is not running" in after.stderr and "outbox: 0 message(s) waiting" in after.stderr
    assert "device" not in after.stdout  # no empty device table


def test_backoff_grows_with_full_jitter_and_resets():
    backoff = Backoff(0.5, 30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(12)]
    caps = [min(30.0, 0.5 * 2**n) for n in range(12)]
    assert all(0.25 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert max(delays[8:]) > 5, "later delays reach towards the cap"
    assert len({round(d, 3) for d in delays}) == len(delays), "jittered, not lockstep"
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_platform_consumers_can_share_a_subscription(tmp_path, mosquitto):
    config = make_config(tmp_path, mosquitto.port)
    topic = "$share/platform/ce/v1/+/+/telemetry/#"
    a = Subscriber(mosquitto.host, mosquitto.port, [topic]).start()
    b = Subscriber(mosquitto.host, mosquitto.port, [topic]).start()
    try:
        async with running(config) as gw:
            for i in range(200):
                await gw.readings.put(Reading(f"dev-{i % 20}", "v", i))
                if i % 10 == 9:
                    await gw.writer.flush()
            values = lambda s: [r["value"] for m in s.snapshot() for r in m.json()["readings"]]  # noqa: E731
            await async_wait_for(lambda: len(values(a)) + len(values(b)) >= 200, 15, "all readings")
        assert sorted(values(a) + values(b)) == list(range(200)), "each message to exactly one consumer"
        assert values(a) and values(b), "both consumers got a share"
    finally:
        a.stop()
        b.stop()


async def test_shutdown_stops_a_component_that_swallows_one_cancellation(tmp_path, mosquitto):
    import asyncio

    class Stubborn:
        name = "stubborn"
        swallowed = 0

        async def run(self, ctx) -> None:  # noqa: ANN001
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    if Stubborn.swallowed:
                        raise
                    Stubborn.swallowed += 1  # as a library that turns a cancellation into its own error

    config = make_config(tmp_path, mosquitto.port)
    async with asyncio.timeout(30):
        async with running(config, [Stubborn()]):
            pass
    assert Stubborn.swallowed == 1
