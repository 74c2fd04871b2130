"""Alarm rule declarations: defaults per alarm kind, a profile's rules, and a device's overrides.

A rule watches one field of a device. Resolution order, each layer overriding the one before:
``KIND_DEFAULTS[kind]`` -> the profile's rule -> the device's ``rules[kind]`` in the gateway config.
The rule engine (edge/rules.py) evaluates the resolved rules; this module is declarations only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge.core.configbase import Strict
from edge.core.types import Severity

Condition = Literal["true", "false", "above", "below"]


class RuleParams(Strict):
    """Every knob of a rule; all optional so that layers can override one knob at a time."""

    when: Condition | None = Field(
        default=None, description="raise while the field is true / false / above threshold / below threshold"
    )
    threshold: float | None = Field(default=None, ge=-1e9, le=1e9, description="raise threshold (above/below)")
    release: float | None = Field(
        default=None,
        ge=-1e9,
        le=1e9,
        description="release threshold (hysteresis): below it for 'above' rules, above it for 'below' rules; "
        "default the raise threshold",
    )
    raise_hold_s: float | None = Field(
        default=None, ge=0, le=86_400, description="the condition must hold this long before the alarm is raised"
    )
    release_hold_s: float | None = Field(
        default=None, ge=0, le=86_400, description="the release condition must hold this long before it clears"
    )
    severity: Severity | None = Field(default=None, description="severity of the alarm")
    enabled: bool | None = Field(default=None, description="false turns the rule off for this device")


class RuleSpec(RuleParams):
    """A rule in a device profile: an alarm ``kind`` on one ``field``."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$", description="alarm kind, e.g. smoke, bin_full")
    field: str = Field(description="profile field (or derived field) the rule watches")


class RuleOverride(RuleParams):
    """Per-device override of a profile rule, keyed by kind in the device config."""


class ResolvedRule(Strict):
    """A rule with every knob decided; what the engine runs."""

    kind: str
    field: str
    when: Condition
    threshold: float | None = None
    release: float | None = None
    raise_hold_s: float = 0.0
    release_hold_s: float = 0.0
    severity: Severity = Severity.WARNING
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> ResolvedRule:
        if self.when in ("above", "below"):
            if self.threshold is None:
                raise ValueError(f"rule {self.kind!r}: '{self.when}' needs a threshold")
            release = self.release if self.release is not None else self.threshold
            if self.when == "above" and release > self.threshold:
                raise ValueError(
                    f"rule {self.kind!r}: release {release} must not be above the raise threshold {self.threshold}"
                )
            if self.when == "below" and release < self.threshold:
                raise ValueError(
                    f"rule {self.kind!r}: release {release} must not be below the raise threshold {self.threshold}"
                )
        return self

    @property
    def release_threshold(self) -> float | None:
        return self.release if self.release is not None else self.threshold


def _d(**kw: object) -> RuleParams:
    return RuleParams.model_validate(kw)


# Defaults per alarm kind. A profile rule names its kind and may change any knob; a device may too.
KIND_DEFAULTS: dict[str, RuleParams] = {
    # a latched smoke alarm from the detector: raise at once, critical
    "smoke": _d(when="true", severity="critical"),
    # smoke concentration from an analog sensor: a short hold against a single noisy sample
    "smoke_concentration": _d(
        when="above", threshold=300, release=200, raise_hold_s=2, release_hold_s=10, severity="critical"
    ),
    "service": _d(when="true", severity="warning", raise_hold_s=5, release_hold_s=5),
    "fault": _d(when="true", severity="warning", raise_hold_s=5, release_hold_s=5),
    "low_battery": _d(when="below", threshold=2.4, release=2.6, raise_hold_s=60, release_hold_s=60, severity="warning"),
    # manhole: tilt away from the installed angle, lid contact open, water over the level
    "manhole_tilt": _d(when="above", threshold=10, release=8, raise_hold_s=1, release_hold_s=5, severity="major"),
    "manhole_open": _d(when="true", raise_hold_s=1, release_hold_s=5, severity="major"),
    "manhole_water": _d(
        when="above", threshold=500, release=400, raise_hold_s=30, release_hold_s=60, severity="warning"
    ),
    # bins: fill levels with hysteresis and holds so that a bin hovering at a line does not flap
    "bin_warning": _d(when="above", threshold=80, release=70, raise_hold_s=60, release_hold_s=60, severity="info"),
    "bin_full": _d(when="above", threshold=95, release=85, raise_hold_s=60, release_hold_s=60, severity="warning"),
    # perimeter beam: interrupted longer than its time
    "beam_interrupted": _d(when="true", raise_hold_s=0.5, release_hold_s=2, severity="major"),
    "tamper": _d(when="true", severity="major", release_hold_s=2),
    # emergency button: latched mechanically, so the alarm stays until it is reset with the key
    "emergency_button": _d(when="true", severity="critical"),
    "door_open": _d(when="true", raise_hold_s=60, severity="warning"),
    "sensor_fault": _d(when="true", raise_hold_s=30, release_hold_s=30, severity="warning"),
}


def base_kind(kind: str) -> str:
    """'beam_interrupted.north' -> 'beam_interrupted': a suffix tells apart two alarms of a kind on one device."""
    return kind.split(".", 1)[0]


def resolve(spec: RuleSpec, override: RuleOverride | None = None) -> ResolvedRule:
    """Merge kind defaults, the profile rule and a device override into one rule; ValueError if inconsistent."""
    merged: dict[str, object] = {"kind": spec.kind, "field": spec.field}
    layers = [KIND_DEFAULTS.get(base_kind(spec.kind)), spec, override]
    for layer in layers:
        if layer is None:
            continue
        for name in RuleParams.model_fields:
            value = getattr(layer, name)
            if value is not None:
                merged[name] = value
    if "when" not in merged:
        raise ValueError(f"rule {spec.kind!r} on {spec.field!r}: no condition ('when') and no default for its kind")
    return ResolvedRule.model_validate(merged)
