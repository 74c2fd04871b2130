"""Camera source: frames from a device index, a video file, RTSP or an HTTP MJPEG stream.

API (small on purpose)::

    from drivers.camera import CameraSource, Frame, CameraError

    with CameraSource("http://cam/video.mjpg", max_width=640, on_status=print) as cam:
        while (frame := cam.read(timeout=1.0)) is not None or not cam.ended:
            if frame is not None:
                use(frame.image)            # BGR uint8, at most max_width wide

- ``CameraSource(url, *, max_width=None, live=None, drop_stale=True, reconnect_min_s=0.5,
  reconnect_max_s=10, timeout_s=5, on_status=None)``.
  ``url``: ``0`` or ``"0"`` (device index), a file path, ``rtsp://...``, ``http(s)://...`` (MJPEG; user and
  password may be in the URL). Files are read in order, one frame per ``read()``, and end; live sources
  (device, RTSP, HTTP) are read by a background thread and reconnect with jittered back-off when the
  stream drops or stalls for ``timeout_s``. With ``drop_stale`` (default) a slow consumer gets the newest
  frame and older ones are skipped (counted in ``dropped``); otherwise frames queue up (bounded).
- ``read(timeout=None) -> Frame | None``: the next frame; None on timeout, or once ``ended`` / closed.
- ``Frame(image, index, ts, pos_s)``: ``index`` counts frames since opening (skipped ones too),
  ``ts`` wall-clock time of capture, ``pos_s`` position in a recording (None for live sources).
- ``on_status(online: bool, reason: str)`` is called (from the reader thread) when a live source goes
  offline or comes back; ``online``, ``reconnects``, ``dropped`` tell the same as properties.
- ``CameraError``: a file that cannot be opened or decoded (live sources retry instead of raising).

Each frame is decoded once, at the resolution the pipeline needs: MJPEG frames are decoded only when
read, and by libjpeg's DCT scaling (``IMREAD_REDUCED_COLOR_2/4/8``) when ``max_width`` allows, so a
1920-wide camera feeding a 640-wide detector never decodes full size; other sources are resized once.
HTTP MJPEG is parsed here (not by FFmpeg) so that read timeouts, reconnects and frame skipping are ours.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import queue
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np

StatusCallback = Callable[[bool, str], None]

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


class CameraError(Exception):
    """The camera source cannot be opened or read (names the source and the reason)."""


@dataclass(slots=True, frozen=True)
class Frame:
    image: np.ndarray
    index: int
    ts: float
    pos_s: float | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]


def fit_width(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """``image`` downscaled (keeping its aspect) so that it is at most ``max_width`` wide."""
    if not max_width or image.shape[1] <= max_width:
        return image
    height = max(1, round(image.shape[0] * max_width / image.shape[1]))
    return cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)


def describe(url: str | int) -> str:
    """The source without any password, for logs and errors."""
    text = str(url)
    parts = urlsplit(text)
    if parts.password:
        text = text.replace(f":{parts.password}@", ":***@", 1)
    return text


class _Backend(Protocol):
    def open(self) -> None: ...
    def grab(self) -> object | None: ...
    def decode(self, raw: object) -> np.ndarray: ...
    def close(self) -> None: ...


class _CvBackend:
    """OpenCV VideoCapture: device index, file, RTSP (FFmpeg). ``grab`` returns the decoded image."""

    def __init__(self, url: str | int, max_width: int | None, timeout_s: float) -> None:
        self.url = url
        self.max_width = max_width
        self.timeout_ms = int(timeout_s * 1000)
        self.cap: cv2.VideoCapture | None = None
        self.fps = 0.0

    def open(self) -> None:
        if isinstance(self.url, int):
            cap = cv2.VideoCapture(self.url)
        else:
            ms = self.timeout_ms
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise CameraError(f"cannot open camera source {describe(self.url)}")
        self.cap = cap
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0

    def grab(self) -> np.ndarray | None:
        if self.cap is None:
            return None
        ok, image = self.cap.read()
        return image if ok else None

    def position_s(self) -> float | None:
        if self.cap is None:
            return None
        msec = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        return msec / 1000.0 if msec >= 0 else None

    def decode(self, raw: object) -> np.ndarray:
        assert isinstance(raw, np.ndarray)
        return fit_width(raw, self.max_width)

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class _MjpegBackend:
    """HTTP ``multipart/x-mixed-replace`` JPEG stream. ``grab`` returns JPEG bytes, decoded on ``decode``."""

    def __init__(self, url: str, max_width: int | None, timeout_s: float) -> None:
        self.url = url
        self.max_width = max_width
        self.timeout_s = timeout_s
        self.conn: http.client.HTTPConnection | None = None
        self.sock: socket.socket | None = None
        self.resp: http.client.HTTPResponse | None = None
        self.boundary = b""
        self.native_width = 0
        self._at_part = False

    def open(self) -> None:
        parts = urlsplit(self.url)
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname or "localhost", parts.port, timeout=self.timeout_s)
        headers = {"Accept": "multipart/x-mixed-replace, image/jpeg"}
        if parts.username:
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.connect()
            self.sock = conn.sock  # the connection drops it once the response owns the stream
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise CameraError(f"cannot connect to {describe(self.url)}: {exc}") from exc
        ctype = resp.getheader("Content-Type", "")
        if resp.status != 200 or "multipart" not in ctype or "boundary=" not in ctype:
            conn.close()
            raise CameraError(
                f"{describe(self.url)} answered {resp.status} {ctype!r}: not an MJPEG stream "
                "(expected 200 multipart/x-mixed-replace with a boundary)"
            )
        boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
        self.boundary = b"--" + boundary.removeprefix("--").encode("latin-1")
        self.conn, self.resp = conn, resp
        self._at_part = False

    def grab(self) -> bytes | None:
        resp = self.resp
        if resp is None:
            return None
        try:
            if self._at_part:
                self._at_part = False  # the boundary line was consumed by the previous frame
            else:
                line = resp.readline()
                while line and not line.startswith(self.boundary):
                    line = resp.readline()  # skip the CRLF after the previous part and any preamble
                if not line:
                    return None
            length = None
            while header := resp.readline().strip():
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length is None:
                return self._read_until_boundary(resp)
            data = resp.read(length)
            return data if len(data) == length else None
        except (OSError, http.client.HTTPException, ValueError):
            return None

    def _read_until_boundary(self, resp: http.client.HTTPResponse) -> bytes | None:
        chunks: list[bytes] = []
        while line := resp.readline():
            if line.startswith(self.boundary):
                data = b"".join(chunks).removesuffix(b"\r\n")
                self._at_part = True
                return data
            chunks.append(line)
        return None

    def decode(self, raw: object) -> np.ndarray:
        assert isinstance(raw, bytes)
        buf = np.frombuffer(raw, dtype=np.uint8)
        flag = cv2.IMREAD_COLOR
        if self.max_width and self.native_width:
            fits = (f for r, f in _REDUCED if self.native_width // r >= self.max_width)
            flag = next(fits, cv2.IMREAD_COLOR)
        image = cv2.imdecode(buf, flag)
        if image is None:
            raise CameraError(f"{describe(self.url)}: a frame of {len(raw)} bytes is not a valid JPEG")
        if flag == cv2.IMREAD_COLOR:
            self.native_width = image.shape[1]
        return fit_width(image, self.max_width)

    def interrupt(self) -> None:
        """Wake a read blocked in another thread (close() alone does not on Linux)."""
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.resp is not None:
            self.resp.close()
        if self.conn is not None:
            self.conn.close()
        self.conn = self.resp = self.sock = None


class CameraSource:
    """Frames from one camera or recording; see the module docstring."""

    def __init__(
        self,
        url: str | int | Path,
        *,
        max_width: int | None = None,
        live: bool | None = None,
        drop_stale: bool = True,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        timeout_s: float = 5.0,
        queue_size: int = 64,
        on_status: StatusCallback | None = None,
    ) -> None:
        if isinstance(url, Path):
            url = str(url)
        if isinstance(url, str) and url.isdigit():
            url = int(url)
        if isinstance(url, str) and url.startswith("file://"):
            url = url.removeprefix("file://")
        self.url = url
        self.name = describe(url)
        self.max_width = max_width
        self.live = live if live is not None else not (isinstance(url, str) and _is_file(url))
        self.drop_stale = drop_stale
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = max(reconnect_max_s, reconnect_min_s)
        self.on_status = on_status
        if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
            self._backend: _Backend = _MjpegBackend(url, max_width, timeout_s)
        else:
            self._backend = _CvBackend(url, max_width, timeout_s)
        self._closed = threading.Event()
        self._ended = False
        self._index = 0
        self._thread: threading.Thread | None = None
        self._latest: tuple[object, int, float] | None = None
        self._cond = threading.Condition()
        self._queue: queue.Queue[tuple[object, int, float]] = queue.Queue(maxsize=queue_size)
        self.online = False
        self.reconnects = 0
        self.dropped = 0

    @property
    def ended(self) -> bool:
        """True once a recording reached its end or the source was closed."""
        return self._ended or self._closed.is_set()

    def open(self) -> CameraSource:
        """Open a recording at once (raises CameraError); start the reader thread of a live source."""
        if not self.live:
            self._backend.open()
            self.online = True
            return self
        self._thread = threading.Thread(target=self._reader, name=f"camera {self.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if isinstance(self._backend, _MjpegBackend):
            self._backend.interrupt()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._backend.close()

    def __enter__(self) -> CameraSource:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, timeout: float | None = None) -> Frame | None:
        if self._closed.is_set():
            return None
        if not self.live:
            return self._read_file()
        item = self._next_live(timeout)
        if item is None:
            return None
        raw, index, ts = item
        try:
            image = self._backend.decode(raw)
        except CameraError:
            self.dropped += 1  # one corrupt frame from a live camera is skipped, not fatal
            return None
        return Frame(image=image, index=index, ts=ts, pos_s=None)

    def _read_file(self) -> Frame | None:
        backend = self._backend
        assert isinstance(backend, _CvBackend)
        raw = backend.grab()
        if raw is None:
            self._ended = True
            return None
        pos = backend.position_s()
        if pos is None or (pos == 0 and self._index > 0):
            pos = self._index / backend.fps if backend.fps else None
        frame = Frame(image=backend.decode(raw), index=self._index, ts=time.time(), pos_s=pos)
        self._index += 1
        return frame

    def _next_live(self, timeout: float | None) -> tuple[object, int, float] | None:
        if not self.drop_stale:
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                return None
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._latest is None and not self._closed.is_set():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            item, self._latest = self._latest, None
            return item

    def _set_online(self, online: bool, reason: str, force: bool = False) -> None:
        if online == self.online and not force:
            return
        self.online = online
        if self.on_status is not None:
            self.on_status(online, reason)

    def _reader(self) -> None:
        delay = self.reconnect_min_s
        first = True
        while not self._closed.is_set():
            try:
                self._backend.open()
            except CameraError as exc:
                self._set_online(False, str(exc), force=first)
                first = False
                self._closed.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            if not first:
                self.reconnects += 1
            first = False
            got_frame = self._pump()
            self._backend.close()
            if got_frame:
                delay = self.reconnect_min_s
            if not self._closed.is_set():
                self._set_online(False, f"stream from {self.name} ended or stalled")
                self._closed.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.reconnect_max_s)

    def _pump(self) -> bool:
        """Read frames until the stream fails; True if at least one frame came."""
        got = False
        while not self._closed.is_set():
            raw = self._backend.grab()
            if raw is None:
                return got
            got = True
            self._set_online(True, f"streaming from {self.name}")
            item = (raw, self._index, time.time())
            self._index += 1
            if self.drop_stale:
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = item
                    self._cond.notify_all()
            else:
                while not self._closed.is_set():
                    try:
                        self._queue.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
        return got


def _is_file(url: str) -> bool:
    return "://" not in url or url.startswith("file://")
