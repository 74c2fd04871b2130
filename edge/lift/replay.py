"""Running the lift pipeline on a recording: what the camera would have seen and decided.

Installers use it (``edge lift replay VIDEO --config FILE``) to check a camera position and thresholds.
The recording is sampled at the configured rate; times are positions in the video. The door input is
unknown in a recording, so the detector runs where there is motion (and on every frame while tracking).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drivers.camera import CameraSource
from drivers.detectors import Detector
from edge.lift.config import LiftConfig
from edge.lift.confirm import Action, Phase, Sighting, State, step
from edge.lift.detector_main import open_detector
from edge.lift.pipeline import FrameAnalyzer


def replay(
    video: str | Path,
    config: LiftConfig,
    *,
    detector: Detector | None = None,
    others: bool = False,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per e-bike sighting and per alarm change (and per other detection with ``others``),
    for the part of the recording from ``start_s`` to ``end_s``."""
    analyzer = FrameAnalyzer(config, detector or open_detector(config))
    state = State()
    period = 1.0 / config.fps
    next_t = start_s
    t = start_s
    with CameraSource(Path(video), max_width=config.decode_width, live=False) as camera:
        while (frame := camera.read()) is not None:
            t = frame.pos_s if frame.pos_s is not None else frame.index / config.fps
            if end_s is not None and t > end_s:
                break
            if t + 1e-6 < next_t:
                continue
            next_t = max(next_t + period, t)
            report = analyzer.analyze(frame.image, t, force=state.phase is not Phase.IDLE)
            sightings = [Sighting(d.label, d.score, d.box, report.snapshot) for d in report.sightings]
            before = state
            state, actions = step(state, t, sightings, config.confirm)
            for det in report.sightings:
                yield {"t": round(t, 3), "type": "sighting", **det.to_dict(), "state": state.phase.value}
            if others:
                for det in report.others:
                    yield {"t": round(t, 3), "type": "other", **det.to_dict(), "state": state.phase.value}
            yield from _changes(t, before, state, actions)
    # the recording ended during an episode: when it would have ended with nothing more in view
    while state.phase is not Phase.IDLE:
        t += period
        before = state
        state, actions = step(state, t, [], config.confirm)
        yield from ({**line, "after_end": True} for line in _changes(t, before, state, actions))


def _changes(t: float, before: State, after: State, actions: tuple[Action, ...]) -> Iterator[dict[str, Any]]:
    for action in actions:
        line: dict[str, Any] = {"t": round(t, 3), "type": "alarm", "action": action.value, "state": after.phase.value}
        best = after.best if action is Action.CONFIRM else before.best
        if action in (Action.CONFIRM, Action.RELEASE_UNCONFIRMED, Action.END) and best is not None:
            line.update({"class": best.label, "score": round(best.score, 3), "box": [round(v, 1) for v in best.box]})
            line["sightings"] = (after if action is Action.CONFIRM else before).sightings
        yield line
