"""``make bench``: every benchmark in turn, each writing its JSON into var/bench/<date>/.

The figures go into docs/BENCHMARKS.md by hand, with the command, machine and date: a benchmark run on a
busy machine should be read, not pasted. ``--only core,poll`` picks some; ``--quick`` shortens the runs.
The ThingsBoard side-by-side runs are separate (bench/tbgw_gateway.py, ../shared/peers/tbgw).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BENCHES: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, quick arguments)
    "core": (["bench.core_bench", "--seconds", "20"], ["bench.core_bench", "--seconds", "5"]),
    "poll": (["bench.poll_cycle", "--seconds", "30"], ["bench.poll_cycle", "--seconds", "8"]),
    "alarm": (["bench.alarm_latency", "--rounds", "100"], ["bench.alarm_latency", "--rounds", "10"]),
    "gate": (["bench.gate_bench", "--seconds", "25"], ["bench.gate_bench", "--seconds", "5"]),
    "face_goals": (["bench.face_goals", "--seconds", "20"], ["bench.face_goals", "--seconds", "6"]),
    "lift": (["bench.lift_bench"], ["bench.lift_bench", "--cameras", "1,4", "--seconds", "5", "--episodes", "3"]),
    "falls": (
        ["bench.fall_bench"],
        ["bench.fall_bench", "--falls", "10", "--distractor-minutes", "2", "--seconds", "10", "--sizes", "1280x720"],
    ),
    "web": (["bench.web_console"], ["bench.web_console", "--alarms", "20", "--clients", "1,10"]),
    "guardroom": (
        ["bench.guardroom_bench"],
        ["bench.guardroom_bench", "--alarms", "5000", "--rounds", "10", "--idle-s", "3", "--idle-runs", "1"],
    ),
    "modbus_tx": (["bench.modbus_tx"], ["bench.modbus_tx", "--transactions", "500", "--rounds", "1"]),
    "compound": (["bench.compound_bench"], ["bench.compound_bench", "--warmup", "20", "--seconds", "15"]),
    "lift_eval": (["bench.lift_eval_bench"], ["bench.lift_eval_bench", "--sequences", "2"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma list of: " + ", ".join(BENCHES))
    parser.add_argument("--quick", action="store_true", help="short runs, to check the benchmarks work")
    args = parser.parse_args()
    chosen = [n for n in (args.only.split(",") if args.only else BENCHES) if n]
    unknown = [n for n in chosen if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    out = ROOT / "var" / "bench" / time.strftime("%Y-%m-%d-%H%M")
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        module, *rest = BENCHES[name][1 if args.quick else 0]
        print(f"== {name}: python -m {module} {' '.join(rest)}", flush=True)
        run = subprocess.run([sys.executable, "-m", module, *rest, "--json", str(out / f"{name}.json")], cwd=ROOT)
        if run.returncode:
            failed.append(name)
    print(f"results in {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
