"""Evidence: the ring keeps the last seconds, clips are MP4 files of the frames asked for, retention bounds the
folder by age and size (oldest first), and the snapshot shows the trajectory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.falls.analyzer import Fall
from edge.falls.evidence import (
    CLIP_NAME,
    FrameRing,
    clip_name,
    decode_frame,
    draw_falls,
    encode_frame,
    enforce_retention,
    write_clip,
)
from edge.falls.origin import Origin
from edge.falls.trajectory import Verdict


def _images(n: int, fps: float = 25.0, size: tuple[int, int] = (320, 180)) -> list[tuple[float, np.ndarray]]:
    return [(i / fps, np.full((size[1], size[0], 3), i % 255, np.uint8)) for i in range(n)]


def _frames(n: int, fps: float = 25.0, size: tuple[int, int] = (320, 180)) -> list[tuple[float, bytes]]:
    return [(t, encode_frame(image, 90)) for t, image in _images(n, fps, size)]


def test_the_ring_keeps_the_last_seconds_at_clip_width() -> None:
    ring = FrameRing(seconds=2.0, width=160)
    for t, image in _images(100):
        ring.add(t, image)
    times = [t for t, _ in ring.frames]
    assert times[0] >= 99 / 25 - 2.0 and times[-1] == 99 / 25
    assert len(times) == 51 and decode_frame(ring.frames[0][1]).shape == (90, 160, 3)
    assert [t for t, _ in ring.since(3.5)] == times[-(len([t for t in times if t >= 3.5])) :]


def test_the_ring_keeps_frames_as_jpeg_within_its_byte_bound() -> None:
    rng = np.random.default_rng(1)
    ring = FrameRing(seconds=10.0, width=320, max_bytes=200_000)
    raw = 0
    for i in range(100):
        image = rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)  # noise: the worst case for JPEG
        raw += image.nbytes
        ring.add(i / 25, image)
    assert ring.bytes == sum(len(jpeg) for _, jpeg in ring.frames) <= 200_000
    assert 0 < len(ring.frames) < 100 and ring.frames[-1][0] == 99 / 25  # the oldest went, the newest stayed
    # an ordinary picture is far smaller encoded than raw
    flat = FrameRing(seconds=10.0, width=320)
    for t, image in _images(50):
        flat.add(t, image)
    assert flat.bytes < sum(image.nbytes for _, image in _images(50)) / 20


def test_a_frame_that_is_not_jpeg_is_named() -> None:
    with pytest.raises(ValueError, match="not a decodable JPEG"):
        decode_frame(b"not a jpeg")


def test_a_clip_has_exactly_its_frames(tmp_path: Path) -> None:
    path = tmp_path / clip_name("facade-1", time.time(), 1)
    assert CLIP_NAME.match(path.name)
    size = write_clip(path, _frames(60), 25.0)
    assert size == path.stat().st_size > 0 and not list(tmp_path.glob("*.part.mp4"))
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60 and cap.get(cv2.CAP_PROP_FPS) == 25.0
    cap.release()


def test_retention_deletes_old_clips_then_the_oldest_past_the_size(tmp_path: Path) -> None:
    now = time.time()
    clips = []
    for i in range(5):
        path = tmp_path / clip_name("cam", now, i)
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - 100 * (5 - i), now - 100 * (5 - i)))  # clip 0 is the oldest
        clips.append(path)
    other = tmp_path / "notes.txt"
    other.write_text("not a clip")
    removed = enforce_retention(tmp_path, max_bytes=2500, max_age_s=450, now=now)
    assert removed == clips[:3]  # clip 0 is past 450 s; then 1 and 2 go for the size
    assert [p.exists() for p in clips] == [False, False, False, True, True] and other.exists()


def test_the_snapshot_shows_the_trajectory() -> None:
    image = np.full((180, 320, 3), 200, np.uint8)
    points = tuple((i / 25, 0.5, 0.1 + 0.03 * i) for i in range(20))
    fall = Fall(
        1, 0.0, 0.8, points, Origin(image_xy=(0.5, 0.1), note="x"), Verdict(True, "fall", 0.3, 0.5, 0.2, 0.9), "frame"
    )
    drawn = draw_falls(image, [fall])
    red = (drawn[:, :, 2] > 200) & (drawn[:, :, 1] < 80) & (drawn[:, :, 0] < 80)
    ys, xs = np.nonzero(red)
    assert abs(np.median(xs) - 160) < 3 and ys.min() <= 20 and ys.max() >= 118  # y from 0.1 to 0.67


def test_the_clip_is_made_from_the_analysis_frame_when_it_is_wide_enough() -> None:
    from edge.falls.worker import clip_source

    frame = np.zeros((1080, 1920, 3), np.uint8)
    resized = np.zeros((360, 640, 3), np.uint8)
    assert clip_source(frame, resized, 640) is resized  # no second resize of the 1080p frame
    assert clip_source(frame, resized, 960) is frame  # a clip wider than the analysis: from the camera's frame
    assert clip_source(frame, resized[:, :, 0], 640) is frame  # a grey camera: the analysis frame has no colour
    assert clip_source(frame, None, 640) is frame
