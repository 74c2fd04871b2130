"""Before/after a change that must not cost anything (issue 10's layout move): the core benchmark's fixed-rate
phases, alternating between a checkout of the earlier commit and this tree, so both see the same machine noise.

    git worktree add --detach /tmp/base 0651bb3
    python -m bench.layout_ab --base-tree /tmp/base [--rounds 4] [--seconds 20] [--rate 1000]

Per round and side: the real gateway process with the synthetic load at ``--rate`` readings/s for ``--seconds``
(CPU % of a core, latency p50/p99 from pipeline entry to the subscriber), then idle for the same time (CPU %,
peak RSS). The earlier tree runs ``python -m edge run`` (the loadgen section was read by the runtime then), this
one ``python -m simulators.loadgen run``. Prints one JSON line per run and the medians per side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from bench.core_bench import Collector, gateway, peak_rss_mb, percentile
from simulators.broker import free_port, start_mosquitto, stop

HERE = Path(__file__).resolve().parents[1]


def measure(proc: subprocess.Popen[bytes], collector: Collector, seconds: float) -> dict[str, float]:
    ps = psutil.Process(proc.pid)
    try:
        time.sleep(3)  # start-up is not measured
        collector.reset()
        cpu0, t0 = sum(ps.cpu_times()[:2]), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = sum(ps.cpu_times()[:2]), time.monotonic()
        lat = list(collector.latencies)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    out = {"cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 2), "peak_rss_mb": round(rss, 1)}
    if lat:
        out |= {"p50_ms": round(percentile(lat, 50) * 1000, 2), "p99_ms": round(percentile(lat, 99) * 1000, 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-tree", type=Path, required=True, help="checkout of the earlier commit")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=1000)
    args = parser.parse_args()
    sides = {"before": (args.base_tree.resolve(), "edge"), "after": (HERE, "simulators.loadgen")}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="edge-ab-") as tmp:
        work = Path(tmp)
        port = free_port()
        broker = start_mosquitto(port, work / "broker", persistence=False)
        collector = Collector(port)
        try:
            for rnd in range(args.rounds):
                for side, (tree, module) in sides.items():
                    load = {"devices": 32, "keys": 10, "rate": args.rate}
                    collector.keep_latency = True
                    run = work / f"{side}-{rnd}"
                    busy = measure(gateway(run / "load", port, load, tree=tree, module=module), collector, args.seconds)
                    collector.keep_latency = False
                    idle = measure(gateway(run / "idle", port, None, tree=tree, module=module), collector, args.seconds)
                    row = {
                        "load_cpu_pct": busy["cpu_pct"],
                        "p50_ms": busy.get("p50_ms", 0.0),
                        "p99_ms": busy.get("p99_ms", 0.0),
                        "idle_cpu_pct": idle["cpu_pct"],
                        "idle_rss_mb": idle["peak_rss_mb"],
                        "load1": round(psutil.getloadavg()[0], 2),
                    }
                    runs[side].append(row)
                    print(json.dumps({"side": side, "round": rnd, **row}), flush=True)
        finally:
            collector.close()
            stop(broker)
    medians = {
        side: {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]} for side, rows in runs.items()
    }
    ratio = {
        key: round(medians["after"][key] / medians["before"][key], 3)
        for key in medians["after"]
        if medians["before"][key]
    }
    print(
        json.dumps(
            {"median": medians, "after_over_before": ratio, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
