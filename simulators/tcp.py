"""Simulated devices behind a Modbus TCP endpoint on loopback (port 0 picks a free port).

Requests for unit ids nobody has get exception 0x0B (gateway target device failed to respond), as
RS-485-to-Ethernet gateways answer; a dead device does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from drivers.modbus import FrameError, Request, add_crc, decode_request, encode_response
from simulators.model import SimBus

TARGET_FAILED = 0x0B


def handle_adu(bus: SimBus, adu: bytes) -> bytes | None:
    """The MBAP answer to one MBAP request, or None if the request is malformed (the connection drops)."""
    tid, pid, length, unit = struct.unpack(">HHHB", adu[:7])
    pdu = adu[7:]
    if pid != 0 or length != len(pdu) + 1:
        return None
    try:
        req = decode_request(add_crc(bytes([unit]) + pdu))
    except FrameError:
        fc = pdu[0] if pdu else 0
        req = Request(unit, fc & 0x7F, 0)
        frame = encode_response(req, exception=1)
    else:
        reply = bus.handle(req)
        if reply is None:
            frame = encode_response(req, exception=TARGET_FAILED)
        else:
            frame = encode_response(req, reply.values, reply.exception)
    out_pdu = frame[1:-2]
    return struct.pack(">HHHB", tid, 0, len(out_pdu) + 1, unit) + out_pdu


class TcpSimulator:
    def __init__(self, bus: SimBus, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bus = bus
        self.host = host
        self.port = port
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def __aenter__(self) -> TcpSimulator:
        self.bus.bind(asyncio.get_running_loop())
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readexactly(7)
                length = struct.unpack(">H", head[4:6])[0]
                if not 2 <= length <= 254:
                    break
                adu = head + await reader.readexactly(length - 1)
                self.requests += 1
                answer = handle_adu(self.bus, adu)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
