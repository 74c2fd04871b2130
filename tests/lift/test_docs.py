"""The config example in docs/lift.md is valid and consistent."""

from __future__ import annotations

import re
from pathlib import Path

from edge.config import parse_config
from edge.lift.component import check_references

DOC = Path(__file__).resolve().parents[2] / "docs" / "lift.md"


def test_config_example_in_the_docs_loads() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert example is not None, "docs/lift.md lost its yaml example"
    config = parse_config("site_id: s\ngateway_id: g\nbuses: [{id: rs485-1, url: /dev/ttyUSB0}]\n" + example.group(1))
    [lift] = config.lifts
    assert (lift.id, lift.model, lift.fps, lift.hold_pulse_s) == ("lift-b3-1", "yolox_nano", 5, 10)
    assert lift.confirm.window_s == 2.5 and lift.confirm.end_after_s == 7
    check_references(config)
