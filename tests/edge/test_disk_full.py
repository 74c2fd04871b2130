"""A full disk (issue 11, finding 6): a small tmpfs mounted by the test; the gateway keeps running, raises
disk.full, loses nothing it accepted, and resumes when space returns."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from edge.core.types import Event, Reading, Severity
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"


@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.fail("this test mounts a 2 MiB tmpfs and needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path) -> Path:
    filler = mount / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


async def test_full_disk_raises_disk_full_keeps_running_and_loses_nothing_accepted(tmp_path, small_disk, mosquitto):
    mosquitto.stop()  # nothing drains: the outbox only grows
    config = make_config(tmp_path, mosquitto.port, data_dir=str(small_disk / "data"), outbox={"synchronous": "FULL"})
    async with running(config) as gw:
        accepted: list[str] = []
        for i in range(20):
            e = Event(kind="smoke", device=f"s{i}", severity=Severity.CRITICAL, details={"i": i})
            await gw.emit(e)
            accepted.append(e.id)
        filler = fill(small_disk)
        pending_events = [Event(kind="smoke", device=f"p{i}", severity=Severity.CRITICAL) for i in range(30)]
        pending = [asyncio.create_task(gw.emit(e)) for e in pending_events]
        for k in range(200):
            await gw.readings.put(Reading("meter", "v", k))
        alarm = await async_wait_for(
            lambda: next((a for a in gw.alarms.active() if a.kind == "disk.full"), None), 15, "the disk.full alarm"
        )
        assert "full" in alarm.details["error"]
        assert gw.writer.disk_full and not any(t.done() for t in pending)  # not accepted until on disk
        await asyncio.sleep(0)  # the gateway is still running: its tasks did not crash
        assert not gw._stop.is_set()
        filler.unlink()  # space returns
        await async_wait_for(lambda: all(t.done() for t in pending), 20, "the held events written")
        for t in pending:
            t.result()
        accepted += [e.id for e in pending_events]
        await async_wait_for(lambda: not any(a.kind == "disk.full" for a in gw.alarms.active()), 10, "cleared")
        sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/events/#"])
        mosquitto.start()
        sub.start()
        try:
            got = await async_wait_for(
                lambda: (lambda ids: ids if set(accepted) <= ids else None)({m.json()["id"] for m in sub.snapshot()}),
                30,
                "every accepted event delivered",
            )
        finally:
            sub.stop()
        assert set(accepted) <= got
        kinds = [m.json()["kind"] for m in sub.snapshot() if m.json()["kind"] == "disk.full"]
        assert kinds  # the platform hears of it too, once there is room
