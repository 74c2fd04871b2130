"""Core benchmark (issue 2): readings through rules, the durable outbox (synchronous=FULL) and MQTT QoS 1.

Runs the real ``edge run`` process with the synthetic load generator against a local mosquitto, and a paho
subscriber that timestamps every reading on arrival. Reports:
- sustained throughput: readings/s delivered at the subscriber while the generator offers more than that;
- latency from a reading entering the pipeline (its ``ts``) to arrival, p50 / p95 / p99, at 1,000 readings/s;
- peak RSS (VmHWM) of the gateway idle and under load, and its idle CPU.

    python -m bench.core_bench [--seconds 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


class Collector:
    def __init__(self, port: int) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.first = self.last = 0.0
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{port}")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("ce/v1/+/+/telemetry/#", qos=1)
        self.client.loop_start()
        self.keep_latency = False

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        now = time.time()
        readings = json.loads(msg.payload)["readings"]
        with self._lock:
            if not self.count:
                self.first = now
            self.count += len(readings)
            self.last = now
            if self.keep_latency:
                self.latencies.extend(now - r["ts"] for r in readings)

    def reset(self) -> None:
        with self._lock:
            self.count, self.latencies, self.first, self.last = 0, [], 0.0, 0.0

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def gateway(
    workdir: Path, port: int, loadgen: dict | None, *, tree: Path | None = None, module: str = "simulators.loadgen"
) -> subprocess.Popen:
    """The gateway with the synthetic load, from this tree or from ``tree`` (another checkout, run as ``module``)."""
    config = {
        "site_id": "bench",
        "gateway_id": "gw",
        "data_dir": str(workdir / "data"),
        "mqtt": {"host": "127.0.0.1", "port": port},
    }
    if loadgen:
        config["loadgen"] = loadgen
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.Popen(
        [sys.executable, "-m", module, "run", "--config", str(path), "--log-level", "WARNING"],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "gateway.log", "ab"),
    )  # noqa: SIM115


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else float("nan")


def run_phase(
    workdir: Path, port: int, collector: Collector, loadgen: dict | None, seconds: float, latency: bool = False
) -> dict:
    collector.reset()
    collector.keep_latency = latency
    proc = gateway(workdir, port, loadgen)
    ps = psutil.Process(proc.pid)
    try:
        time.sleep(3)  # start-up and warm-up are not measured
        collector.reset()
        cpu0, t0 = sum(ps.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = sum(ps.cpu_times()[:2]), time.monotonic()
        got, first, last = collector.count, collector.first, collector.last
        lat = list(collector.latencies)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    out = {
        "cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "peak_rss_mb": round(rss, 1),
        "delivered": got,
        "readings_per_s": round(got / (last - first), 0) if last > first else 0,
    }
    if latency and lat:
        out |= {
            "lat_p50_ms": round(percentile(lat, 50) * 1000, 2),
            "lat_p95_ms": round(percentile(lat, 95) * 1000, 2),
            "lat_p99_ms": round(percentile(lat, 99) * 1000, 2),
            "latency_samples": len(lat),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=80_000, help="offered readings/s in the throughput phase")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        broker = start_mosquitto(port, work / "broker", persistence=False)
        collector = Collector(port)
        try:
            results = {
                "idle": run_phase(work / "idle", port, collector, None, args.seconds),
                "latency_1000": run_phase(
                    work / "lat", port, collector, {"devices": 32, "keys": 10, "rate": 1000}, args.seconds, latency=True
                ),
                "throughput": run_phase(
                    work / "tput", port, collector, {"devices": 320, "keys": 10, "rate": args.rate}, args.seconds
                ),
            }
        finally:
            collector.close()
            stop(broker)
    results["machine"] = {
        "cpus": psutil.cpu_count(),
        "python": sys.version.split()[0],
        "load1": round(psutil.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
