"""Derived values: a field computed from others with the device's calibration (bin fill %, lid tilt)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.profile.codec import DecodeError

if TYPE_CHECKING:
    from drivers.profile.models import DerivedSpec


@dataclass(frozen=True, slots=True)
class Derivation:
    calibration: tuple[str, ...]
    fn: Any


def _fill_percent(inputs: list[Any], cal: dict[str, float]) -> float | None:
    (distance,) = inputs
    if distance is None:
        return None
    empty, full = cal["empty_distance"], cal["full_distance"]
    if empty <= full:
        raise DecodeError("calibration: empty_distance must be greater than full_distance")
    pct = (empty - distance) / (empty - full) * 100.0
    return round(min(max(float(pct), 0.0), 100.0), 1)


def _tilt_deviation(inputs: list[Any], cal: dict[str, float]) -> float | None:
    roll, pitch = inputs
    if roll is None or pitch is None:
        return None

    # angle between the lid's normal now and at installation
    def normal(r: float, p: float) -> tuple[float, float, float]:
        r, p = math.radians(r), math.radians(p)
        return (math.sin(p), -math.sin(r) * math.cos(p), math.cos(r) * math.cos(p))

    a, b = normal(roll, pitch), normal(cal["installed_roll"], cal["installed_pitch"])
    dot = max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b, strict=True))))
    return round(math.degrees(math.acos(dot)), 2)


DERIVATIONS: dict[str, Derivation] = {
    "fill_percent": Derivation(("empty_distance", "full_distance"), _fill_percent),
    "tilt_deviation": Derivation(("installed_roll", "installed_pitch"), _tilt_deviation),
}


def derive(spec: DerivedSpec, values: dict[str, Any], calibration: dict[str, float]) -> float | None:
    value: float | None = DERIVATIONS[spec.fn].fn([values.get(k) for k in spec.inputs], calibration)
    return value
