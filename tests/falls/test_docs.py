"""The config example in docs/falls.md is valid, and the kinds in the topic contract are the ones in use."""

from __future__ import annotations

import re
from pathlib import Path

from edge.config import parse_config

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_config_example_in_the_docs_loads() -> None:
    example = re.search(r"```yaml\n(.*?)```", (DOCS / "falls.md").read_text(), re.S)
    assert example is not None, "docs/falls.md lost its yaml example"
    [camera] = parse_config("site_id: s\ngateway_id: g\n" + example.group(1)).falls
    assert (camera.id, camera.fps, [m.name for m in camera.masks]) == ("facade-b3-south", 25, ["tree", "sky"])
    assert camera.evidence.before_s == 3 and camera.detection.min_drop_m == 1.5


def test_the_topic_contract_lists_the_fall_kinds() -> None:
    text = (DOCS / "mqtt-api.md").read_text()
    for kind in (
        "fall_detected",
        "fall.clip_saved",
        "fall.clip_failed",
        "fall.analysis_paused",
        "fall.analysis_resumed",
        "fall-detected.json",
    ):
        assert kind in text, kind
