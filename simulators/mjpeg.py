"""Camera simulator: a video file, a slideshow of photos or any iterator of frames as an HTTP MJPEG stream.

Many IP cameras offer ``multipart/x-mixed-replace`` JPEG over HTTP; this server speaks the same thing on
loopback, so the gate and lift pipelines run against recordings and photos without a camera.

API (small on purpose)::

    from simulators.mjpeg import MjpegServer, video_frames, slideshow_frames

    with MjpegServer(lambda: video_frames("clip.mp4"), fps=15) as server:
        CameraSource(server.url)          # http://127.0.0.1:<port>/video.mjpg
        server.wait_frames(30)            # block until 30 frames went out (all clients together)
        server.stop()                     # the stream dies mid-way: open connections are cut

- ``MjpegServer(source, *, fps=10, host="127.0.0.1", port=0, quality=85, loop=True)``: ``source`` is a
  callable returning a fresh iterable per client; items are BGR ``numpy`` images or ready JPEG ``bytes``.
  With ``loop=True`` the iterable is restarted when it ends, otherwise the connection closes at its end.
  ``start()``/``stop()`` or use it as a context manager; ``url``, ``port``, ``frames_sent``, ``clients``.
- ``video_frames(path, max_width=None)``: the frames of a video file (OpenCV), optionally downscaled.
- ``slideshow_frames(paths, frames_each=10, size=(640, 360))``: each photo letterboxed to ``size`` and
  repeated ``frames_each`` times, JPEG-encoded once.

Run on its own: ``python -m simulators.mjpeg VIDEO_OR_PHOTOS... --fps 15 --port 8081 [--size 960x540]``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

BOUNDARY = "ce-mjpeg-frame"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg"}

FrameItem = np.ndarray | bytes
FrameSource = Callable[[], Iterable[FrameItem]]


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} image as JPEG")
    return buf.tobytes()


def read_image(path: str | Path) -> np.ndarray:
    """A photo as a BGR array, or FileNotFoundError naming the file that is missing or not an image."""
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"{path}: missing, or not an image OpenCV can read")
    return image


def video_frames(path: str | Path, max_width: int | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video file, downscaled to ``max_width`` if it is wider."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if max_width and frame.shape[1] > max_width:
                height = round(frame.shape[0] * max_width / frame.shape[1])
                frame = cv2.resize(frame, (max_width, height), interpolation=cv2.INTER_AREA)
            yield frame
    finally:
        cap.release()


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit ``size`` (width, height) keeping its aspect, on a black background."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    new_w, new_h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def slideshow_frames(
    paths: Sequence[str | Path], frames_each: int = 10, size: tuple[int, int] = (640, 360), quality: int = 85
) -> Iterator[bytes]:
    """Each photo fitted into ``size`` and shown for ``frames_each`` frames (encoded once per photo)."""
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read photo {path} (missing or not an image)")
        jpeg = encode_jpeg(letterbox(image, size), quality)
        for _ in range(frames_each):
            yield jpeg


class MjpegServer:
    """An HTTP MJPEG stream on loopback, served from a background thread (one thread per client)."""

    def __init__(
        self,
        source: FrameSource,
        *,
        fps: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
        quality: int = 85,
        loop: bool = True,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.source = source
        self.fps = fps
        self.quality = quality
        self.loop = loop
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self.frames_sent = 0
        self.clients = 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/video.mjpg"

    def start(self) -> MjpegServer:
        self._stopping.clear()
        self._server = ThreadingHTTPServer((self._host, self._port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open stream (a camera that dies mid-way)."""
        self._stopping.set()
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._lock.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_until_interrupted(self) -> None:
        """Block the calling thread until Ctrl-C (the simulators' command lines)."""
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()

    def wait_frames(self, count: int, timeout: float = 10.0) -> bool:
        """Block until ``count`` frames in all have been sent; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.frames_sent < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _frames(self) -> Iterator[bytes]:
        while not self._stopping.is_set():
            sent_any = False
            for item in self.source():
                sent_any = True
                yield item if isinstance(item, bytes) else encode_jpeg(item, self.quality)
                if self._stopping.is_set():
                    return
            if not self.loop or not sent_any:
                return

    def _serve_client(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._sockets.add(handler.connection)
            self.clients += 1
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            handler.send_header("Cache-Control", "no-cache")
            handler.send_header("Connection", "close")
            handler.end_headers()
            period = 1.0 / self.fps
            next_at = time.monotonic()
            for jpeg in self._frames():
                delay = next_at - time.monotonic()
                if delay > 0 and self._stopping.wait(delay):
                    return
                next_at = max(next_at + period, time.monotonic() - period)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                handler.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                handler.wfile.flush()
                with self._lock:
                    self.frames_sent += 1
                    self._lock.notify_all()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the client went away or stop() cut the socket
        finally:
            with self._lock:
                self._sockets.discard(handler.connection)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                if self.path.split("?")[0] not in ("/", "/video.mjpg", "/mjpg/video.mjpg"):
                    self.send_error(404, "the stream is at /video.mjpg")
                    return
                server._serve_client(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        return Handler


def source_for(paths: Sequence[Path], frames_each: int, size: tuple[int, int]) -> FrameSource:
    """One video file, or photos shown as a slideshow."""
    if len(paths) == 1 and paths[0].suffix.lower() in VIDEO_SUFFIXES:
        return lambda: video_frames(paths[0])
    for path in paths:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            raise ValueError(f"{path}: give either one video or photos, not both")
    return lambda: slideshow_frames(paths, frames_each=frames_each, size=size)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a video or a slideshow of photos as an MJPEG camera.")
    parser.add_argument("inputs", nargs="+", type=Path, help="one video file, or photos for a slideshow")
    parser.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=8081, help="TCP port (0 picks a free one)")
    parser.add_argument("--frames-each", type=int, default=20, help="slideshow: frames per photo")
    parser.add_argument("--size", default="640x360", help="slideshow frame size WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--once", action="store_true", help="end after one pass, no loop")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 960x540")
    for path in args.inputs:
        if not path.is_file():
            parser.error(f"{path}: no such file")
    source = source_for(args.inputs, args.frames_each, (width, height))
    with MjpegServer(source, fps=args.fps, host=args.host, port=args.port, loop=not args.once) as server:
        print(f"serving {len(args.inputs)} input(s) at {server.url} ({args.fps:g} fps)", flush=True)
        server.serve_until_interrupted()


if __name__ == "__main__":
    main()
