"""Run compound-edge under the ThingsBoard peer harness (../shared/peers/tbgw, GATEWAY_CMD).

The harness exports MQTT_PORT MB_PORT PORTS DEVICES REGS POLL_MS; device d is at 127.0.0.1:MB_PORT+(d-1)%PORTS,
unit (d-1)//PORTS+1, holding registers 0..REGS-1, named dev%04d with keys r<register>. This writes the matching
gateway config (ThingsBoard uplink format, generic_holding profile, one bus per simulator port) and execs
``edge run``, so the harness measures the gateway process itself.

``REPORT=on_change`` (optional) sets ``report: on_change`` on every generated device (report by exception,
ThingsBoard's ON_CHANGE); ``REPORT=every_poll`` or unset keeps the default. ``REPORT_EVERY_S`` (optional,
with ``REPORT=on_change``) adds ``report_every_s`` (ON_CHANGE_OR_REPORT_PERIOD). ``WRITE_INTERVAL_MS``
(optional) sets ``outbox.min_write_interval_ms``, the group-commit interval (default 10). ``GC_STATS=OUT.json``
(optional) runs the gateway under bench/gc_stats.py, which writes the garbage collector's pauses there at exit.
``EDGE_LOG_LEVEL`` (optional, default WARNING) is the gateway's log level; INFO logs each reconnect attempt and
the moment the uplink is connected again (millisecond timestamps), as used for issue 11 finding 0.

    GATEWAY_CMD="$PWD/.venv/bin/python $PWD/bench/tbgw_gateway.py" FAKE_TB=0 ./run_one.sh ours-base

With ``OUTAGE=1``, note that the harness's broker forgets every session in its restart (``persistence false``) and
its collector subscribes with a clean session: what the gateway sends before the collector is back is acknowledged
and dropped (docs/BENCHMARKS.md, issue 11 "Finding 0"; bench/tbgw_late_collector.patch makes a copy that keeps
sessions).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml


def harness_config(env: dict[str, str], workdir: Path) -> dict:
    ports, devices = int(env["PORTS"]), int(env["DEVICES"])
    regs, poll_s = int(env["REGS"]), int(env["POLL_MS"]) / 1000
    base = int(env["MB_PORT"])
    config: dict = {
        "site_id": "bench",
        "gateway_id": "tbgw-peer",
        "data_dir": str(workdir / "edge-data"),
        "mqtt": {
            "host": "127.0.0.1",
            "port": int(env["MQTT_PORT"]),
            "format": "thingsboard",
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
        },
        "pipeline": {"queue_size": 100_000},
        "buses": [
            {"id": f"tcp{p}", "url": f"tcp://127.0.0.1:{base + p}", "timeout_s": 0.5, "offline_after": 5}
            for p in range(ports)
        ],
        "devices": [
            {
                "id": f"dev{d:04d}",
                "bus": f"tcp{(d - 1) % ports}",
                "profile": "generic_holding",
                "unit_id": (d - 1) // ports + 1,
                "channels": regs,
                "poll_s": poll_s,
            }
            for d in range(1, devices + 1)
        ],
    }
    report = env.get("REPORT", "").strip()
    if report:
        if report not in ("every_poll", "on_change"):
            raise SystemExit(f"REPORT={report!r}: expected on_change or every_poll")
        extra: dict = {"report": report}
        if env.get("REPORT_EVERY_S"):
            extra["report_every_s"] = float(env["REPORT_EVERY_S"])
        for device in config["devices"]:
            device.update(extra)
    if env.get("WRITE_INTERVAL_MS"):
        config["outbox"] = {"min_write_interval_ms": float(env["WRITE_INTERVAL_MS"])}
    return config


def main() -> None:
    workdir = Path(os.environ.get("OUT", "."))
    path = workdir / "edge-gateway.yaml"
    path.write_text(yaml.safe_dump(harness_config(dict(os.environ), workdir), sort_keys=False))
    edge = ["-m", "edge"]
    if os.environ.get("GC_STATS"):
        edge = ["-m", "bench.gc_stats", os.environ["GC_STATS"]]
        os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)  # where bench/ is
    level = os.environ.get("EDGE_LOG_LEVEL", "WARNING")
    os.execv(sys.executable, [sys.executable, *edge, "run", "--config", str(path), "--log-level", level])


if __name__ == "__main__":
    main()
