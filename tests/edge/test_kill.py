"""SIGKILL at random moments under load: every event the gateway accepted reaches the broker."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support import Subscriber, wait_for

BASE = "ce/v1/site1/gw1"
KILLS = 4


def start_gateway(config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "simulators.loadgen", "run", "--config", str(config), "--log-level", "WARNING"],
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
    )


def running_pid(data_dir: Path) -> int | None:
    try:
        return json.loads((data_dir / "state.json").read_text())["pid"]
    except (OSError, ValueError):
        return None


def test_sigkill_under_load_loses_no_accepted_event(tmp_path, mosquitto):
    journal = tmp_path / "accepted.txt"
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_id": "site1",
                "gateway_id": "gw1",
                "data_dir": str(tmp_path / "data"),
                "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
                "loadgen": {"devices": 16, "keys": 5, "rate": 3000, "event_every": 25, "journal": str(journal)},
            }
        )
    )
    drain = yaml.safe_load(config.read_text())
    del drain["loadgen"]
    config.with_name("drain.yaml").write_text(yaml.safe_dump(drain))
    sub = Subscriber(mosquitto.host, mosquitto.port, [f"{BASE}/events/#"]).start()
    rng = random.Random(int(os.environ.get("KILL_SEED", "7")))
    log = tmp_path / "gateway.log"
    try:
        for _ in range(KILLS):
            before = journal.stat().st_size if journal.exists() else 0
            proc = start_gateway(config, log)
            wait_for(
                lambda: journal.exists() and journal.stat().st_size > before,  # noqa: B023
                30,
                what="gateway accepting events",
            )
            time.sleep(rng.uniform(0.3, 2.0))  # a random moment under load
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        accepted = [line.split()[0] for line in journal.read_text().splitlines() if line.strip()]
        assert len(accepted) > 100, "the load produced events before the kills"
        # a last run drains what the killed ones left in the outbox
        proc = start_gateway(config.with_name("drain.yaml"), log)
        wait_for(lambda: running_pid(tmp_path / "data") == proc.pid, 30, what="the last gateway running")
        received = lambda: {m.json()["id"] for m in sub.snapshot(f"{BASE}/events/")}  # noqa: E731
        try:
            wait_for(lambda: set(accepted) <= received(), 60, what="every accepted event at the broker")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()[-2000:]
    finally:
        sub.stop()
    ids = [m.json()["id"] for m in sub.snapshot(f"{BASE}/events/")]
    # duplicates are allowed only as resends of the same message: same id means same content
    by_id: dict[str, bytes] = {}
    for m in sub.snapshot(f"{BASE}/events/"):
        body = m.json()
        assert by_id.setdefault(body["id"], m.payload) == m.payload
    assert set(accepted) <= set(ids)
