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
    assert (gate.tolerance, gate.k, gate.n, gate.upsample, gate.track_faces) == (None, 3, 5, 0, True)
    assert (gate.detector, gate.embedding, gate.liveness) == ("yunet", "mobilefacenet", "enforce")
    assert (gate.threshold, gate.match_margin) == (0.5, 0.05)  # the embedding's, from models/faces.yaml
    assert gate.door.relay_device is None and gate.door.unlock_s == 5.0


def test_k_larger_than_n_is_refused() -> None:
    assert problems("    k: 6\n    n: 4\n") == [
        "gates[0]: k (6) must not exceed n (4): k of the last n frames must agree (line 4)"
    ]


def test_bounds_and_unknown_keys_name_the_field_and_line() -> None:
    found = problems("    tolerance: 1.9\n    door: {unlock_s: 20, colour: red}\n")
    assert found == [
        "gates[0].tolerance: Input should be less than or equal to 1.5 (line 6)",
        "gates[0].door.unlock_s: Input should be less than or equal to 10 (line 7)",
        "gates[0].door.colour: unknown key (line 7)",
    ]


def test_unknown_models_are_named() -> None:
    found = problems("    embedding: facenet512\n    detector: mtcnn\n")
    assert found == [
        "gates[0].detector: unknown detector 'mtcnn'; models/faces.yaml has ['yunet', 'hog'] (line 7)",
        "gates[0].embedding: unknown embedding 'facenet512'; models/faces.yaml has ['mobilefacenet', 'dlib'] (line 6)",
    ]


def test_build_components_checks_gate_ids_and_devices() -> None:
    from edge.gate.component import GateService, build_components

    devices = (
        "buses:\n  - {id: b1, url: 'tcp://127.0.0.1:1502'}\n"
        "devices:\n  - {id: relay1, bus: b1, profile: relay_board, unit_id: 1}\n"
    )
    ok = parse_config(BASE + "    door: {relay_device: relay1}\n" + devices)
    assert [type(c) for c in build_components(ok)] == [GateService]
    assert build_components(parse_config("site_id: s1\ngateway_id: gw1\n")) == []
    stray = parse_config(BASE + "    door: {contact_device: di-9}\n" + devices)
    with pytest.raises(ValueError, match=r"gates\[north\]\.door\.contact_device: device 'di-9' is not configured"):
        build_components(stray)
    twice = parse_config(BASE + "  - {id: north, camera: '1'}\n")
    with pytest.raises(ValueError, match="gate id 'north' is used twice"):
        build_components(twice)
    no_models = parse_config(BASE + "    model_dir: /nonexistent/models\n")
    with pytest.raises(ValueError, match=r"gates\[north\]: model 'yunet': file /nonexistent/models/yunet/.* not found"):
        build_components(no_models)
    clash = parse_config(BASE.replace("id: north", "id: relay1") + devices)
    with pytest.raises(ValueError, match="gate id 'relay1' is also a device id"):
        build_components(clash)


def test_the_docs_example_is_valid() -> None:
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[2] / "docs" / "gate.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    gates = yaml.safe_load(example)["gates"]
    config = parse_config(yaml.safe_dump({"site_id": "s1", "gateway_id": "gw1", "gates": gates}))
    assert config.gates[0].id == "north-gate" and config.gates[0].door.held_open_s == 30


def test_still_faces_are_reused_only_where_k_distinct_results_fit_in_n() -> None:
    def reuse_after(extra: str = "") -> int | None:
        return parse_config(BASE + extra).gates[0].reuse_after

    assert reuse_after() == 5  # the first window all fresh; then k=3 in n=5: fresh, reused, fresh, reused, fresh
    assert reuse_after("    k: 3\n    n: 4\n") is None
    assert reuse_after("    reuse_still_faces: false\n") is None
    assert reuse_after("    k: 1\n    n: 1\n") == 1
