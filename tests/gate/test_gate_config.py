"""The gate's config section: bounds, unknown keys and k-of-n consistency, reported with their line."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, parse_config

BASE = "site_id: s1\ngateway_id: gw1\ngates:\n  - id: north\n    camera: http://cam/video.mjpg\n"


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + extra)
    return [str(p) for p in info.value.problems]


def test_defaults_are_the_measured_ones() -> None:
    gate = parse_config(BASE).gates[0]
    assert (gate.tolerance, gate.k, gate.n, gate.upsample, gate.track_faces) == (0.5, 3, 5, 0, True)
    assert gate.door.relay_device is None and gate.door.unlock_s == 5.0


def test_k_larger_than_n_is_refused() -> None:
    assert problems("    k: 6\n    n: 4\n") == [
        "gates[0]: k (6) must not exceed n (4): k of the last n frames must agree (line 4)"]


def test_bounds_and_unknown_keys_name_the_field_and_line() -> None:
    found = problems("    tolerance: 0.9\n    door: {unlock_s: 20, colour: red}\n")
    assert found == [
        "gates[0].tolerance: Input should be less than or equal to 0.7 (line 6)",
        "gates[0].door.unlock_s: Input should be less than or equal to 10 (line 7)",
        "gates[0].door.colour: unknown key (line 7)",
    ]
