"""``edge gate replay``: the gate pipeline on a recording, one decision per JSON line.

Installers tune a gate from a recording of it: the same models, quality gates, matcher, k-of-n tracker and
liveness rule as the live gate, on every ``every``-th frame of the video, in video time. It is a dry run
against the resident store: visitor passes are checked but not used up, nothing is logged, nothing is
unlocked. ``liveness`` overrides the gate's mode for the replay: a recording of photos is by nature not live.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.camera import CameraSource
from edge.gate.config import GateConfig
from edge.gate.decider import Decision, GateDecider, LivenessMode
from edge.gate.store import ResidentStore
from edge.gate.worker import WorkerSettings


@dataclass(slots=True, frozen=True)
class FrameRef:
    index: int
    t: float


def replay(
    video: str | Path,
    config: GateConfig,
    store: ResidentStore,
    *,
    every: int = 1,
    now: float | None = None,
    liveness: LivenessMode | None = None,
) -> Iterator[Decision[FrameRef]]:
    """Decisions taken on ``video``; validity windows are judged at ``now`` (default: the current time)."""
    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    mode = liveness or config.liveness
    settings = dataclasses.replace(WorkerSettings.of(config), liveness=mode != "off")
    analyzer = settings.analyzer()
    decider: GateDecider[FrameRef] = GateDecider(config, store, consume=False, liveness=mode)
    with CameraSource(video, max_width=config.detect_width, live=False) as camera:
        while (frame := camera.read()) is not None:
            if frame.index % every:
                continue
            t = frame.pos_s if frame.pos_s is not None else float(frame.index)
            faces = analyzer.analyze(frame.image)
            yield from decider.decide(t, now if now is not None else time.time(), faces, FrameRef(frame.index, t))


def decision_line(decision: Decision[Any]) -> dict[str, Any]:
    """One JSON line: time in the video, person or unknown, distance, result (and the details behind it)."""
    return {"t": round(decision.t, 3), "frame": decision.best.index, "kind": decision.kind.value, **decision.details()}
