"""The HTML report of ``edge lift evaluate``: figures per model, and every miss and false alarm drawn
(labelled e-bikes green, detections red at or above the threshold, orange below), so an installer sees why."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from edge.lift.config import LiftConfig
from edge.lift.evaluate import MAX_SHOWN, ModelEvaluation, summary_lines

STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1400px}pre{background:#f4f4f4;padding:.8em}
figure{display:inline-block;margin:.3em;vertical-align:top}figcaption{font-size:.8em;max-width:480px}
h3{margin-top:1.5em}"""


def write_report(
    path: Path,
    folder: Path,
    lift: LiftConfig,
    evaluations: Sequence[ModelEvaluation],
    threshold: float,
    target_recall: float,
) -> Path:
    parts = [
        f"<!doctype html><meta charset=utf-8><title>lift evaluation: {html.escape(str(folder))}</title>",
        f"<style>{STYLE}</style>",
        f"<h1>Lift evaluation of {html.escape(str(folder))}</h1>",
        f"<p>lift {html.escape(lift.id)}, {lift.fps:g} fps, threshold {threshold:.2f}, confirmation "
        f"{lift.confirm.min_sightings} sightings in {lift.confirm.window_s:g} s. Green: labelled e-bike; red: "
        f"detection at or above the threshold; orange: below it.</p>",
    ]
    for ev in evaluations:
        parts.append(f"<h2>{html.escape(ev.model)}</h2>")
        parts.append("<pre>" + html.escape("\n".join(summary_lines(ev, lift, threshold, target_recall))) + "</pre>")
        for kind, count in (("miss", ev.misses), ("false alarm", ev.false_alarms)):
            shown = [d for d in ev.drawn if d.kind == kind]
            title = f"{count} {'misses' if kind == 'miss' else 'false alarms'}"
            if count > len(shown):
                title += f" (the first {MAX_SHOWN} shown)"
            parts.append(f"<h3>{title}</h3>")
            for item in shown:
                data = base64.b64encode(item.jpeg).decode()
                parts.append(
                    f"<figure><img src='data:image/jpeg;base64,{data}' alt='{html.escape(item.name)}'>"
                    f"<figcaption>{html.escape(item.name)}: best e-bike score {item.score:.2f}"
                    "</figcaption></figure>"
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
