"""Guard-room console: how fast a new alarm reaches the browsers, and what acknowledging and logging in cost.

A real gateway (core + web console, uplink to a local mosquitto so the outbox drains as in normal
operation; the path measured is alarm book -> durable outbox -> hub -> live feed -> SSE) and N SSE
clients (aiohttp, in a second process so they do not share the gateway's event loop). For each alarm,
the time from ``alarms.update`` to its arrival at every client; then the round trip of the acknowledge
POST, and of a login with the production password hash (argon2id).

Usage: python -m bench.web_console [--alarms 200] [--clients 1,10,50] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from edge.app import Gateway
from edge.config import parse_config
from edge.core.types import Severity
from edge.web.component import WebConsole
from edge.web.passwords import hash_password

USER, PASSWORD = "bench", "bench password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _follow(url: str, clients: int, expected: int, out: Any, ready: Any) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(
        cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=None), headers={"Origin": url}
    ) as http:
        async with http.post(f"{url}/login", data={"username": USER, "password": PASSWORD}) as r:
            assert r.status == 200, r.status
        arrivals: dict[str, list[float]] = {}

        async def one() -> None:
            async with http.get(f"{url}/api/stream") as stream:
                ready.put(1)
                event = ""
                seen: set[str] = set()
                async for raw in stream.content:
                    line = raw.decode()
                    if line.startswith("event: "):
                        event = line[7:].strip()
                    elif line.startswith("data: ") and event == "alarms":
                        now = time.time()
                        for alarm in json.loads(line[6:]):
                            if alarm["alarm_id"] not in seen:
                                seen.add(alarm["alarm_id"])
                                arrivals.setdefault(alarm["kind"], []).append(now)
                        if len(seen) >= expected:
                            return

        await asyncio.gather(*(one() for _ in range(clients)))
        out.put(arrivals)


def follower(url: str, clients: int, expected: int, out: Any, ready: Any) -> None:
    asyncio.run(_follow(url, clients, expected, out, ready))


def start_broker(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


async def run(alarms: int, client_counts: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {"alarms": alarms, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        broker, broker_port = start_broker(Path(tmp))
        data = {
            "site_id": "bench",
            "gateway_id": "gw",
            "data_dir": str(Path(tmp) / "data"),
            "mqtt": {"port": broker_port},
            "web": {"enabled": True, "port": 0, "users": [{"name": USER, "password_hash": hash_password(PASSWORD)}]},
        }
        config = parse_config(yaml.safe_dump(data))
        console = WebConsole(config.web)
        gateway = Gateway(config, [console])
        task = asyncio.create_task(gateway.run())
        await asyncio.wait_for(console.serving.wait(), 30)
        url = f"http://127.0.0.1:{console.port}"
        ctx = mp.get_context("spawn")
        try:
            for n in client_counts:
                out, ready = ctx.Queue(), ctx.Queue()
                proc = ctx.Process(target=follower, args=(url, n, alarms, out, ready))
                proc.start()
                for _ in range(n):
                    await asyncio.to_thread(ready.get, True, 60)
                await asyncio.sleep(0.5)
                raised: dict[str, float] = {}
                for i in range(alarms):
                    kind = f"bench{n}.{i}"
                    raised[kind] = time.time()
                    await gateway.alarms.update(f"dev{i}", kind, active=True, severity=Severity.CRITICAL)
                    await asyncio.sleep(0.02)
                arrivals = await asyncio.to_thread(out.get, True, 120)
                proc.join(10)
                latencies = [(t - raised[k]) * 1000 for k, ts in arrivals.items() for t in ts]
                assert len(latencies) == alarms * n, (len(latencies), alarms * n)
                results["runs"].append(
                    {
                        "clients": n,
                        "deliveries": len(latencies),
                        "p50_ms": round(pct(latencies, 0.5), 2),
                        "p95_ms": round(pct(latencies, 0.95), 2),
                        "p99_ms": round(pct(latencies, 0.99), 2),
                        "max_ms": round(max(latencies), 2),
                    }
                )
                for alarm in gateway.alarms.active():
                    await gateway.alarms.update(alarm.device, alarm.kind, active=False)
                for alarm in gateway.alarms.listed():  # critical alarms that cleared stay until acknowledged
                    await gateway.alarms.acknowledge(alarm.alarm_id, by="bench")
            results["ack_ms"], results["login_ms"] = await _round_trips(gateway, url)
        finally:
            gateway.stop()
            await task
            broker.terminate()
            broker.wait(5)
    return results


async def _round_trips(gateway: Gateway, url: str) -> tuple[dict[str, float], dict[str, float]]:
    jar = aiohttp.CookieJar(unsafe=True)
    logins: list[float] = []
    acks: list[float] = []
    async with aiohttp.ClientSession(cookie_jar=jar, headers={"Origin": url}) as http:
        for _ in range(10):
            t0 = time.perf_counter()
            async with http.post(f"{url}/login", data={"username": USER, "password": PASSWORD}) as r:
                assert r.status == 200
            logins.append((time.perf_counter() - t0) * 1000)
        async with http.get(f"{url}/api/state") as r:
            csrf = (await r.json())["csrf"]
        for i in range(100):
            alarm = await gateway.alarms.update("ackdev", f"ack{i}", active=True, severity=Severity.MAJOR)
            t0 = time.perf_counter()
            async with http.post(f"{url}/api/alarms/{alarm.alarm_id}/ack", headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
            acks.append((time.perf_counter() - t0) * 1000)
    summary = lambda xs: {"p50": round(statistics.median(xs), 2), "p99": round(pct(xs, 0.99), 2)}  # noqa: E731
    return summary(acks), summary(logins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alarms", type=int, default=200)
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = asyncio.run(run(args.alarms, [int(c) for c in args.clients.split(",")]))
    print("clients  deliveries  p50 ms  p95 ms  p99 ms  max ms")
    for r in results["runs"]:
        print(
            f"{r['clients']:7d}  {r['deliveries']:10d}  {r['p50_ms']:6.2f}  {r['p95_ms']:6.2f}  "
            f"{r['p99_ms']:6.2f}  {r['max_ms']:6.2f}"
        )
    print(f"acknowledge POST: {results['ack_ms']} ms; login (argon2id, the production cost): {results['login_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
