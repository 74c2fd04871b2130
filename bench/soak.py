"""``make soak``: a long run under load with broker restarts and power-cut kills; nothing accepted may be lost.

The real ``edge run`` process with the load generator (readings and journalled events) against a local
mosquitto. Every ``--broker-every`` seconds the broker is stopped for ``--outage`` seconds; every
``--kill-every`` seconds the gateway is killed with SIGKILL and started again. At the end, every event in
the journal (written only after the gateway accepted it) must have reached the subscriber, and the
gateway's memory must not grow from the first sample of a run to its last (RSS per minute is printed).

    python -m bench.soak --minutes 30
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import yaml

from simulators.broker import free_port, start_mosquitto, stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=5000, help="readings per second")
    parser.add_argument("--broker-every", type=float, default=120)
    parser.add_argument("--outage", type=float, default=20)
    parser.add_argument("--kill-every", type=float, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="edge-soak-"))
    port = free_port()
    journal = work / "accepted.txt"
    config = work / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_id": "soak",
                "gateway_id": "gw",
                "data_dir": str(work / "data"),
                "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 2},
                "loadgen": {"devices": 64, "keys": 10, "rate": args.rate, "event_every": 500, "journal": str(journal)},
            }
        )
    )
    received: set[str] = set()
    lock = threading.Lock()

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        with lock:
            received.add(json.loads(msg.payload)["id"])

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-sub", clean_session=False)
    sub.on_message = on_message
    sub.on_connect = lambda c, *a: c.subscribe("ce/v1/soak/gw/events/#", qos=1)
    sub.reconnect_delay_set(0.1, 1)
    broker = start_mosquitto(port, work / "broker")
    sub.connect("127.0.0.1", port)
    sub.loop_start()

    def start_gateway() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "simulators.loadgen", "run", "--config", str(config), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL,
            stderr=open(work / "gateway.log", "ab"),
        )  # noqa: SIM115

    gateway = start_gateway()
    start = time.monotonic()
    end = start + args.minutes * 60
    next_outage, next_kill, next_sample = start + args.broker_every, start + args.kill_every, start + 60
    samples: list[dict] = []
    kills = outages = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_sample:
            rss = psutil.Process(gateway.pid).memory_info().rss / 2**20
            samples.append({"minute": round((now - start) / 60, 1), "rss_mb": round(rss, 1), "run": kills})
            accepted_now = len(journal.read_text().splitlines()) if journal.exists() else 0
            print(
                f"minute {samples[-1]['minute']}: gateway RSS {rss:.1f} MB, events accepted {accepted_now}, "
                f"received {len(received)}",
                flush=True,
            )
            next_sample += 60
        if now >= next_kill:
            gateway.send_signal(signal.SIGKILL)
            gateway.wait()
            gateway = start_gateway()
            kills += 1
            next_kill += args.kill_every
        if now >= next_outage:
            stop(broker)
            time.sleep(args.outage)
            broker = start_mosquitto(port, work / "broker")
            outages += 1
            next_outage += args.broker_every
        time.sleep(0.5)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(60)
    # what the last run left in the outbox goes out with a final run without load
    drain = yaml.safe_load(config.read_text())
    del drain["loadgen"]
    config.write_text(yaml.safe_dump(drain))
    gateway = start_gateway()
    accepted = {line.split()[0] for line in journal.read_text().splitlines() if line.strip()}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not accepted <= received:
        time.sleep(0.5)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(60)
    sub.loop_stop()
    stop(broker)
    missing = accepted - received
    result = {
        "minutes": args.minutes,
        "rate": args.rate,
        "kills": kills,
        "outages": outages,
        "events_accepted": len(accepted),
        "events_missing": len(missing),
        "rss": samples,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rss"}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
