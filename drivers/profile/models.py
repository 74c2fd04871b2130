"""The profile models: what a device profile file may say (parts, fields, derived values, actions, identification,
channels, rules), validated on load with an error that names the key."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from drivers.modbus import Table
from drivers.profile.derive import DERIVATIONS
from drivers.profile.expressions import compile_expression
from drivers.rulespec import RuleSpec, resolve
from edge.core.configbase import Strict

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,47}$"
MAIN = "main"

FieldType = Literal["bool", "uint16", "int16", "uint32", "int32", "float32"]
WORDS = {"bool": 1, "uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the problem."""


class SerialDefaults(Strict):
    baudrate: int = Field(default=9600, ge=1200, le=921_600, description="factory baud rate")
    parity: Literal["N", "E", "O"] = Field(default="N", description="factory parity")
    stopbits: Literal[1, 2] = Field(default=1, description="factory stop bits")


class PartSpec(Strict):
    unit_id: int = Field(ge=1, le=247, description="factory unit id of this part")
    model: str = Field(default="", description="vendor model of the part, for humans")


class FieldSpec(Strict):
    key: str = Field(pattern=KEY_PATTERN, description="reading key")
    part: str = Field(default=MAIN, description="which part (unit) holds the field")
    table: Table = Field(description="coil, discrete, holding or input")
    address: int = Field(ge=0, le=65535, description="protocol address (0-based)")
    type: FieldType = Field(default="uint16", description="how the register(s) decode")
    bit: int | None = Field(default=None, ge=0, le=15, description="for bool in a register: the bit")
    word_order: Literal["big", "little"] = Field(default="big", description="32-bit values: high word first?")
    scale: float = Field(default=1.0, description="value = raw * scale + offset")
    offset: float = Field(default=0.0, description="value = raw * scale + offset")
    round: int | None = Field(default=None, ge=0, le=9, description="decimals to round to")
    invert: bool = Field(default=False, description="bool: true when the contact reads 0 (NC contacts)")
    unit: str | None = Field(default=None, description="unit of the value, e.g. cm, degC")
    sentinels: dict[int, str] = Field(
        default_factory=dict, description="raw values that mean 'no value' (0xFFFD: no_echo) -> fault name"
    )
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> FieldSpec:
        if self.table.is_bits and self.type != "bool":
            raise ValueError(f"field {self.key!r}: {self.table} holds bits, so its type must be bool")
        if self.bit is not None and (self.table.is_bits or self.type != "bool"):
            raise ValueError(f"field {self.key!r}: 'bit' only applies to a bool read from a register")
        if self.scale == 0 or not math.isfinite(self.scale) or not math.isfinite(self.offset):
            raise ValueError(f"field {self.key!r}: scale must be finite and non-zero, offset finite")
        return self

    @property
    def words(self) -> int:
        return 1 if self.table.is_bits else WORDS[self.type]

    @property
    def numeric(self) -> bool:
        return self.type != "bool"


class DerivedSpec(Strict):
    key: str = Field(pattern=KEY_PATTERN, description="reading key of the derived value")
    fn: Literal["fill_percent", "tilt_deviation"] = Field(description="derivation (see DERIVATIONS)")
    inputs: list[str] = Field(min_length=1, description="fields it is computed from, in order")
    unit: str | None = None
    description: str = ""


class ArgSpec(Strict):
    type: Literal["int", "float", "bool"]
    min: float | None = None
    max: float | None = None
    default: float | bool | None = None
    description: str = ""


class WriteStep(Strict):
    part: str = MAIN
    table: Literal[Table.COIL, Table.HOLDING]
    address: int | str = Field(description="address, or an expression of the arguments ('0x0200 + channel')")
    value: int | str = Field(description="value, or an expression of the arguments ('round(seconds * 10)')")


class ActionSpec(Strict):
    description: str = ""
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    writes: list[WriteStep] = Field(min_length=1, description="writes done in order, each one transaction")

    def args_model(self, name: str) -> Any:
        """The action's arguments as a pydantic model (drivers/profile/arguments.py)."""
        from drivers.profile.arguments import args_model

        return args_model(name, self)


class IdentifySpec(Strict):
    """How `edge scan` recognises the model: a read that must succeed, optionally with a known value."""

    part: str = MAIN
    table: Table
    address: int = Field(ge=0, le=65535)
    count: int = Field(default=1, ge=1, le=125)
    expect: dict[int, int | str] = Field(
        default_factory=dict, description="offset in the block -> raw value, or 'unit_id' for the unit's own id"
    )


class ChannelsSpec(Strict):
    """A row of identical fields generated as ``prefix0 .. prefix{count-1}`` (relay coils, inputs, registers)."""

    prefix: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")
    table: Table
    type: FieldType = "uint16"
    start: int = Field(default=0, ge=0, le=65535, description="address of channel 0")
    count: int = Field(ge=1, le=125, description="number of channels (a device may override it)")

    def key(self, n: int) -> str:
        return f"{self.prefix}{n}"


class Profile(Strict):
    name: str = Field(pattern=KEY_PATTERN)
    description: str = ""
    vendor: str = ""
    model: str = ""
    serial: SerialDefaults = Field(default_factory=SerialDefaults)
    parts: dict[str, PartSpec] = Field(description="units that make up the device; 'main' for one-unit devices")
    poll_s: float = Field(default=1.0, ge=0.0, le=86_400, description="default poll interval")
    max_gap: int = Field(default=0, ge=0, le=32, description="unmapped registers a block read may span")
    calibration: dict[str, float] = Field(default_factory=dict, description="calibration knobs and defaults")
    channels: ChannelsSpec | None = Field(default=None, description="generated fields prefix0..prefixN-1")
    fields: list[FieldSpec] = Field(default_factory=list, description="fields (channels come first)")
    derived: list[DerivedSpec] = Field(default_factory=list)
    actions: dict[str, ActionSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)
    identify: IdentifySpec | None = None
    initial: dict[str, float | bool] = Field(
        default_factory=dict, description="values a simulator starts with: the healthy device at rest"
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_channels(cls, data: Any) -> Any:
        channels = data.get("channels") if isinstance(data, dict) else None
        if not isinstance(channels, dict):
            return data
        spec = ChannelsSpec.model_validate(channels)
        generated = [
            {
                "key": spec.key(n),
                "table": spec.table,
                "address": spec.start + n * (1 if spec.table.is_bits else WORDS[spec.type]),
                "type": "bool" if spec.table.is_bits else spec.type,
            }
            for n in range(spec.count)
        ]
        return {**data, "fields": generated + list(data.get("fields") or [])}

    @field_validator("parts")
    @classmethod
    def _parts(cls, parts: dict[str, PartSpec]) -> dict[str, PartSpec]:
        if not parts:
            raise ValueError("a profile needs at least one part")
        units = [p.unit_id for p in parts.values()]
        if len(set(units)) != len(units):
            raise ValueError("two parts share a factory unit id")
        return parts

    @model_validator(mode="after")
    def _references(self) -> Profile:
        if not self.fields:
            raise ValueError("a profile needs at least one field (or channels)")
        keys: set[str] = set()
        taken: dict[tuple[str, Table, int], list[tuple[str, int | None]]] = {}
        for f in self.fields:
            if f.key in keys:
                raise ValueError(f"field key {f.key!r} is used twice")
            keys.add(f.key)
            if f.part not in self.parts:
                raise ValueError(f"field {f.key!r} names part {f.part!r}, which the profile does not define")
            for i in range(f.words):
                users = taken.setdefault((f.part, f.table, f.address + i), [])
                for other, bit in users:
                    if f.bit is None or bit is None or bit == f.bit:
                        raise ValueError(f"field {f.key!r} overlaps field {other!r} at {f.table} {f.address + i}")
                users.append((f.key, f.bit))
        for d in self.derived:
            if d.key in keys:
                raise ValueError(f"derived key {d.key!r} is used twice")
            for name in d.inputs:
                if name not in keys:
                    raise ValueError(f"derived {d.key!r} uses {name!r}, which is not a field before it")
            missing = [c for c in DERIVATIONS[d.fn].calibration if c not in self.calibration]
            if missing:
                raise ValueError(f"derived {d.key!r} ({d.fn}) needs calibration {', '.join(missing)}")
            keys.add(d.key)
        fault_keys = {f"{f.key}_fault" for f in self.fields if f.sentinels}
        for rule in self.rules:
            if rule.field not in keys | fault_keys:
                raise ValueError(f"rule {rule.kind!r} watches {rule.field!r}, which is not a field")
            resolve(rule)  # raises if the merged rule is inconsistent
        kinds = [r.kind for r in self.rules]
        if len(set(kinds)) != len(kinds):
            raise ValueError("two rules share a kind; a device has one alarm per kind")
        for name, action in self.actions.items():
            for step in action.writes:
                if step.part not in self.parts:
                    raise ValueError(f"action {name!r} writes to unknown part {step.part!r}")
                for expr in (step.address, step.value):
                    if isinstance(expr, str):
                        compile_expression(expr, frozenset(action.args))
        for key in self.initial:
            if key not in {f.key for f in self.fields}:
                raise ValueError(f"initial names {key!r}, which is not a field")
        if self.identify and self.identify.part not in self.parts:
            raise ValueError(f"identify names unknown part {self.identify.part!r}")
        return self

    def declared(self) -> dict[str, Any]:
        """The profile as data with the generated channel fields removed (to re-validate with changes)."""
        data = self.model_dump(mode="python")
        if self.channels:
            generated = {self.channels.key(n) for n in range(self.channels.count)}
            data["fields"] = [f for f in data["fields"] if f["key"] not in generated]
        return data

    def field(self, key: str) -> FieldSpec:
        return next(f for f in self.fields if f.key == key)

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields] + [d.key for d in self.derived]
