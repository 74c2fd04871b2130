"""The alarm's snapshot stays within its byte bound: lower quality first, then a smaller picture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.detectors import Detection, Detector
from edge.lift.config import LiftConfig
from edge.lift.pipeline import FrameAnalyzer, snapshot_jpeg
from tests.lift.conftest import read_image

pytestmark = pytest.mark.vision

BIKE = Detection(3, "motorbike", 0.9, (100.0, 100.0, 600.0, 500.0))


def _decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_a_noisy_full_hd_frame_is_shrunk_to_the_bound() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (1080, 1920, 3), dtype=np.uint8)  # does not compress
    unbounded = snapshot_jpeg(noise, (BIKE,), 80)
    assert len(unbounded) > 1_000_000
    bounded = snapshot_jpeg(noise, (BIKE,), 80, max_bytes=50_000)
    assert len(bounded) <= 50_000
    image = _decode(bounded)
    assert image.shape[1] < 1920 and image.shape[1] / image.shape[0] == pytest.approx(16 / 9, rel=0.01)


def test_a_frame_under_the_bound_keeps_its_size_and_quality(lift_dir: Path) -> None:
    photo = read_image(lift_dir, "darknet_dog.jpg")
    plain = snapshot_jpeg(photo, (BIKE,), 80)
    assert snapshot_jpeg(photo, (BIKE,), 80, max_bytes=len(plain)) == plain
    smaller = snapshot_jpeg(photo, (BIKE,), 80, max_bytes=len(plain) - 1)
    assert len(smaller) < len(plain) and _decode(smaller).shape == photo.shape  # quality went down first


def test_the_analyzer_bounds_the_snapshot_it_reports(detectors: dict[str, Detector], lift_dir: Path) -> None:
    photo = cv2.resize(read_image(lift_dir, "skimage_middlebury_motorcycle_left.png"), (1482, 1000))
    config = LiftConfig(id="l", camera_url="x", motion={"enabled": False}, snapshot_max_bytes=20_000)
    report = FrameAnalyzer(config, detectors["yolox_nano"]).analyze(photo, 0.0)
    assert report.sightings and report.snapshot is not None
    assert len(report.snapshot) <= 20_000 and _decode(report.snapshot).shape[1] < 1482
