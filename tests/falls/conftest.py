"""Fixtures of the fall tests: scenario videos rendered once per session (small, short), and their truths."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.facade_camera import FacadeScene, load_fall_scenario


@pytest.fixture(scope="session")
def scenario_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, FacadeScene]]:
    """Every fall scenario rendered to a video file (MJPG in AVI), by name."""
    folder = tmp_path_factory.mktemp("fall-videos")
    out = {}
    for name in ("drop_day", "birds", "wind", "rain", "night", "shake", "clouds"):
        scene = FacadeScene(load_fall_scenario(name))
        out[name] = (scene.write_video(folder / f"{name}.avi"), scene)
    return out
