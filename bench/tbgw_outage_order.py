"""Issue 11 finding 0: after the broker restart of an OUTAGE=1 run of the ThingsBoard peer harness, who came back
first, the collector (the platform's subscriber) or our gateway, and what was lost.

    python bench/tbgw_outage_order.py /tmp/tbgw-bench/RUN [RUN ...]     # one markdown row per run

Reads the run directory of ``run_one.sh`` (``GATEWAY_CMD`` running bench/tbgw_gateway.py with
``EDGE_LOG_LEVEL=INFO``): ``result.json`` (analyze.py), ``collector_events.log``, the gateway's ``gateway.out`` and,
when mosquitto could write it (start the harness with ``umask 000``: mosquitto drops root for its own user),
``mosquitto.log``, whose order of "New client connected" lines is the broker's own view. Times are seconds after
the broker was started again. The hole is the largest gap between the gateway timestamps of dev0001's delivered
telemetry, in seconds after the broker was stopped. Lost values are counted by analyze.py in the phase of the
tick they were set in; the per-device range is that of the phase with the most.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

CONNECTED = re.compile(r"^(\S+ \S+) INFO edge\.pipeline\.uplink: connected to ")
NEW_CLIENT = re.compile(r"New client connected from \S+ as (\S+)")


def gateway_back(run: Path, restart: float) -> float | None:
    """When the uplink logged itself connected (after its birth message and subscription) after ``restart``."""
    for line in (run / "gateway.out").read_text(errors="replace").splitlines():
        m = CONNECTED.match(line)
        if m:
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=dt.UTC).timestamp()
            if t > restart:
                return t
    return None


def collector_back(run: Path, restart: float) -> float | None:
    for line in (run / "collector_events.log").read_text().splitlines():
        t, _, what = line.partition(" ")
        if what.startswith("connected") and float(t) > restart:
            return float(t)
    return None


def broker_order(run: Path) -> str:
    """Who the restarted broker accepted first, from its log ("-" without a log)."""
    path = run / "mosquitto.log"
    if not path.exists():
        return "-"
    starts, order = 0, []
    for line in path.read_text(errors="replace").splitlines():
        if "mosquitto version" in line and "starting" in line:
            starts += 1
        m = NEW_CLIENT.search(line)
        if m and starts >= 2:
            order.append("collector" if m.group(1).startswith("bench-collector") else "gateway")
    return ", ".join(order[:2]) or "-"


def hole(run: Path, stop: float, restart: float) -> tuple[float, float, float]:
    """(length, from, to) of dev0001's largest gap in delivered gateway timestamps around the outage."""
    ts: list[float] = []
    for line in (run / "msgs.log").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[1] == "v1/gateway/telemetry":
            ts.extend(row["ts"] / 1000 for row in json.loads(parts[2]).get("dev0001", []))
    ts.sort()
    gaps = [(b - a, a - stop, b - stop) for a, b in zip(ts, ts[1:], strict=False) if stop - 1 < a < restart + 1]
    return max(gaps, default=(0.0, 0.0, 0.0))


def row(run: Path) -> dict[str, Any]:
    if not (run / "result.json").exists():
        raise SystemExit(f"{run}: no result.json (not a finished run_one.sh run directory)")
    result = json.loads((run / "result.json").read_text())
    phases = result["phases"]
    stop, restart = phases["outage_start"], phases["outage_end"]
    per_phase = result["lost_per_device"]
    lost = sum(p["total"] for p in per_phase.values())
    worst = max(per_phase.values(), key=lambda p: p["total"])
    gw, col = gateway_back(run, restart), collector_back(run, restart)
    length, start, end = hole(run, stop, restart)
    load = result["loadavg_1m_in_window"]
    return {
        "run": run.name,
        "collector back": None if col is None else round(col - restart, 3),
        "gateway back": None if gw is None else round(gw - restart, 3),
        "first": "gateway" if gw is not None and col is not None and gw < col else "collector",
        "broker log": broker_order(run),
        "lost before / in / after the outage": " / ".join(
            str(per_phase[p]["total"]) for p in ("pre", "outage", "post")
        ),
        "lost per device": f"{worst['min']}-{worst['max']}" if lost else "0",
        "dev0001 hole": f"{length:.2f} s ({start:.2f} to {end:.2f})",
        "load 1m": f"{load['min']}-{load['max']}",
    }


def main(runs: list[str]) -> None:
    rows = [row(Path(r)) for r in runs]
    if not rows:
        raise SystemExit("usage: tbgw_outage_order.py RUN_DIR [RUN_DIR ...]")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
