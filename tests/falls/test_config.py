"""The falls: config section: masks are fractions inside the frame, the ring buffer is bounded."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, parse_config

HEAD = "site_id: s\ngateway_id: g\n"


def _falls(body: str) -> str:
    return HEAD + "falls:\n  - id: facade-1\n    camera_url: rtsp://cam/1\n" + body


def test_a_minimal_camera_loads_with_defaults() -> None:
    [camera] = parse_config(_falls("")).falls
    assert (camera.fps, camera.detection.analysis_width, camera.calibration, camera.masks) == (25, 640, None, [])


def test_a_mask_outside_the_frame_names_the_field_and_line() -> None:
    text = _falls("    masks:\n      - {name: tree, box: [0.0, 0.7, 1.3, 1.0]}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    [problem] = caught.value.problems
    assert problem.where == "falls[0].masks[0].box" and problem.line == 7
    assert "outside the frame" in problem.message


def test_an_empty_mask_is_refused() -> None:
    with pytest.raises(ConfigError, match="is empty"):
        parse_config(_falls("    masks: [{name: sky, box: [0.5, 0.2, 0.4, 0.3]}]\n"))


def test_the_ring_buffer_must_fit_its_memory_bound() -> None:
    with pytest.raises(ConfigError, match="lower before_s or clip_width"):
        parse_config(_falls("    evidence: {before_s: 30, clip_width: 1920, max_ring_mb: 64}\n"))


def test_camera_ids_are_unique_and_not_device_ids() -> None:
    from edge.config import reference_problems

    text = HEAD + "falls:\n  - {id: f1, camera_url: a}\n  - {id: f1, camera_url: b}\n"
    problems = reference_problems(parse_config(text))
    assert [p.where for p in problems] == ["falls[1].id"]
