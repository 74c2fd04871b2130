"""The MJPEG camera simulator run on its own (``python -m simulators.mjpeg``), read by the camera driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import CameraSource
from simulators.mjpeg import source_for


def test_command_line_serves_a_slideshow(tmp_path: Path) -> None:
    photos = []
    for i, shade in enumerate((40, 200)):
        path = tmp_path / f"p{i}.png"
        cv2.imwrite(str(path), np.full((300, 400, 3), shade, dtype=np.uint8))
        photos.append(str(path))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.mjpeg",
            *photos,
            "--port",
            "0",
            "--fps",
            "50",
            "--frames-each",
            "2",
            "--size",
            "320x240",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving 2 input(s) at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split(" ")[0]
        with CameraSource(url, drop_stale=False) as cam:
            images = [cam.read(timeout=10).image for _ in range(4)]
        assert images[0].shape == (240, 320, 3)
        shades = [int(image[120, 160].mean()) for image in images]
        assert [s > 128 for s in shades] == [False, False, True, True]
    finally:
        proc.terminate()
        proc.wait(10)


def test_video_and_photos_cannot_be_mixed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either one video or photos"):
        source_for([tmp_path / "a.jpg", tmp_path / "b.mp4"], 1, (640, 360))
