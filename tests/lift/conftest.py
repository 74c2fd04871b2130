"""Fixtures of the lift tests: the shared models and photos, loaded detectors (once per session)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.detectors import Detector, load_detector
from tests.conftest import shared_file

MODELS = ("yolox_nano", "nanodet_m")


@pytest.fixture(scope="session")
def model_dir(shared_dir: Path) -> Path:
    return shared_file(shared_dir, "models")


@pytest.fixture(scope="session")
def lift_dir(shared_dir: Path) -> Path:
    return shared_file(shared_dir, "lift")


@pytest.fixture(scope="session")
def detectors(model_dir: Path) -> dict[str, Detector]:
    return {name: load_detector(name, model_dir=model_dir) for name in MODELS}


def read_image(lift_dir: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(shared_file(lift_dir, name)))
    assert image is not None, f"cannot decode {name}"
    return image
