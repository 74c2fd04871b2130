"""Run ``edge`` with the garbage collector's pauses counted: per generation, how many and how long in all.

    python -m bench.gc_stats OUT.json run --config gateway.yaml

The figures are written to OUT.json when the gateway exits (SIGINT or SIGTERM end ``edge run`` cleanly).
bench/tbgw_gateway.py uses it when GC_STATS=OUT.json is set.
"""

from __future__ import annotations

import atexit
import gc
import json
import runpy
import sys
import time
from pathlib import Path


class Pauses:
    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._since = time.monotonic()

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            self.count[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._started

    def report(self) -> dict:
        return {
            "wall_s": round(time.monotonic() - self._since, 1),
            "collections": self.count,
            "total_ms": [round(s * 1000, 1) for s in self.seconds],
            "mean_ms": [round(s * 1000 / n, 2) if n else None for s, n in zip(self.seconds, self.count, strict=True)],
        }


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m bench.gc_stats OUT.json EDGE-ARGUMENTS...")
    out, edge_args = Path(sys.argv[1]), sys.argv[2:]
    pauses = Pauses()
    gc.callbacks.append(pauses)
    atexit.register(lambda: out.write_text(json.dumps(pauses.report(), indent=2)))
    sys.argv = ["edge", *edge_args]
    runpy.run_module("edge", run_name="__main__")


if __name__ == "__main__":
    main()
