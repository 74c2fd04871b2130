"""Device profiles: one declarative YAML file per device model in drivers/profiles/.

A profile says which unit(s) a device answers on (a manhole monitor is one logical device built from a
tilt sensor, a water radar and a lid contact, each its own Modbus unit: its *parts*), which registers hold
which field (type, scale, unit, sentinels), which fields are derived from others with the device's
calibration (bin fill %), which write actions it offers (alarm reset, unlock pulse) and its default alarm
rules. Installers add a model by dropping a file into the directory (or ``EDGE_PROFILES``); no code.

Decoding is a pure pipeline per field: raw words -> unpack -> sentinel -> invert -> scale/offset -> round.
"""

from __future__ import annotations

import ast
import functools
import math
import os
import struct
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, ValidationError, create_model, field_validator, model_validator

from drivers.modbus import MAX_READ, Table
from drivers.rulespec import RuleSpec, resolve
from edge.args import Args, Number, validate_args
from edge.configbase import Strict
from edge.types import CommandError

PROFILE_DIR = Path(__file__).parent / "profiles"
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

    def args_model(self, name: str) -> type[Args]:
        """The action's arguments as a pydantic model (built once per action spec)."""
        model = _ARG_MODELS.get(id(self))
        if model is None or model[0] is not self:
            fields = {arg: _arg_field(spec) for arg, spec in self.args.items()}
            model = (self, create_model(f"{name.title()}Args", __base__=Args, **fields))  # type: ignore[call-overload]
            _ARG_MODELS[id(self)] = model
        return model[1]


_ARG_MODELS: dict[int, tuple[ActionSpec, type[Args]]] = {}


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
            {"key": spec.key(n), "table": spec.table, "address": spec.start + n * (1 if spec.table.is_bits else
             WORDS[spec.type]), "type": "bool" if spec.table.is_bits else spec.type}
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


# --- loading ------------------------------------------------------------------------------------------


def profile_dirs() -> list[Path]:
    extra = os.environ.get("EDGE_PROFILES")
    dirs = [Path(p) for p in extra.split(os.pathsep) if p] if extra else []
    return [*dirs, PROFILE_DIR]


def load_profile_file(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ProfileError(f"{path}: {problems}") from exc
    if profile.name != path.stem:
        raise ProfileError(f"{path}: profile name {profile.name!r} must match the file name {path.stem!r}")
    return profile


@functools.cache
def _load(name: str, dirs: tuple[Path, ...]) -> Profile:
    for directory in dirs:
        path = directory / f"{name}.yaml"
        if path.is_file():
            return load_profile_file(path)
    known = ", ".join(sorted(available_profiles())) or "none"
    raise ProfileError(f"no profile named {name!r} (known: {known})")


def get_profile(name: str) -> Profile:
    return _load(name, tuple(profile_dirs()))


def available_profiles() -> list[str]:
    names: set[str] = set()
    for directory in profile_dirs():
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.yaml"))
    return sorted(names)


def all_profiles() -> list[Profile]:
    return [get_profile(name) for name in available_profiles()]


# --- decoding -----------------------------------------------------------------------------------------


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
    return struct.unpack({"uint32": ">I", "int32": ">i", "float32": ">f"}[spec.type], data)[0]


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
        limits = {"uint16": (0, 0xFFFF), "int16": (-0x8000, 0x7FFF), "uint32": (0, 0xFFFFFFFF),
                  "int32": (-0x80000000, 0x7FFFFFFF)}[spec.type]
        if not limits[0] <= n <= limits[1]:
            raise DecodeError(f"field {spec.key!r}: {value} is out of range for {spec.type}")
        if spec.type in ("uint16", "int16"):
            return [n & 0xFFFF]
        hi, lo = (n >> 16) & 0xFFFF, n & 0xFFFF
    return [hi, lo] if spec.word_order == "big" else [lo, hi]


# --- derived values -----------------------------------------------------------------------------------


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
    return round(min(max(pct, 0.0), 100.0), 1)


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
    return DERIVATIONS[spec.fn].fn([values.get(k) for k in spec.inputs], calibration)


# --- action expressions -------------------------------------------------------------------------------

_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.USub, ast.IfExp, ast.Compare,
            ast.Eq, ast.NotEq, ast.Lt, ast.Gt, ast.LtE, ast.GtE)
_FUNCS = {"round": round, "int": int, "min": min, "max": max}


@functools.cache
def compile_expression(text: str, names: frozenset[str] = frozenset()) -> Any:
    """Compile an arithmetic expression over action arguments; ValueError names anything not allowed."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression {text!r}: {exc.msg}") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ValueError(f"expression {text!r}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            raise ValueError(f"expression {text!r}: only {', '.join(_FUNCS)} may be called")
        if (isinstance(node, ast.Name) and node.id not in _FUNCS and names and node.id not in names):
            raise ValueError(f"expression {text!r}: {node.id!r} is not an argument of the action")
    return compile(tree, "<action>", "eval")


def evaluate(expr: int | str, args: dict[str, Any]) -> int:
    if isinstance(expr, int):
        return expr
    code = compile_expression(expr, frozenset(args))
    value = eval(code, {"__builtins__": {}, **_FUNCS}, dict(args))  # noqa: S307 - whitelisted AST above
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expression {expr!r} gave {value!r}, not a number")
    return int(round(value))


def check_args(action_name: str, action: ActionSpec, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments with defaults filled in; ValueError naming each argument that is missing, unknown or out of
    bounds, worded as the dispatcher words every command's arguments (edge/args.py)."""
    try:
        return validate_args(action.args_model(action_name), args).model_dump()
    except CommandError as exc:
        raise ValueError(f"action {action_name!r}: {exc}") from None


def _arg_field(spec: ArgSpec) -> tuple[Any, Any]:
    default = ... if spec.default is None else spec.default
    if spec.type == "bool":
        return Annotated[bool, Field(strict=True)], Field(default=default, description=spec.description)
    bounds = {"ge": spec.min, "le": spec.max}
    kind: Any = Annotated[int, Field(strict=True), WholeNumber] if spec.type == "int" else Number
    return kind, Field(default=default, description=spec.description, **bounds)


def _whole(value: Any) -> Any:
    """An int argument given as a float with no fraction (``3.0``) is that int; ``2.5`` is refused."""
    if isinstance(value, float) and not isinstance(value, bool):
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    return value


WholeNumber = BeforeValidator(_whole)


# --- block planning -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """One read transaction: ``count`` items from ``address`` of ``table`` on ``part``, and the fields in it."""

    part: str
    table: Table
    address: int
    count: int
    fields: tuple[FieldSpec, ...]
    # per field: a plain uint16 register (no sentinel, scale, offset or rounding), whose value is the word itself
    plain: tuple[bool, ...] = dc_field(init=False, repr=False, compare=False)
    # when every word of the block is one plain field, in order: their keys (the values are the words)
    word_keys: tuple[str, ...] | None = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = tuple(
            not f.table.is_bits and f.type == "uint16" and not f.sentinels and f.scale == 1 and f.offset == 0
            and f.round is None for f in self.fields
        )
        object.__setattr__(self, "plain", plain)
        one_per_word = all(plain) and [f.address for f in self.fields] == list(range(self.address,
                                                                                     self.address + self.count))
        object.__setattr__(self, "word_keys", tuple(f.key for f in self.fields) if one_per_word else None)


def plan_blocks(profile: Profile) -> list[Block]:
    """Merge the fields into as few reads as the map allows (contiguous, or gaps up to ``max_gap``)."""
    groups: dict[tuple[str, Table], list[FieldSpec]] = {}
    for f in profile.fields:
        groups.setdefault((f.part, f.table), []).append(f)
    blocks: list[Block] = []
    for (part, table), fields in groups.items():
        fields.sort(key=lambda f: f.address)
        current: list[FieldSpec] = []
        start = end = 0
        for f in fields:
            f_end = f.address + f.words
            if current and f.address - end <= profile.max_gap and max(end, f_end) - start <= MAX_READ[table]:
                current.append(f)
                end = max(end, f_end)
                continue
            if current:
                blocks.append(Block(part, table, start, end - start, tuple(current)))
            current, start, end = [f], f.address, f_end
        blocks.append(Block(part, table, start, end - start, tuple(current)))
    return blocks
