"""Invariants over every profile, the decoding pipeline from tables, and config errors that name the problem."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from drivers.modbus import MAX_READ
from drivers.profile import (
    DERIVATIONS,
    DecodeError,
    FieldSpec,
    Profile,
    all_profiles,
    available_profiles,
    decode_field,
    encode_field,
    plan_blocks,
)
from drivers.rulespec import resolve
from edge.config import ConfigError, parse_config

PROFILES = all_profiles()


def test_the_device_models_of_the_brief_are_there() -> None:
    assert {
        "uniguard_smoke",
        "smoke_concentration",
        "manhole_monitor",
        "urm13_bin",
        "relay_board",
        "di_module",
        "generic_holding",
    } <= set(available_profiles())


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_profile_invariants(profile: Profile) -> None:
    keys = profile.keys
    assert len(keys) == len(set(keys)), "keys are unique"
    # no two fields share a register (bits of one register may be shared, with different bits)
    seen: dict[tuple, set] = {}
    for f in profile.fields:
        for i in range(f.words):
            bits = seen.setdefault((f.part, f.table, f.address + i), set())
            assert f.bit not in bits and None not in bits
            bits.add(f.bit)
    # every rule refers to a real field (or the fault reading of a field with sentinels) and resolves
    fault_keys = {f"{f.key}_fault" for f in profile.fields if f.sentinels}
    for rule in profile.rules:
        assert rule.field in set(keys) | fault_keys
        resolve(rule)
    # blocks cover every field exactly once, within the protocol's limits
    blocks = plan_blocks(profile)
    covered = [f.key for b in blocks for f in b.fields]
    assert sorted(covered) == sorted(f.key for f in profile.fields)
    for b in blocks:
        assert 1 <= b.count <= MAX_READ[b.table]
        for f in b.fields:
            assert b.address <= f.address and f.address + f.words <= b.address + b.count
    # derived values have their calibration and inputs
    for d in profile.derived:
        assert set(DERIVATIONS[d.fn].calibration) <= set(profile.calibration)
    # unit ids are valid, the default device config of the profile resolves
    spec = resolve_device(DeviceConfig(id="x", bus="b", profile=profile.name))
    assert all(1 <= u <= 247 for u in spec.units.values())
    assert profile.identify is None or profile.identify.part in profile.parts


@pytest.mark.parametrize(
    ("field", "words", "value", "fault"),
    [
        ({"key": "d", "table": "holding", "address": 5, "sentinels": {0: "out_of_range"}}, [0], None, "out_of_range"),
        ({"key": "d", "table": "holding", "address": 5, "sentinels": {65533: "no_echo"}}, [65533], None, "no_echo"),
        ({"key": "d", "table": "holding", "address": 5}, [87], 87, None),
        (
            {"key": "t", "table": "holding", "address": 6, "type": "int16", "scale": 0.1, "round": 1},
            [0xFF38],
            -20.0,
            None,
        ),
        # WT901: int16 / 32768 * 180
        (
            {"key": "roll", "table": "holding", "address": 0x3D, "type": "int16", "scale": 180 / 32768, "round": 2},
            [0x4000],
            90.0,
            None,
        ),
        ({"key": "b", "table": "discrete", "address": 0, "type": "bool", "invert": True}, [0], True, None),
        ({"key": "b", "table": "holding", "address": 0, "type": "bool", "bit": 3}, [0b1000], True, None),
        ({"key": "u", "table": "holding", "address": 0, "type": "uint32"}, [1, 2], 65538, None),
        (
            {"key": "u", "table": "holding", "address": 0, "type": "int32", "word_order": "little"},
            [0xFFFF, 0xFFFF],
            -1,
            None,
        ),
        ({"key": "f", "table": "input", "address": 0, "type": "float32"}, [0x3FC0, 0], 1.5, None),
        ({"key": "f", "table": "input", "address": 0, "type": "float32"}, [0x7FC0, 0], None, "not_a_number"),
    ],
)
def test_decode_table(field: dict, words: list[int], value: object, fault: str | None) -> None:
    decoded = decode_field(FieldSpec.model_validate(field), words)
    assert decoded.value == value and decoded.fault == fault


def test_short_answer_is_a_clear_error() -> None:
    spec = FieldSpec(key="u", table="holding", address=0, type="uint32")
    with pytest.raises(DecodeError, match="needs 2 word"):
        decode_field(spec, [1])


FIELD_SPECS = st.builds(
    dict,
    key=st.just("v"),
    table=st.just("holding"),
    address=st.integers(0, 100),
    type=st.sampled_from(["uint16", "int16", "uint32", "int32", "float32"]),
    scale=st.sampled_from([1, 0.1, 0.01, 10, 180 / 32768, -1]),
    offset=st.sampled_from([0, -40, 273.15]),
    word_order=st.sampled_from(["big", "little"]),
)


@given(FIELD_SPECS, st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2))
def test_fuzz_scaling_never_crashes_and_round_trips(field: dict, words: list[int]) -> None:
    spec = FieldSpec.model_validate(field)
    decoded = decode_field(spec, words[: spec.words])
    if decoded.value is None:
        return
    again = decode_field(spec, encode_field(spec, decoded.value))
    assert again.value == pytest.approx(decoded.value, rel=1e-6, abs=1e-6)


@given(st.lists(st.integers(-5, 70000), min_size=0, max_size=3))
def test_fuzz_any_word_list_gives_a_value_or_a_decode_error(words: list[int]) -> None:
    spec = FieldSpec(key="v", table="holding", address=0, type="int32", scale=0.5)
    try:
        decode_field(spec, words)
    except DecodeError as exc:
        assert "field 'v'" in str(exc)


def test_fill_percent_uses_the_bins_calibration() -> None:
    spec = resolve_device(
        DeviceConfig(id="bin", bus="b", profile="urm13_bin", calibration={"empty_distance": 100, "full_distance": 20})
    )
    assert spec.derive({"distance": 60}) == {"fill_pct": 50.0}
    assert spec.derive({"distance": 10}) == {"fill_pct": 100.0}  # clamped
    assert spec.derive({"distance": None}) == {"fill_pct": None}


def test_tilt_deviation_is_relative_to_the_installed_angle() -> None:
    spec = resolve_device(
        DeviceConfig(id="mh", bus="b", profile="manhole_monitor", calibration={"installed_roll": 3.0})
    )
    assert spec.derive({"roll": 3.0, "pitch": 0.0})["tilt"] == 0.0
    assert spec.derive({"roll": 15.0, "pitch": 0.0})["tilt"] == pytest.approx(12.0, abs=0.01)
    assert spec.derive({"roll": 3.0, "pitch": 95.0})["tilt"] > 90


def test_actions_validate_their_arguments() -> None:
    relay = resolve_device(DeviceConfig(id="r", bus="b", profile="relay_board"))
    (w,) = relay.writes("pulse", {"channel": 3, "seconds": 2.5})
    assert (w.address, w.value) == (0x0203, 25)
    with pytest.raises(ValueError, match="action 'pulse': args.channel: Input should be less than or equal to 7"):
        relay.writes("pulse", {"channel": 9})
    with pytest.raises(ValueError, match="no action 'open'"):
        relay.writes("open", {})
    with pytest.raises(ValueError, match="action 'set': args.channel: missing"):
        relay.writes("set", {"on": True})
    smoke = resolve_device(DeviceConfig(id="s", bus="b", profile="uniguard_smoke", unit_id=7))
    (w,) = smoke.writes("reset", {})
    assert (w.unit, w.address, w.value) == (7, 1, 234)


CONFIG = """
site_id: s
gateway_id: g
buses: [{id: rs1, url: /dev/ttyUSB0}]
devices:
  - id: bin-1
    bus: rs1
    profile: {profile}
    {extra}
"""


@pytest.mark.parametrize(
    ("profile", "extra", "message"),
    [
        ("urm13", "unit_id: 13", "no profile named 'urm13'"),
        ("urm13_bin", "rules: {bin_ful: {threshold: 90}}", "has no rule bin_ful"),
        ("urm13_bin", "calibration: {empty: 100}", "has no knob empty"),
        ("urm13_bin", "calibration: {empty_distance: 10, full_distance: 20}", "empty_distance must be greater"),
        ("urm13_bin", "rules: {bin_full: {threshold: 90, release: 95}}", "must not be above"),
        ("manhole_monitor", "units: {tilt: 1}", "share a unit id"),
        ("di_module", "inputs: [{channel: 9, key: beam}]", "beyond the module's 8 inputs"),
        (
            "di_module",
            "inputs: [{channel: 0, key: a, alarm: beam_interrupted}, {channel: 1, key: b, alarm: beam_interrupted}]",
            "share a kind",
        ),
    ],
)
def test_config_errors_name_the_problem_and_line(profile: str, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.replace("{profile}", profile).replace("{extra}", extra))
    text = str(info.value)
    assert message in text and "devices[0]" in text and "line" in text


def test_named_inputs_with_suffixed_kinds() -> None:
    cfg = DeviceConfig(
        id="di",
        bus="b",
        profile="di_module",
        inputs=[
            {"channel": 0, "key": "beam_north", "alarm": "beam_interrupted.north"},
            {"channel": 1, "key": "beam_south", "alarm": "beam_interrupted.south", "rule": {"raise_hold_s": 0.2}},
        ],
    )
    spec = resolve_device(cfg)
    assert [r.kind for r in spec.rules] == ["beam_interrupted.north", "beam_interrupted.south"]
    assert spec.rules[1].raise_hold_s == 0.2 and spec.rules[0].raise_hold_s == 0.5
    assert spec.profile.field("beam_north").invert and "in2" in spec.profile.keys


def test_generic_profile_channel_count() -> None:
    spec = resolve_device(DeviceConfig(id="g", bus="b", profile="generic_holding", channels=16))
    assert [(b.address, b.count) for b in spec.blocks] == [(0, 16)]
    assert spec.profile.keys[-1] == "r15"


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@given(data=st.data())
def test_blocks_read_word_for_word_give_what_decoding_gives(profile: Profile, data: st.DataObject) -> None:
    """The scheduler's shortcut for blocks of plain registers (``word_keys``) must agree with full decoding."""
    spec = resolve_device(DeviceConfig(id="d", bus="b", profile=profile.name))
    for block in spec.blocks:
        words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=block.count, max_size=block.count))
        decoded = {key: d.value for key, d in spec.decode(block, words).items()}
        if block.word_keys is not None:
            assert dict(zip(block.word_keys, words, strict=True)) == decoded
        else:
            assert not all(block.plain) or len(block.fields) != block.count


def test_only_blocks_of_plain_registers_take_the_shortcut() -> None:
    plain = resolve_device(DeviceConfig(id="g", bus="b", profile="generic_holding", unit_id=1, channels=10))
    assert plain.blocks[0].word_keys == tuple(f"r{i}" for i in range(10))
    bin_sensor = resolve_device(DeviceConfig(id="bin", bus="b", profile="urm13_bin", unit_id=1))
    assert all(b.word_keys is None for b in bin_sensor.blocks)  # scaled distance, sentinels: decoded in full
