"""Junk commands at 10,000 messages/s for 30 s while alarms flow (issue 11): RSS, alarm latency, nothing lost.

An in-process gateway (no devices) emits a critical alarm event every ``--alarm-every`` s (default 20 ms, after the
previous one is on disk); a paho subscriber timestamps each one (latency = arrival - emit, same clock). A quiet
phase of ``--quiet`` s, then a separate process floods the gateway's command topic with junk at ``--rate``
messages/s (QoS 0) for ``--seconds``, then (2 s after the flood) a second quiet phase: the reference p99 is that of
both quiet phases together, so a drift in the box's load during the run weighs on both sides. Reported: alarm
latency p50 / p99 quiet and under flood and their ratio, the RSS of the gateway process and of its command
listener process before and at their peak, junk rejected / dropped, events lost (every emitted event must
arrive), and the CPU seconds each process (gateway, listener, mosquitto, junk publisher) spent during the flood
(the gateway's also during the first quiet phase, scaled to the flood's length).

``--connection shared`` runs the gateway with one MQTT connection for events and commands (the design before the
command listener process), for a before/after on the same box.

    python -m bench.command_flood [--rate 10000] [--seconds 30] [--quiet 15] [--alarm-every 0.02]
                                  [--connection own|shared] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import yaml

from edge.app import Gateway
from edge.config import parse_config
from edge.core.types import Event, Severity
from simulators.broker import free_port, start_mosquitto, stop

JUNK = r"""
import sys, time
import paho.mqtt.client as mqtt
port, rate, seconds, topic = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="junk", protocol=mqtt.MQTTv5)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port); c.loop_start()
t0 = time.monotonic(); sent = 0
while (now := time.monotonic() - t0) < seconds:
    due = int(now * rate)
    while sent < due:
        c.publish(topic, b'{"junk": %d' % sent, qos=0); sent += 1
    time.sleep(0.001)
c.loop_stop(); c.disconnect(); print(sent, time.process_time())
"""


class Arrivals:
    def __init__(self, port: int) -> None:
        self.latency: dict[int, float] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-flood-sub")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("ce/v1/+/+/events/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        body = json.loads(msg.payload)
        n = body["details"].get("n")
        if n is not None:
            with self._lock:
                self.latency.setdefault(n, time.time() - body["details"]["t0"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return float("nan")
    return float(t.user + t.system)


async def run(rate: float, seconds: float, quiet: float, connection: str = "own", every: float = 0.02) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    port = free_port()
    broker = start_mosquitto(port, work, persistence=False)
    config = parse_config(
        yaml.safe_dump(
            {
                "site_id": "s",
                "gateway_id": "g",
                "data_dir": str(work / "data"),
                "mqtt": {"host": "127.0.0.1", "port": port},
                "commands": {"connection": connection},
            }
        )
    )
    gw = Gateway(config)
    task = asyncio.create_task(gw.run())
    await gw.started.wait()
    await gw.uplink.connected.wait()
    sub = Arrivals(port)
    proc = psutil.Process()
    listener = psutil.Process(gw.uplink.listener.pid) if gw.uplink.listener and gw.uplink.listener.pid else None
    mosq = psutil.Process(broker.pid)
    phases: dict[str, tuple[int, int]] = {}
    rss: list[tuple[float, float]] = []
    rss_listener: list[tuple[float, float]] = []
    n = 0

    async def emit_for(duration: float) -> tuple[int, int]:
        nonlocal n
        first, end = n, time.monotonic() + duration
        while time.monotonic() < end:
            await gw.emit(
                Event(kind="smoke", device=f"d{n % 8}", severity=Severity.CRITICAL, details={"n": n, "t0": time.time()})
            )
            n += 1
            rss.append((time.monotonic(), proc.memory_info().rss / 2**20))
            if listener is not None:
                rss_listener.append((time.monotonic(), listener.memory_info().rss / 2**20))
            await asyncio.sleep(every)
        return first, n

    rss_before = proc.memory_info().rss / 2**20
    quiet_cpu0 = cpu_s(proc)
    phases["quiet_before"] = await emit_for(quiet)
    quiet_cpu = (cpu_s(proc) - quiet_cpu0) * seconds / quiet
    junk = subprocess.Popen(  # noqa: ASYNC220 - started once, read after the phase
        [sys.executable, "-c", JUNK, str(port), str(rate), str(seconds), "ce/v1/s/g/commands"], stdout=subprocess.PIPE
    )
    flood_start = time.monotonic()
    cpu0 = {"gateway": cpu_s(proc), "listener": cpu_s(listener), "mosquitto": cpu_s(mosq)}
    phases["flood"] = await emit_for(seconds)
    cpu = {k: round(cpu_s(p) - cpu0[k], 1) for k, p in (("gateway", proc), ("listener", listener), ("mosquitto", mosq))}
    sent_text, junk_cpu = (junk.communicate(timeout=120)[0] or b"0 0").split()
    sent = int(sent_text)
    cpu["junk_publisher"] = round(float(junk_cpu), 1)
    cpu["gateway_when_quiet"] = round(quiet_cpu, 1)
    await asyncio.sleep(2)
    phases["quiet_after"] = await emit_for(quiet)
    deadline = time.monotonic() + 60
    while len(sub.latency) < n and time.monotonic() < deadline:  # noqa: ASYNC110 - a subscriber thread fills it
        await asyncio.sleep(0.1)
    m = gw.metrics

    def accounted() -> float:
        return float(m.commands.labels("rejected")._value.get() + m.commands_dropped._value.get())

    last, still = -1.0, time.monotonic()
    while accounted() < sent and time.monotonic() - still < 3:  # let the last drops and rejections be counted
        if accounted() != last:
            last, still = accounted(), time.monotonic()
        await asyncio.sleep(0.1)
    out = {
        "connection": connection,
        "rate": rate,
        "seconds": seconds,
        "junk_sent": sent,
        "junk_rejected": m.commands.labels("rejected")._value.get(),
        "junk_dropped": m.commands_dropped._value.get(),
        "junk_not_counted": sent - accounted(),
        "alarms_emitted": n,
        "alarms_lost": n - len(sub.latency),
        "rss_before_mib": round(rss_before, 1),
        "rss_peak_flood_mib": round(max(r for t, r in rss if t >= flood_start), 1),
        "listener_rss_before_mib": round(rss_listener[0][1], 1) if rss_listener else None,
        "listener_rss_peak_flood_mib": round(max(r for _, r in rss_listener), 1) if rss_listener else None,
        "cpu_s_during_flood": cpu,
        "outbox_depth_end": gw.outbox.depth,
    }
    spans = {name: [range(a, b)] for name, (a, b) in phases.items()}
    spans["quiet"] = spans["quiet_before"] + spans["quiet_after"]
    for name, ranges in spans.items():
        values = [sub.latency[i] for r in ranges for i in r if i in sub.latency]
        out[f"{name}_samples"] = len(values)
        out[f"{name}_p50_ms"] = round(pct(values, 0.5) * 1000, 1)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99) * 1000, 1)
    out["p99_ratio_flood_over_quiet"] = round(out["flood_p99_ms"] / out["quiet_p99_ms"], 2)
    gw.stop()
    await asyncio.wait_for(task, 30)
    sub.client.loop_stop()
    stop(broker)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--quiet", type=float, default=15)
    parser.add_argument("--alarm-every", type=float, default=0.02, help="seconds between alarm events")
    parser.add_argument("--connection", choices=["own", "shared"], default="own")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    result = asyncio.run(run(args.rate, args.seconds, args.quiet, args.connection, args.alarm_every))
    result["load_start"] = load_start
    result["load"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
