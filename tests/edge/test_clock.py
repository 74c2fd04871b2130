"""Time you can trust: a persisted high-water mark (issue 11, finding 8)."""

from __future__ import annotations

import json
import time
import uuid

import aiomqtt

from edge.pipeline.clock import FILE, TrustedClock
from edge.pipeline.signing import load_private_key, sign_command
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"


def test_the_mark_only_moves_forward_and_survives_a_restart(tmp_path):
    wall = [1_800_000_000.0]
    clock = TrustedClock(tmp_path, wall=lambda: wall[0])
    clock.advance()
    wall[0] -= 3600  # a reboot into the past
    again = TrustedClock(tmp_path, wall=lambda: wall[0])
    assert again.mark == 1_800_000_000.0 and again.now() == 1_800_000_000.0
    assert again.behind_s == 3600
    again.advance()
    assert again.mark == 1_800_000_000.0  # never down
    (tmp_path / FILE).write_text("{not json")
    assert TrustedClock(tmp_path).mark == 0.0  # unreadable: a new mark, not a crash


async def test_a_gateway_booted_into_the_past_raises_clock_behind_and_refuses_an_old_command(
    tmp_path, mosquitto, platform_keys
):
    private, public = platform_keys
    config = make_config(tmp_path, mosquitto.port, commands={"platform_public_key": {"file": str(public)}})
    config.data_dir.mkdir(parents=True, exist_ok=True)
    last_good = time.time() + 3600  # the gateway ran an hour "later" than its clock now says
    (config.data_dir / FILE).write_text(json.dumps({"high_water": last_good}))
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/commands/result"]).start()
    key = load_private_key(private)
    try:
        async with running(config) as gw:
            behind = await async_wait_for(
                lambda: next((a for a in gw.alarms.active() if a.kind == "clock.behind"), None), 10, "clock.behind"
            )
            assert behind.details["last_good"] == round(last_good, 3) and behind.details["behind_s"] > 3500
            await async_wait_for(gw.uplink.connected.is_set, 10)
            # valid by the wrong wall clock (issued now, 60 s to live), expired by the last known good time
            now = time.time()
            old = sign_command(
                key,
                {
                    "site_id": "site1",
                    "gateway_id": "gw1",
                    "request_id": str(uuid.uuid4()),
                    "target": "gw1",
                    "action": "ack_alarm",
                    "args": {"alarm_id": behind.alarm_id},
                    "issued_at": now,
                    "expires_at": now + 60,
                },
            )
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as c:
                await c.publish(f"{BASE}/commands", json.dumps(old), qos=1)
            got = await async_wait_for(lambda: [m.json() for m in sub.snapshot()], 10, "the answer")
            assert got[0]["status"] == "rejected" and got[0]["reason"] == "expired"
            assert gw.state()["alarms"][0]["kind"] == "clock.behind"
    finally:
        sub.stop()


def test_the_systemd_unit_waits_for_time_sync():
    from pathlib import Path

    unit = (Path(__file__).resolve().parents[2] / "systemd" / "compound-edge.service").read_text()
    after = next(line for line in unit.splitlines() if line.startswith("After="))
    wants = next(line for line in unit.splitlines() if line.startswith("Wants="))
    assert "time-sync.target" in after.split("=", 1)[1].split()
    assert "time-sync.target" in wants.split("=", 1)[1].split()
