"""A simulated RS-485 bus: Modbus RTU on a pseudo-terminal pair, with the timing of a real line.

The gateway opens ``path`` (a stable symlink to the pty's slave side) like any serial port. For each
request the simulator waits for the time the frames would take on the wire at ``baudrate`` (request,
3.5-character silence, turnaround, response) before it answers, stays silent for unit ids nobody has
(pymodbus' own server would answer with an exception), and can be made noisy (CRC errors, garbage bytes)
or unplugged and plugged back (the symlink then points at a new pty, like a USB adapter re-enumerating).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import random
import tempfile
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.modbus import (
    FrameError,
    Request,
    char_time,
    decode_request,
    encode_response,
    request_length,
    silence,
)
from simulators.model import SimBus


@dataclass
class Noise:
    crc_error_rate: float = 0.0  # share of answers with a corrupted byte
    garbage_rate: float = 0.0  # share of answers preceded by a burst of random bytes
    seed: int | None = None


@dataclass
class BusStats:
    requests: int = 0
    answered: int = 0
    silent: int = 0
    corrupted: int = 0
    bad_requests: int = 0


class RtuSimulator:
    def __init__(
        self,
        bus: SimBus,
        *,
        baudrate: int = 9600,
        turnaround_s: float = 0.0005,
        timing: bool = True,
        path: Path | None = None,
        noise: Noise | None = None,
    ) -> None:
        self.bus = bus
        self.baudrate = baudrate
        self.turnaround_s = turnaround_s
        self.timing = timing
        self.noise = noise or Noise()
        self.stats = BusStats()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edge-sim-")
            path = Path(self._tmp.name) / "ttyRS485"
        self.path = path
        self._master: int | None = None
        self._slave: int | None = None
        self._buf = bytearray()
        self._last_rx = 0.0
        self._busy_until = 0.0
        self._rng = random.Random(self.noise.seed)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> RtuSimulator:
        self._loop = asyncio.get_running_loop()
        self.bus.bind(self._loop)
        self.plug()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.unplug()
        if self._tmp is not None:
            self._tmp.cleanup()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> None:
        """Create the pty and point ``path`` at it (again, after ``unplug``)."""
        assert self._loop is not None, "use the simulator as an async context manager"
        if self._master is not None:
            return
        master, slave = pty.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(master)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(master, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        tmp = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)
        self._buf.clear()
        self._loop.add_reader(master, self._on_readable)

    def unplug(self) -> None:
        """The port disappears: the pty is closed and ``path`` removed."""
        if self._master is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # --- receiving ------------------------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        now = time.monotonic()
        # a gap longer than a few characters ends a frame on a real line: drop a stale partial frame
        if self._buf and now - self._last_rx > max(0.05, 10 * char_time(self.baudrate)):
            self._buf.clear()
        self._last_rx = now
        self._buf += data
        self._parse()

    def _parse(self) -> None:
        while self._buf:
            try:
                length = request_length(bytes(self._buf[:7]))
            except FrameError:
                self.stats.bad_requests += 1
                del self._buf[0]  # not a request start: resync one byte later
                continue
            if length is None or len(self._buf) < length:
                return
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            try:
                req = decode_request(frame)
            except FrameError:
                self.stats.bad_requests += 1
                self._buf.clear()  # a device discards the frame and waits for the next silence
                return
            self._answer(req, length)

    def _answer(self, req: Request, request_bytes: int) -> None:
        self.stats.requests += 1
        reply = self.bus.handle(req)
        if reply is None:
            self.stats.silent += 1
            return
        frame = encode_response(req, reply.values, reply.exception)
        if self.noise.garbage_rate and self._rng.random() < self.noise.garbage_rate:
            frame = bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 6))) + frame
            self.stats.corrupted += 1
        if self.noise.crc_error_rate and self._rng.random() < self.noise.crc_error_rate:
            i = self._rng.randrange(len(frame))
            frame = frame[:i] + bytes([frame[i] ^ (1 << self._rng.randrange(8))]) + frame[i + 1 :]
            self.stats.corrupted += 1
        self.stats.answered += 1
        if not self.timing:
            self._write(frame)
            return
        assert self._loop is not None
        c = char_time(self.baudrate)
        # the request was on the wire for request_bytes characters before the pty delivered it at once
        start = max(time.monotonic(), self._busy_until)
        ready = start + request_bytes * c + silence(self.baudrate) + self.turnaround_s + len(frame) * c
        self._busy_until = ready
        self._loop.call_at(self._loop.time() + (ready - time.monotonic()), self._write, frame)

    def _write(self, frame: bytes) -> None:
        if self._master is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._master, frame)


class RtuTcpSimulator(RtuSimulator):
    """RTU frames over TCP, as RS-485-to-Ethernet converters offer in transparent mode (``socket://``)."""

    def __init__(self, bus: SimBus, *, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> None:
        super().__init__(bus, **kw)
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._transport: asyncio.Transport | None = None

    @property
    def url(self) -> str:
        return f"socket://{self.host}:{self.port}"

    async def __aenter__(self) -> RtuTcpSimulator:
        self._loop = asyncio.get_running_loop()
        self.bus.bind(self._loop)
        await self._listen()
        return self

    @property
    def plugged(self) -> bool:
        return self._server is not None

    def unplug(self) -> None:
        """The converter drops off the network: the connection closes and nobody listens."""
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
            self._server = None

    def plug(self) -> None:
        assert self._loop is not None, "use the simulator as an async context manager"
        if self._server is None:
            self._loop.create_task(self._listen())

    async def _listen(self) -> None:
        assert self._loop is not None
        sim = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sim._transport = transport  # type: ignore[assignment]
                sim._buf.clear()

            def data_received(self, data: bytes) -> None:
                sim._feed(data)

            def connection_lost(self, exc: Exception | None) -> None:
                sim._transport = None

        self._server = await self._loop.create_server(Protocol, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _write(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.write(frame)
