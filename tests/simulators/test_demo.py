"""`make demo` end to end, shortened: the whole compound starts, live alerts flow, everything stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_runs_the_compound_and_stops_everything(tmp_path, shared_dir):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge",
            "demo",
            "--lines",
            "--duration",
            "70",  # the flower pot falls at t+20 s and t+65 s: a slow start-up under load still sees one
            "--workdir",
            str(tmp_path / "demo"),
            "--broker-port",
            "0",
            "--web-port",
            "0",
            "--fall-floor",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "EDGE_SHARED": str(shared_dir)},
    )
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    assert "web console   http://127.0.0.1:" in out and "password:" in out
    events = [line for line in out.splitlines() if line.startswith("[event]")]
    kinds = {line.split()[2] for line in events}
    assert "smoke_concentration" in kinds and "smoke" in kinds, out[-3000:]
    assert "access.granted" in kinds, "a resident was let in at the north gate"
    assert "access.spoof_attempt" in kinds, "the printed poster was refused as a spoof"
    falls = [line for line in events if "fall_detected" in line]
    assert falls and "facade-b3-south" in falls[0], "the flower pot's fall from block 3"
    floor = json.loads(falls[0].split(" on facade-b3-south ", 1)[1])["origin"]["floor"]
    assert abs(floor - 5) <= 1, falls[0]
    assert "[demo] stopping everything it started" in out
    # nothing it started is left behind
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "demo")], capture_output=True, text=True).stdout
    assert leftovers.strip() == "", leftovers
