"""Decoding and encoding one field: raw words -> unpack -> sentinel -> invert -> scale/offset -> round, and back."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drivers.profile.models import FieldSpec


class DecodeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Decoded:
    value: float | int | bool | None
    fault: str | None = None  # the sentinel's name when the raw value was a sentinel


def raw_value(spec: FieldSpec, words: list[int] | tuple[int, ...]) -> int | float:
    """The raw number held by ``words`` (registers or bits) for ``spec``, before sentinel and scale."""
    if len(words) != spec.words:
        raise DecodeError(f"field {spec.key!r} needs {spec.words} word(s), got {len(words)}")
    for w in words:
        if not 0 <= w <= 0xFFFF:
            raise DecodeError(f"field {spec.key!r}: register value {w} is outside 0-65535")
    if spec.table.is_bits:
        return 1 if words[0] else 0
    if spec.type == "bool":
        return (words[0] >> spec.bit) & 1 if spec.bit is not None else int(words[0] != 0)
    if spec.type == "uint16":
        return words[0]
    if spec.type == "int16":
        return words[0] - 0x10000 if words[0] & 0x8000 else words[0]
    hi, lo = (words[0], words[1]) if spec.word_order == "big" else (words[1], words[0])
    data = struct.pack(">HH", hi, lo)
    value: int | float = struct.unpack({"uint32": ">I", "int32": ">i", "float32": ">f"}[spec.type], data)[0]
    return value


def decode_field(spec: FieldSpec, words: list[int] | tuple[int, ...]) -> Decoded:
    raw = raw_value(spec, words)
    key = int(raw) if not isinstance(raw, float) else None
    if key is not None and key in spec.sentinels:
        return Decoded(None, spec.sentinels[key])
    if spec.type == "bool":
        return Decoded(bool(raw) != spec.invert)
    if isinstance(raw, float) and not math.isfinite(raw):
        return Decoded(None, "not_a_number")
    value = raw * spec.scale + spec.offset
    if spec.round is not None:
        value = round(value, spec.round)
    elif spec.scale == 1 and spec.offset == 0 and isinstance(raw, int):
        value = raw
    return Decoded(value)


def encode_field(spec: FieldSpec, value: float | bool) -> list[int]:
    """Inverse of decode_field (used by the simulators): the words that decode to ``value``."""
    if spec.type == "bool":
        bit = int(bool(value) != spec.invert)
        return [bit << spec.bit] if spec.bit is not None else [bit]
    raw = (float(value) - spec.offset) / spec.scale
    if spec.type == "float32":
        hi, lo = struct.unpack(">HH", struct.pack(">f", raw))
    else:
        n = round(raw)
        limits = {
            "uint16": (0, 0xFFFF),
            "int16": (-0x8000, 0x7FFF),
            "uint32": (0, 0xFFFFFFFF),
            "int32": (-0x80000000, 0x7FFFFFFF),
        }[spec.type]
        if not limits[0] <= n <= limits[1]:
            raise DecodeError(f"field {spec.key!r}: {value} is out of range for {spec.type}")
        if spec.type in ("uint16", "int16"):
            return [n & 0xFFFF]
        hi, lo = (n >> 16) & 0xFFFF, n & 0xFFFF
    return [hi, lo] if spec.word_order == "big" else [lo, hi]
