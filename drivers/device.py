"""A configured device resolved against its profile: the effective field map, unit ids, calibration, rules.

``resolve_device`` applies the device's overrides (channel count, named inputs, calibration, rule knobs,
part unit ids) to the profile and re-validates the result, so every profile invariant also holds for each
configured device. Errors are ValueErrors that name the device and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.modbus import Table
from drivers.profile import (
    MAIN,
    Block,
    Decoded,
    Profile,
    ProfileError,
    check_args,
    decode_field,
    derive,
    evaluate,
    get_profile,
    plan_blocks,
)
from drivers.rulespec import ResolvedRule, resolve

if TYPE_CHECKING:
    from drivers.config import DeviceConfig


@dataclass(frozen=True, slots=True)
class Write:
    unit: int
    table: Table
    address: int
    value: int


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    id: str
    profile: Profile
    units: dict[str, int]
    calibration: dict[str, float]
    rules: tuple[ResolvedRule, ...]
    poll_s: float
    blocks: tuple[Block, ...]
    area: str | None = None

    def decode(self, block: Block, words: list[int] | tuple[int, ...]) -> dict[str, Decoded]:
        """Values of the fields in ``block`` from the words read (pure; DecodeError on a short answer)."""
        out: dict[str, Decoded] = {}
        base, n = block.address, len(words)
        for f, plain in zip(block.fields, block.plain, strict=True):
            i = f.address - base
            if plain and i < n and 0 <= (w := words[i]) <= 0xFFFF:
                out[f.key] = Decoded(w)  # what decode_field gives for a plain uint16, without its checks
            else:
                out[f.key] = decode_field(f, words[i : i + f.words])
        return out

    def derive(self, values: dict[str, Any]) -> dict[str, Any]:
        return {d.key: derive(d, values, self.calibration) for d in self.profile.derived}

    def writes(self, action: str, args: dict[str, Any]) -> list[Write]:
        """The writes that carry out ``action``; ValueError naming a wrong action or argument."""
        spec = self.profile.actions.get(action)
        if spec is None:
            known = ", ".join(sorted(self.profile.actions)) or "none"
            raise ValueError(f"device {self.id!r} ({self.profile.name}) has no action {action!r} (actions: {known})")
        args = check_args(action, spec, args)
        out = []
        for step in spec.writes:
            address, value = evaluate(step.address, args), evaluate(step.value, args)
            if not 0 <= address <= 0xFFFF:
                raise ValueError(f"action {action!r}: address {address} is outside 0-65535")
            if step.table is Table.HOLDING and not 0 <= value <= 0xFFFF:
                raise ValueError(f"action {action!r}: value {value} does not fit in a register")
            out.append(Write(self.units[step.part], step.table, address, value))
        return out


def _apply_inputs(profile: Profile, cfg: DeviceConfig) -> Profile:
    if cfg.channels is None and not cfg.inputs:
        return profile
    if profile.channels is None:
        raise ValueError(f"profile {profile.name!r} has no channels, so 'channels' and 'inputs' do not apply")
    data = profile.declared()
    count = cfg.channels or profile.channels.count
    data["channels"] = {**data["channels"], "count": count}
    if cfg.inputs:
        ch = profile.channels
        if ch.type != "bool" and not ch.table.is_bits:
            raise ValueError(f"profile {profile.name!r}: 'inputs' name contacts, its channels are registers")
        named = {}
        for inp in cfg.inputs:
            if inp.channel >= count:
                raise ValueError(f"input {inp.key!r}: channel {inp.channel} is beyond the module's {count} inputs")
            if inp.channel in named:
                raise ValueError(f"input channel {inp.channel} is named twice")
            named[inp.channel] = inp
        # named inputs replace the generated in<n> fields: expand by hand, keep the others
        data["channels"] = None
        fields = []
        for n in range(count):
            named_input = named.get(n)
            fields.append(
                {
                    "key": named_input.key if named_input else ch.key(n),
                    "table": ch.table,
                    "address": ch.start + n,
                    "type": "bool",
                    "invert": named_input.nc if named_input else False,
                }
            )
        data["fields"] = fields + data["fields"]
        data["rules"] = list(data["rules"]) + [
            {"kind": inp.alarm, "field": inp.key, **(inp.rule.model_dump(exclude_none=True) if inp.rule else {})}
            for inp in cfg.inputs
            if inp.alarm
        ]
    return Profile.model_validate(data)


def resolve_device(cfg: DeviceConfig) -> DeviceSpec:
    try:
        base = get_profile(cfg.profile)
    except ProfileError as exc:
        raise ValueError(str(exc)) from None
    profile = _apply_inputs(base, cfg)
    units = {name: part.unit_id for name, part in profile.parts.items()}
    if cfg.unit_id is not None:
        units[MAIN if MAIN in units else next(iter(units))] = cfg.unit_id
    for name, unit in cfg.units.items():
        if name not in units:
            raise ValueError(f"units: profile {profile.name!r} has no part {name!r} (parts: {', '.join(units)})")
        if not 1 <= unit <= 247:
            raise ValueError(f"units.{name}: unit id {unit} is outside 1-247")
        units[name] = unit
    if len(set(units.values())) != len(units):
        raise ValueError(f"parts of device {cfg.id!r} share a unit id: {units}")
    unknown = set(cfg.calibration) - set(profile.calibration)
    if unknown:
        known = ", ".join(profile.calibration) or "none"
        raise ValueError(
            f"calibration: profile {profile.name!r} has no knob {', '.join(sorted(unknown))} (knobs: {known})"
        )
    calibration = {**profile.calibration, **cfg.calibration}
    if "empty_distance" in calibration and calibration["empty_distance"] <= calibration.get("full_distance", 0):
        raise ValueError("calibration: empty_distance must be greater than full_distance")
    kinds = {r.kind for r in profile.rules}
    unknown = set(cfg.rules) - kinds
    if unknown:
        raise ValueError(
            f"rules: profile {profile.name!r} has no rule {', '.join(sorted(unknown))} "
            f"(rules: {', '.join(sorted(kinds)) or 'none'})"
        )
    rules = tuple(resolve(r, cfg.rules.get(r.kind)) for r in profile.rules)
    return DeviceSpec(
        id=cfg.id,
        profile=profile,
        units=units,
        calibration=calibration,
        rules=rules,
        poll_s=cfg.poll_s if cfg.poll_s is not None else profile.poll_s,
        blocks=tuple(plan_blocks(profile)),
        area=cfg.area,
    )
