"""drivers.camera against real encoded video and a real HTTP MJPEG stream (simulators.mjpeg) on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.camera import CameraError, CameraSource
from simulators.mjpeg import MjpegServer, slideshow_frames


def numbered_frame(n: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A frame whose mean brightness encodes ``n`` (survives JPEG), with some texture."""
    width, height = size
    image = np.full((height, width, 3), (n * 20) % 250, dtype=np.uint8)
    cv2.putText(image, str(n), (20, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 5)
    return image


def write_video(path: Path, count: int, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 360))
    assert writer.isOpened(), "OpenCV cannot write an MJPG .avi here"
    for n in range(count):
        writer.write(numbered_frame(n))
    writer.release()
    return path


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_file_is_read_in_order_at_the_requested_width(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", 12, fps=10)
    frames = []
    with CameraSource(video, max_width=320) as cam:
        assert not cam.live
        while (frame := cam.read()) is not None:
            frames.append(frame)
        assert cam.ended
    assert [f.index for f in frames] == list(range(12))
    assert all(f.size == (320, 180) for f in frames)
    assert frames[5].pos_s == pytest.approx(0.5, abs=0.011)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(CameraError, match="nope.mp4"):
        CameraSource(missing).open()


def test_mjpeg_stream_is_decoded_reduced_and_in_order() -> None:
    source = lambda: (numbered_frame(n, (1280, 720)) for n in range(1000))  # noqa: E731
    with (
        MjpegServer(source, fps=200, loop=False) as server,
        CameraSource(server.url, max_width=320, drop_stale=False) as cam,
    ):
        frames = [cam.read(timeout=5) for _ in range(10)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(10))
    assert all(f.size == (320, 180) for f in frames)
    # the frame content survived: brightness of a corner tells the frame number
    assert [int(round(f.image[5, 5].mean() / 20)) for f in frames[:5]] == [0, 1, 2, 3, 4]


def test_slow_reader_gets_the_newest_frame() -> None:
    source = lambda: (numbered_frame(n) for n in range(100_000))  # noqa: E731
    with MjpegServer(source, fps=100) as server, CameraSource(server.url) as cam:
        first = cam.read(timeout=5)
        assert first is not None
        assert server.wait_frames(first.index + 20)
        assert wait_for(lambda: cam.dropped > 0)
        later = cam.read(timeout=5)
    assert later is not None and later.index >= first.index + 10


def test_stream_that_dies_mid_way_goes_offline_and_reconnects() -> None:
    photos = [numbered_frame(1), numbered_frame(2)]
    statuses: list[tuple[bool, str]] = []
    lock = threading.Lock()

    def on_status(online: bool, reason: str) -> None:
        with lock:
            statuses.append((online, reason))

    server = MjpegServer(lambda: iter(photos), fps=50).start()
    port = server.port
    cam = CameraSource(server.url, on_status=on_status, reconnect_min_s=0.05, reconnect_max_s=0.2, timeout_s=2)
    try:
        cam.open()
        assert cam.read(timeout=5) is not None
        assert wait_for(lambda: cam.online)
        server.stop()  # the camera dies mid-stream
        assert wait_for(lambda: not cam.online), "the source did not notice the dead stream"
        with lock:
            assert statuses[-1][0] is False and "ended or stalled" in statuses[-1][1]
        restarted = MjpegServer(lambda: iter(photos), fps=50, port=port).start()
        try:
            assert wait_for(lambda: cam.online), "the source did not reconnect"
            assert cam.read(timeout=5) is not None
            assert cam.reconnects >= 1
        finally:
            restarted.stop()
    finally:
        cam.close()
    with lock:
        assert [s[0] for s in statuses][:3] == [True, False, True]


def test_http_endpoint_that_is_not_mjpeg_is_reported() -> None:
    statuses: list[tuple[bool, str]] = []
    with MjpegServer(lambda: iter([numbered_frame(0)])) as server:
        bad_url = server.url.replace("/video.mjpg", "/snapshot.cgi")
        record = lambda on, why: statuses.append((on, why))  # noqa: E731
        with CameraSource(bad_url, on_status=record, reconnect_min_s=0.05):
            assert wait_for(lambda: len(statuses) >= 1)
    assert statuses[0][0] is False
    assert "not an MJPEG stream" in statuses[0][1] and "404" in statuses[0][1]


def test_slideshow_letterboxes_photos(tmp_path: Path) -> None:
    photo = tmp_path / "tall.jpg"
    cv2.imwrite(str(photo), np.full((400, 200, 3), 200, dtype=np.uint8))
    jpegs = list(slideshow_frames([photo], frames_each=3, size=(640, 360)))
    assert len(jpegs) == 3 and jpegs[0] is jpegs[2]
    image = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    assert image[180, 10].mean() < 10 and image[180, 320].mean() > 190
    with pytest.raises(ValueError, match="not-there.jpg"):
        list(slideshow_frames([tmp_path / "not-there.jpg"]))


def test_stalled_stream_goes_offline_and_close_does_not_wait_for_it() -> None:
    release = threading.Event()

    def stalling():
        yield numbered_frame(0)
        release.wait(30)  # the camera hangs without closing the connection
        yield numbered_frame(1)

    statuses: list[bool] = []
    server = MjpegServer(stalling, fps=20).start()
    try:
        cam = CameraSource(server.url, timeout_s=0.5, reconnect_min_s=5, on_status=lambda on, why: statuses.append(on))
        cam.open()
        assert cam.read(timeout=5) is not None
        assert wait_for(lambda: statuses[-1:] == [False]), "a stalled stream was not noticed"
        cam.close()
        blocked = CameraSource(server.url, timeout_s=30).open()  # its reader thread sits in a socket read
        assert blocked.read(timeout=5) is not None
        started = time.monotonic()
        blocked.close()
        assert time.monotonic() - started < 2
    finally:
        release.set()
        server.stop()
