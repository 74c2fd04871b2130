"""RTU framing from raw frames (vendor examples), and fuzzing: any bytes give a value or a FrameError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus import (
    FrameError,
    Request,
    crc16,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_length,
    transaction_time,
)


@pytest.mark.parametrize(
    ("request_", "frame"),
    [
        # smoke concentration sensor sheet: read holding 0x0002, one register, unit 1
        (Request(1, 3, 2, 1), "01 03 00 02 00 01 25 CA"),
        # relay board manual: coil 0 on
        (Request(1, 5, 0, 1, (1,)), "01 05 00 00 FF 00 8C 3A"),
    ],
)
def test_vendor_example_frames(request_: Request, frame: str) -> None:
    raw = bytes.fromhex(frame)
    assert encode_request(request_) == raw
    assert decode_request(raw) == request_
    assert request_length(raw[:2]) == len(raw)


def test_read_response_round_trip_and_bits() -> None:
    req = Request(0x0D, 3, 5, 2)
    frame = encode_response(req, (87, 0xFF38))
    assert frame[:3] == bytes([0x0D, 3, 4])
    assert decode_response(frame, req).values == (87, 0xFF38)
    bits = Request(1, 2, 1, 4)
    assert decode_response(encode_response(bits, (0, 1, 1, 0)), bits).values == (0, 1, 1, 0)


def test_exception_response() -> None:
    req = Request(1, 3, 100, 2)
    frame = encode_response(req, exception=2)
    assert frame[1] == 0x83
    assert decode_response(frame, req).exception == 2


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("01 03 00 02 00 01 25 CB", "CRC mismatch"),
        ("01 03", "shorter than the 4-byte minimum"),
    ],
)
def test_bad_frames_are_named(frame: str, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_request(bytes.fromhex(frame))


def test_answer_from_the_wrong_unit_is_rejected() -> None:
    req = Request(1, 3, 0, 1)
    with pytest.raises(FrameError, match="answer from unit 2"):
        decode_response(encode_response(Request(2, 3, 0, 1), (5,)), req)


def test_wire_time_matches_the_table_in_devices_md() -> None:
    # 10 registers: 8-byte request, 25-byte response
    assert transaction_time(9600, 8, 25) == pytest.approx(0.0458, abs=0.0001)
    assert transaction_time(19200, 8, 25) == pytest.approx(0.0229, abs=0.0001)
    assert transaction_time(115200, 8, 25) == pytest.approx(0.00665, abs=0.0001)
    assert 32 * transaction_time(9600, 8, 25) == pytest.approx(1.47, abs=0.01)


def test_crc_of_known_frame() -> None:
    assert crc16(bytes.fromhex("010300020001")) == 0xCA25


@given(st.binary(max_size=300))
def test_fuzz_decode_request_never_crashes(data: bytes) -> None:
    try:
        req = decode_request(data)
    except FrameError:
        return
    assert encode_request(req) == data or req.function in (15, 16)


@given(st.binary(max_size=300), st.integers(1, 247), st.sampled_from([1, 2, 3, 4, 5, 6]), st.integers(1, 125))
def test_fuzz_decode_response_never_crashes(data: bytes, unit: int, fc: int, count: int) -> None:
    req = Request(unit, fc, 0, count, (1,) if fc in (5, 6) else ())
    try:
        decode_response(data, req)
    except FrameError:
        pass


@given(st.integers(0, 247), st.sampled_from([3, 4]), st.integers(0, 65535 - 125), st.integers(1, 125), st.data())
def test_fuzz_register_round_trip(unit: int, fc: int, address: int, count: int, data: st.DataObject) -> None:
    req = Request(unit, fc, address, count)
    assert decode_request(encode_request(req)) == req
    values = tuple(data.draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count)))
    assert decode_response(encode_response(req, values), req).values == values


@given(st.binary(min_size=1, max_size=40))
def test_fuzz_request_length(data: bytes) -> None:
    try:
        n = request_length(data)
    except FrameError:
        return
    assert n is None or n >= 8
