"""Modbus RTU framing and PDU encoding as pure functions: CRC, request and response frames, wire timing.

The simulators speak the protocol through these functions, the scanner and the tests decode raw frames
with them. Every malformed input raises ``FrameError`` with a message that names what is wrong.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass


class FrameError(ValueError):
    """A frame that is not valid Modbus: too short, bad CRC, unknown function, inconsistent length."""


class Table(enum.StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def is_bits(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING)


READ_FC = {Table.COIL: 1, Table.DISCRETE: 2, Table.HOLDING: 3, Table.INPUT: 4}
FC_TABLE = {fc: table for table, fc in READ_FC.items()}
WRITE_COIL, WRITE_REGISTER, WRITE_COILS, WRITE_REGISTERS = 5, 6, 15, 16
MAX_READ = {Table.COIL: 2000, Table.DISCRETE: 2000, Table.HOLDING: 125, Table.INPUT: 125}

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (poly 0xA001, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def add_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def check_crc(frame: bytes) -> bytes:
    """The frame without its CRC; FrameError if it is too short or the CRC does not match."""
    if len(frame) < 4:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the 4-byte minimum")
    body, (got,) = frame[:-2], struct.unpack("<H", frame[-2:])
    want = crc16(body)
    if got != want:
        raise FrameError(f"CRC mismatch: frame says {got:#06x}, content gives {want:#06x}")
    return body


# --- requests -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    unit: int
    function: int
    address: int
    count: int = 1
    values: tuple[int, ...] = ()  # register values or 0/1 bits for writes


def encode_request(req: Request) -> bytes:
    """The RTU frame (with CRC) for a request."""
    _check_u16("address", req.address)
    if not 0 <= req.unit <= 247:
        raise FrameError(f"unit id {req.unit} is outside 0-247")
    fc = req.function
    if fc in FC_TABLE:
        limit = MAX_READ[FC_TABLE[fc]]
        if not 1 <= req.count <= limit:
            raise FrameError(f"read count {req.count} is outside 1-{limit} for function {fc}")
        body = struct.pack(">BBHH", req.unit, fc, req.address, req.count)
    elif fc == WRITE_COIL:
        body = struct.pack(">BBHH", req.unit, fc, req.address, 0xFF00 if req.values[0] else 0)
    elif fc == WRITE_REGISTER:
        _check_u16("value", req.values[0])
        body = struct.pack(">BBHH", req.unit, fc, req.address, req.values[0])
    elif fc == WRITE_REGISTERS:
        for v in req.values:
            _check_u16("value", v)
        n = len(req.values)
        body = struct.pack(f">BBHHB{n}H", req.unit, fc, req.address, n, 2 * n, *req.values)
    elif fc == WRITE_COILS:
        packed = pack_bits(req.values)
        body = struct.pack(">BBHHB", req.unit, fc, req.address, len(req.values), len(packed)) + packed
    else:
        raise FrameError(f"function code {fc} is not supported")
    return add_crc(body)


def request_length(head: bytes) -> int | None:
    """Total RTU length of the request starting with ``head``; None while too few bytes are known."""
    if len(head) < 2:
        return None
    fc = head[1]
    if fc in FC_TABLE or fc in (WRITE_COIL, WRITE_REGISTER):
        return 8
    if fc in (WRITE_COILS, WRITE_REGISTERS):
        return None if len(head) < 7 else 9 + head[6]
    raise FrameError(f"function code {fc} is not supported")


def decode_request(frame: bytes) -> Request:
    body = check_crc(frame)
    if len(body) < 6:
        raise FrameError(f"request body of {len(body)} bytes is too short")
    unit, fc, address, word = struct.unpack(">BBHH", body[:6])
    if fc in FC_TABLE:
        return Request(unit, fc, address, word)
    if fc == WRITE_COIL:
        if word not in (0, 0xFF00):
            raise FrameError(f"coil value {word:#06x} is neither 0xFF00 nor 0x0000")
        return Request(unit, fc, address, 1, (1 if word else 0,))
    if fc == WRITE_REGISTER:
        return Request(unit, fc, address, 1, (word,))
    if fc in (WRITE_COILS, WRITE_REGISTERS):
        if len(body) < 7 or len(body) != 7 + body[6]:
            raise FrameError("byte count does not match the frame length")
        data = body[7:]
        if fc == WRITE_REGISTERS:
            if len(data) != 2 * word:
                raise FrameError(f"{word} registers announced, {len(data)} bytes given")
            return Request(unit, fc, address, word, struct.unpack(f">{word}H", data))
        if len(data) != (word + 7) // 8:
            raise FrameError(f"{word} coils announced, {len(data)} bytes given")
        return Request(unit, fc, address, word, tuple(unpack_bits(data, word)))
    raise FrameError(f"function code {fc} is not supported")


# --- responses ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    unit: int
    function: int
    values: tuple[int, ...] = ()  # registers or bits read; echo of a write
    exception: int | None = None


def encode_response(req: Request, values: tuple[int, ...] = (), exception: int | None = None) -> bytes:
    """The RTU frame a device sends back for ``req``: read data, a write echo, or an exception."""
    if exception is not None:
        return add_crc(struct.pack(">BBB", req.unit, req.function | 0x80, exception))
    fc = req.function
    if fc in (1, 2):
        data = pack_bits(values)
        return add_crc(struct.pack(">BBB", req.unit, fc, len(data)) + data)
    if fc in (3, 4):
        return add_crc(struct.pack(f">BBB{len(values)}H", req.unit, fc, 2 * len(values), *values))
    if fc == WRITE_COIL:
        return add_crc(struct.pack(">BBHH", req.unit, fc, req.address, 0xFF00 if req.values[0] else 0))
    if fc == WRITE_REGISTER:
        return add_crc(struct.pack(">BBHH", req.unit, fc, req.address, req.values[0]))
    if fc in (WRITE_COILS, WRITE_REGISTERS):
        return add_crc(struct.pack(">BBHH", req.unit, fc, req.address, req.count))
    raise FrameError(f"function code {fc} is not supported")


def response_length(fc: int, count: int) -> int:
    """RTU length of a normal response to a request with function ``fc`` and ``count`` items."""
    if fc in (1, 2):
        return 5 + (count + 7) // 8
    if fc in (3, 4):
        return 5 + 2 * count
    return 8


def decode_response(frame: bytes, req: Request) -> Response:
    """Decode the answer to ``req``; FrameError if it is malformed or does not belong to ``req``."""
    body = check_crc(frame)
    unit, fc = body[0], body[1]
    if unit != req.unit:
        raise FrameError(f"answer from unit {unit}, expected {req.unit}")
    if fc == req.function | 0x80:
        if len(body) != 3:
            raise FrameError("exception response must carry exactly one code byte")
        return Response(unit, req.function, exception=body[2])
    if fc != req.function:
        raise FrameError(f"answer has function {fc}, expected {req.function}")
    if fc in (1, 2, 3, 4):
        if len(body) < 3 or len(body) != 3 + body[2]:
            raise FrameError("byte count does not match the frame length")
        data = body[3:]
        if fc in (3, 4):
            if len(data) != 2 * req.count:
                raise FrameError(f"{len(data)} data bytes for {req.count} registers")
            return Response(unit, fc, struct.unpack(f">{req.count}H", data))
        if len(data) != (req.count + 7) // 8:
            raise FrameError(f"{len(data)} data bytes for {req.count} bits")
        return Response(unit, fc, tuple(unpack_bits(data, req.count)))
    if len(body) != 6:
        raise FrameError(f"write echo of {len(body)} bytes, expected 6")
    return Response(unit, fc, struct.unpack(">HH", body[2:6]))


# --- helpers ------------------------------------------------------------------------------------------


def pack_bits(bits: tuple[int, ...] | list[int]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[int]:
    return [(data[i // 8] >> (i % 8)) & 1 for i in range(count)]


def _check_u16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise FrameError(f"{name} {value} does not fit in 16 bits")


def char_time(baudrate: int) -> float:
    """Seconds one character takes on the wire (11 bits: start, 8 data, parity or 2nd stop, stop)."""
    return 11.0 / baudrate


def silence(baudrate: int) -> float:
    """The 3.5-character inter-frame silence; fixed at 1.75 ms above 19200 baud (Modbus over serial line)."""
    return 3.5 * char_time(baudrate) if baudrate <= 19200 else 0.00175


def transaction_time(baudrate: int, request_bytes: int, response_bytes: int) -> float:
    """Wire time of one transaction: both frames and the two silences (device turnaround not included)."""
    return (request_bytes + response_bytes) * char_time(baudrate) + 2 * silence(baudrate)
