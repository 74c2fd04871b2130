"""Poll cycle of one RS-485 bus: 32 devices x 10 holding registers at 9600 baud, against the wire-time limit.

The devices are simulated on a pty with real baud timing (simulators/rtu.py): every transaction takes the
time its frames and silences would take on a real line, so the cycle measured here is what the bus
scheduler achieves on the wire. The limit (devices.md) is 32 x 45.8 ms = 1.47 s of wire time alone.

Runs: all 32 devices live; then the same plus one dead unit (offline after 3 polls, then backed off).
Usage: python -m bench.poll_cycle [--seconds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from typing import Any

from drivers.bus import BusScheduler
from drivers.config import BusConfig, DeviceConfig
from drivers.device import resolve_device
from drivers.modbus import transaction_time
from simulators.model import SimBus, SimDevice
from simulators.rtu import RtuSimulator

BAUD, DEVICES, REGISTERS = 9600, 32, 10
LIMIT = DEVICES * transaction_time(BAUD, 8, 5 + 2 * REGISTERS)


class Recorder:
    def __init__(self) -> None:
        self.polls: dict[str, list[float]] = {}
        self.offline: dict[str, float] = {}

    async def values(self, device: str, values: dict[str, Any], ts: float) -> None:
        self.polls.setdefault(device, []).append(time.monotonic())

    async def availability(self, device: str, online: bool, reason: str) -> None:
        if not online:
            self.offline[device] = time.monotonic()

    def cycle(self, since: float, devices: list[str]) -> dict[str, float]:
        intervals = []
        for d in devices:
            ts = [t for t in self.polls.get(d, []) if t >= since]
            intervals += [b - a for a, b in zip(ts, ts[1:], strict=False)]
        intervals.sort()
        return {
            "mean_s": statistics.fmean(intervals),
            "p50_s": intervals[len(intervals) // 2],
            "p95_s": intervals[int(len(intervals) * 0.95)],
            "max_s": intervals[-1],
            "samples": len(intervals),
        }


async def measure(seconds: float, dead: bool) -> dict[str, Any]:
    configs = [
        DeviceConfig(id=f"dev{i:02d}", bus="rs1", profile="generic_holding", unit_id=i, poll_s=0)
        for i in range(1, DEVICES + 1)
    ]
    live = [resolve_device(c) for c in configs]
    specs = list(live)
    if dead:
        specs.append(
            resolve_device(DeviceConfig(id="dead", bus="rs1", profile="generic_holding", unit_id=99, poll_s=0))
        )
    async with RtuSimulator(SimBus([SimDevice(s) for s in live]), baudrate=BAUD) as sim:
        cfg = BusConfig(
            id="rs1",
            url=str(sim.path),
            baudrate=BAUD,
            timeout_s=0.1,
            retries=1,
            offline_after=3,
            backoff_initial_s=5,
            backoff_max_s=60,
        )
        rec = Recorder()
        scheduler = BusScheduler(cfg, specs, rec)
        task = asyncio.create_task(scheduler.run())
        try:
            warmup = 3.0
            await asyncio.sleep(warmup)
            start = time.monotonic()
            await asyncio.sleep(seconds)
            result = rec.cycle(start, [s.id for s in live])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if dead:
            result["dead_offline_after_s"] = round(rec.offline.get("dead", float("nan")) - (start - warmup), 2)
            result["dead_tries"] = scheduler.devices["dead"].failed_polls
        result["ratio_to_limit"] = result["mean_s"] / LIMIT
        result["transactions"] = scheduler.stats.transactions
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = {"limit_s": LIMIT, "baud": BAUD, "devices": DEVICES, "registers": REGISTERS}
    out["all_live"] = asyncio.run(measure(args.seconds, dead=False))
    out["one_dead"] = asyncio.run(measure(args.seconds, dead=True))
    print(json.dumps(out, indent=2, default=lambda v: round(v, 4)))
    for name, goal in (("all_live", 1.10), ("one_dead", 1.15)):
        r = out[name]
        verdict = "meets" if r["ratio_to_limit"] <= goal else "misses"
        print(
            f"{name}: cycle {r['mean_s']:.3f} s (p95 {r['p95_s']:.3f} s) = {r['ratio_to_limit']:.3f} x the "
            f"{LIMIT:.2f} s wire limit; goal {goal:.2f} x: {verdict}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
