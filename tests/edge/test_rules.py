"""The rule engine from tables: (time, field, value) in, alarm updates out; pure, no I/O."""

from __future__ import annotations

import pytest

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from drivers.rulespec import KIND_DEFAULTS, ResolvedRule, RuleSpec, resolve
from edge.core.types import Reading, Severity
from edge.pipeline.rules import RuleEngine


def engine(**device: object) -> RuleEngine:
    cfg = DeviceConfig.model_validate({"id": "d1", "bus": "b", **device})
    return RuleEngine(devices=[resolve_device(cfg)])


def run(eng: RuleEngine, steps: list[tuple[float, str, object]], until: float | None = None) -> list[tuple]:
    """Feed readings and tick at each step time; returns (time, kind, active) of every update."""
    out = []
    for t, key, value in steps:
        out += [(t, u.kind, u.active) for u in eng.tick(t)]
        out += [(t, u.kind, u.active) for u in eng.feed(Reading("d1", key, value, t), t)]
    if until is not None:
        out += [(until, u.kind, u.active) for u in eng.tick(until)]
    return out


def test_smoke_is_raised_at_once_as_critical_and_clears_when_reset() -> None:
    eng = engine(profile="uniguard_smoke")
    updates = eng.feed(Reading("d1", "smoke", True), 0.0)
    assert [(u.kind, u.active, u.severity) for u in updates] == [("smoke", True, Severity.CRITICAL)]
    assert eng.feed(Reading("d1", "smoke", True), 1.0) == []  # level: no repeat
    assert [(u.kind, u.active) for u in eng.feed(Reading("d1", "smoke", False), 2.0)] == [("smoke", False)]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # service alarm needs 5 s of holding; a blip does not raise
        ([(0, "service", True), (2, "service", False), (10, "service", False)], []),
        ([(0, "service", True), (3, "service", True), (5, "service", True)], [(5, "service", True)]),
        # detector removed (mounted false) is a fault warning
        ([(0, "mounted", False), (6, "mounted", False)], [(6, "fault", True)]),
    ],
)
def test_smoke_detector_warnings_need_their_hold(steps: list, expected: list) -> None:
    assert run(engine(profile="uniguard_smoke"), steps) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # raise above 95 held 60 s; release below 85 held 60 s
        ([(0, 96), (30, 97), (60, 97)], [(60, "bin_warning", True), (60, "bin_full", True)]),
        # hovering at the full line (94-96) never clears once raised and never flaps
        (
            [(0, 96), (60, 96), (61, 94), (62, 96), (100, 94), (200, 95)],
            [(60, "bin_warning", True), (60, "bin_full", True)],
        ),
        # dips under the release line shorter than the hold do not clear
        ([(0, 96), (60, 96), (70, 80), (100, 90), (200, 90)], [(60, "bin_warning", True), (60, "bin_full", True)]),
        # emptied: both clear after the release hold
        (
            [(0, 96), (60, 96), (70, 5), (130, 5)],
            [(60, "bin_warning", True), (60, "bin_full", True), (130, "bin_warning", False), (130, "bin_full", False)],
        ),
    ],
)
def test_bin_levels_have_hysteresis_and_holds(values: list, expected: list) -> None:
    assert run(engine(profile="urm13_bin"), [(t, "fill_pct", v) for t, v in values]) == expected


def test_hold_elapses_on_tick_without_new_readings() -> None:
    eng = engine(profile="urm13_bin")
    assert eng.feed(Reading("d1", "fill_pct", 99.0), 0.0) == []
    assert eng.next_deadline() == 60.0
    assert eng.tick(59.9) == []
    assert {u.kind for u in eng.tick(60.0)} == {"bin_warning", "bin_full"}


def test_per_device_override_changes_threshold_and_hold() -> None:
    eng = engine(profile="urm13_bin", rules={"bin_full": {"threshold": 50, "release": 40, "raise_hold_s": 0}})
    updates = eng.feed(Reading("d1", "fill_pct", 55.0), 0.0)
    assert [(u.kind, u.active, u.details["threshold"]) for u in updates] == [("bin_full", True, 50)]


def test_disabled_rule_never_fires() -> None:
    eng = engine(profile="urm13_bin", rules={"bin_warning": {"enabled": False}})
    assert {u.kind for u in eng.feed(Reading("d1", "fill_pct", 100.0), 0.0) + eng.tick(1000)} == {"bin_full"}


def test_sentinel_none_changes_nothing() -> None:
    eng = engine(profile="urm13_bin")
    eng.feed(Reading("d1", "fill_pct", 99.0), 0.0)
    eng.feed(Reading("d1", "fill_pct", None), 30.0)  # out of range: no value, the hold keeps running
    assert {u.kind for u in eng.tick(60.0)} == {"bin_warning", "bin_full"}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([(0, "tilt", 12.0), (1, "tilt", 12.0)], [(1, "manhole_tilt", True)]),
        ([(0, "tilt", 9.0), (5, "tilt", 9.5)], []),  # under 10 degrees
        # release below 8 held 5 s; 9 is inside the hysteresis band and keeps it raised
        (
            [
                (0, "tilt", 45.0),
                (1, "tilt", 45.0),
                (2, "tilt", 9.0),
                (20, "tilt", 9.0),
                (21, "tilt", 2.0),
                (26, "tilt", 2.0),
            ],
            [(1, "manhole_tilt", True), (26, "manhole_tilt", False)],
        ),
        ([(0, "lid_open", True), (1, "lid_open", True)], [(1, "manhole_open", True)]),
        ([(0, "water_level", 600), (30, "water_level", 600)], [(30, "manhole_water", True)]),
    ],
)
def test_manhole_rules(steps: list, expected: list) -> None:
    assert run(engine(profile="manhole_monitor"), steps) == expected


def test_beam_interruption_shorter_than_its_time_is_ignored() -> None:
    inputs = [
        {"channel": 0, "key": "beam", "alarm": "beam_interrupted"},
        {"channel": 1, "key": "button", "alarm": "emergency_button"},
    ]
    eng = engine(profile="di_module", inputs=inputs)
    # a bird: 0.2 s interruption
    assert run(eng, [(0, "beam", True), (0.2, "beam", False)], until=5) == []
    # an intruder: held 0.5 s
    assert run(eng, [(10, "beam", True), (10.3, "beam", True)], until=10.5) == [(10.5, "beam_interrupted", True)]


def test_emergency_button_is_critical_until_reset() -> None:
    eng = engine(profile="di_module", inputs=[{"channel": 1, "key": "button", "alarm": "emergency_button"}])
    up = eng.feed(Reading("d1", "button", True), 0.0)
    assert [(u.kind, u.active, u.severity) for u in up] == [("emergency_button", True, Severity.CRITICAL)]
    assert eng.tick(3600.0) == []
    assert [(u.active) for u in eng.feed(Reading("d1", "button", False), 3601.0)] == [False]


def test_concentration_sensor_alarm_with_hold_and_release() -> None:
    steps = [
        (0, "concentration", 500),
        (1, "concentration", 100),
        (5, "concentration", 400),
        (7, "concentration", 400),
        (8, "concentration", 250),
        (30, "concentration", 150),
        (40, "concentration", 150),
    ]
    assert run(engine(profile="smoke_concentration"), steps) == [
        (7, "smoke_concentration", True),
        (40, "smoke_concentration", False),
    ]


def test_readings_of_other_devices_and_fields_are_ignored() -> None:
    eng = engine(profile="uniguard_smoke")
    assert eng.feed(Reading("other", "smoke", True), 0) == []
    assert eng.feed(Reading("d1", "relay", True), 0) == []


def test_details_name_field_value_threshold() -> None:
    eng = engine(profile="manhole_monitor", rules={"manhole_tilt": {"raise_hold_s": 0}})
    (update,) = eng.feed(Reading("d1", "tilt", 30.0), 0.0)
    assert update.details == {"field": "tilt", "value": 30.0, "threshold": 10}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"when": "above"}, "needs a threshold"),
        ({"when": "above", "threshold": 10, "release": 20}, "must not be above"),
        ({"when": "below", "threshold": 10, "release": 5}, "must not be below"),
    ],
)
def test_inconsistent_rules_are_rejected(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(RuleSpec(kind="custom", field="x", **params))


def test_every_kind_default_resolves() -> None:
    for kind, params in KIND_DEFAULTS.items():
        rule = resolve(RuleSpec(kind=kind, field="x"))
        assert isinstance(rule, ResolvedRule) and rule.when == params.when


def test_suffixed_kind_takes_the_defaults_of_its_base() -> None:
    rule = resolve(RuleSpec(kind="beam_interrupted.north", field="x"))
    assert rule.raise_hold_s == KIND_DEFAULTS["beam_interrupted"].raise_hold_s


def test_sentinel_fault_raises_after_its_hold_and_clears_when_it_goes() -> None:
    eng = engine(profile="urm13_bin")
    # the driver sends <key>_fault only when it changes; the holds elapse on ticks
    assert eng.feed(Reading("d1", "distance_fault", "no_echo"), 0.0) == []
    assert [(u.kind, u.active) for u in eng.tick(30.0)] == [("sensor_fault", True)]
    assert eng.feed(Reading("d1", "distance_fault", None), 100.0) == []
    assert [(u.kind, u.active) for u in eng.tick(130.0)] == [("sensor_fault", False)]
