"""Guard room (issue 13): a history query over 100,000 alarms, and the idle cost of the console over the core.

- history: an alarm history file with N alarms (each raised, acknowledged, cleared; a fifth also in handling
  and resolved, a tenth escalated) written through ``AlarmHistory.record`` as the gateway does; then the
  console's queries (no filter; by kind; by area; by severity and state; a one-day window; CSV of 200 rows;
  the 7-day summary), each repeated, p50 / p99 per query.
- idle: a gateway with no devices and its uplink down, 3 runs each without and with the console (and one
  logged-in browser stream following it, as a wall screen does); CPU % of a core and RSS after a warm-up,
  measured with psutil in the parent.

Usage: python -m bench.guardroom_bench [--alarms 100000] [--rounds 50] [--idle-s 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from edge.core.types import AlarmState, Event, Severity
from edge.pipeline.alarm_history import AlarmHistory, HistoryQuery

KINDS = [
    "smoke",
    "smoke_concentration",
    "bin_full",
    "bin_warning",
    "door.forced",
    "beam_interrupted",
    "manhole_open",
    "emergency_button",
    "device.offline",
    "low_battery",
]
AREAS = [f"block {n}" for n in range(1, 13)] + ["north gate", "bin yard", "east road"]
SEVERITIES = [Severity.CRITICAL, Severity.MAJOR, Severity.WARNING, Severity.INFO]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fill(history: AlarmHistory, alarms: int, start: float) -> float:
    rng = random.Random(13)
    began = time.perf_counter()
    span = 180 * 86_400  # half a year of alarms
    for n in range(alarms):
        raised = start + span * n / alarms
        severity = rng.choice(SEVERITIES)
        base = dict(
            kind=rng.choice(KINDS),
            device=f"dev-{rng.randrange(400)}",
            severity=severity,
            alarm_id=f"{n:08d}-0000-4000-8000-000000000000",
            raised_at=raised,
        )
        ack = raised + rng.uniform(5, 600)
        steps: list[tuple[AlarmState | None, float, dict[str, Any]]] = [
            (AlarmState.RAISED, raised, {}),
            (AlarmState.ACKNOWLEDGED, ack, {"by": "console:guard"}),
        ]
        if n % 10 == 0:
            steps.insert(1, (None, raised + 300, {"kind": "alarm.escalated"}))
        if n % 5 == 0:
            steps.append((AlarmState.IN_HANDLING, ack + 30, {"by": "console:guard", "note": "sent Li"}))
            steps.append((AlarmState.RESOLVED, ack + 600, {"by": "console:guard", "note": "done", "closed": True}))
        else:
            steps.append((AlarmState.CLEARED, ack + 60, {"closed": True}))
        for state, ts, extra in steps:
            fields = {**base, **extra}
            history.record(Event(state=state, ts=ts, details={"field": "value", "value": n}, **fields))
    return time.perf_counter() - began


QUERIES: dict[str, dict[str, Any]] = {
    "latest 200": {},
    "by kind": {"kind": "door.forced"},
    "by area": {"area": "block 7"},
    "critical, in handling or later": {"severity": "critical", "state": "resolved"},
    "one day": {"day": True},
    "open only": {"state": "open"},
    "by device, page 3": {"device": "dev-17", "offset": 40, "limit": 20},
}


def history_bench(alarms: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time() - 181 * 86_400
        history = AlarmHistory(Path(tmp) / "history.db", area_of=lambda d: AREAS[int(d.split("-")[1]) % len(AREAS)])
        write_s = fill(history, alarms, start)
        size_mb = (Path(tmp) / "history.db").stat().st_size / 1e6
        rng = random.Random(7)
        out: dict[str, Any] = {
            "alarms": alarms,
            "write_s": round(write_s, 1),
            "file_mb": round(size_mb, 1),
            "queries": {},
        }
        for name, filters in QUERIES.items():
            times = []
            for _ in range(rounds):
                args = dict(filters)
                if args.pop("day", False):
                    day = start + rng.randrange(170) * 86_400
                    args.update(since=day, until=day + 86_400)
                query = HistoryQuery(**args)
                began = time.perf_counter()
                history.search(query)
                history.count(query)
                times.append((time.perf_counter() - began) * 1000)
            out["queries"][name] = {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(pct(times, 0.99), 2)}
        for name, call in (
            ("csv 200 rows", lambda: history.export_csv(HistoryQuery(), timezone="Asia/Shanghai")),
            ("7-day summary", lambda: history.daily_summary(days=7, timezone="Asia/Shanghai")),
        ):
            times = []
            for _ in range(rounds):
                began = time.perf_counter()
                call()
                times.append((time.perf_counter() - began) * 1000)
            out["queries"][name] = {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(pct(times, 0.99), 2)}
        history.close()
        return out


IDLE_CHILD = """
import asyncio, sys, tempfile, time, yaml
from edge.app import Gateway
from edge.config import parse_config
with_console = sys.argv[1] == "1"
tmp = tempfile.mkdtemp()
config = {"site_id": "s", "gateway_id": "g", "data_dir": tmp, "mqtt": {"port": 1, "reconnect_max_s": 30}}
if with_console:  # the core alone imports nothing of the console (edge.components imports it only when enabled)
    from edge.web.component import WebConsole
    from edge.web.passwords import hash_password
    users = [{"name": "u", "password_hash": hash_password("pw", n=2**10)}]
    config["web"] = {"enabled": True, "port": 0, "users": users}
cfg = parse_config(yaml.safe_dump(config))
async def main():
    console = WebConsole(cfg.web) if with_console else None
    gateway = Gateway(cfg, [console] if console else [])
    task = asyncio.create_task(gateway.run())
    if console:
        while not console.serving.is_set():
            await asyncio.sleep(0.05)
        print(console.port, flush=True)
    else:
        print(0, flush=True)
    await task
asyncio.run(main())
"""


async def follow(port: int, seconds: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        url = f"http://127.0.0.1:{port}"
        # as a browser does: the console refuses a POST without its own Origin
        async with http.post(f"{url}/login", data={"username": "u", "password": "pw"}, headers={"Origin": url}) as r:
            assert r.status == 200, f"login answered {r.status}"
        async with http.get(f"{url}/api/stream") as stream:
            with_deadline = time.monotonic() + seconds
            while time.monotonic() < with_deadline:
                try:
                    async with asyncio.timeout(max(0.1, with_deadline - time.monotonic())):
                        await stream.content.readline()
                except TimeoutError:
                    break


def idle_run(with_console: bool, seconds: float) -> dict[str, float]:
    import psutil

    proc = subprocess.Popen(
        [sys.executable, "-c", IDLE_CHILD, "1" if with_console else "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(proc.stdout.readline())
        time.sleep(3)  # warm-up
        ps = psutil.Process(proc.pid)
        cpu0, t0 = ps.cpu_times(), time.monotonic()
        if with_console:
            asyncio.run(follow(port, seconds))
        else:
            time.sleep(seconds)
        cpu1, t1 = ps.cpu_times(), time.monotonic()
        used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return {"cpu_pct": round(100 * used / (t1 - t0), 3), "rss_mb": round(ps.memory_info().rss / 1e6, 1)}
    finally:
        proc.terminate()
        proc.wait(20)


def idle_bench(seconds: float, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"core": [], "console": []}
    for _ in range(runs):  # interleaved, so a change in the machine's load hits both
        out["core"].append(idle_run(False, seconds))
        out["console"].append(idle_run(True, seconds))
    for name in ("core", "console"):
        out[name + "_median"] = {k: statistics.median(r[k] for r in out[name]) for k in ("cpu_pct", "rss_mb")}
    out["over_core"] = {k: round(out["console_median"][k] - out["core_median"][k], 3) for k in ("cpu_pct", "rss_mb")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--idle-s", type=float, default=20.0)
    parser.add_argument("--idle-runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {
        "history": history_bench(args.alarms, args.rounds),
        "idle": idle_bench(args.idle_s, args.idle_runs),
        "load": Path("/proc/loadavg").read_text().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
