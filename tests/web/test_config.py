"""The web section of the config: users, sessions, bounds; errors name the key and the line."""

from __future__ import annotations

import pytest
import yaml

from edge.config import ConfigError, parse_config
from edge.web.passwords import hash_password

HASH = hash_password("pw", n=2**10)


def config_text(web: dict) -> str:
    return yaml.safe_dump({"site_id": "s", "gateway_id": "g", "web": web}, sort_keys=False)


def problems(web: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(web))
    return [str(p) for p in info.value.problems]


def test_a_complete_web_section_loads() -> None:
    config = parse_config(
        config_text(
            {
                "enabled": True,
                "host": "0.0.0.0",
                "port": 8443,
                "users": [{"name": "guard", "password_hash": HASH}, {"name": "night", "password": {"env": "NIGHT_PW"}}],
                "session": {"secure": True, "idle_timeout_s": 900, "max_age_s": 3600},
                "metrics_token": {"file": "/run/credentials/edge/metrics-token"},
            }
        )
    )
    web = config.web
    assert web.enabled and web.port == 8443 and web.session.secure
    assert [u.name for u in web.users] == ["guard", "night"]
    assert web.users[1].password.env == "NIGHT_PW"


def test_the_console_is_off_by_default_and_needs_no_users_then() -> None:
    assert parse_config(config_text({})).web.enabled is False


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ({"enabled": True}, "web: web.enabled needs at least one entry in web.users"),
        ({"users": [{"name": "guard"}]}, "web.users[0]: user 'guard': give exactly one of password_hash or password"),
        (
            {"users": [{"name": "guard", "password_hash": HASH, "password": {"value": "x"}}]},
            "web.users[0]: user 'guard': give exactly one",
        ),
        ({"users": [{"name": "guard", "password_hash": "hunter2"}]}, "web.users[0].password_hash: password_hash must"),
        (
            {"users": [{"name": "a", "password_hash": HASH}, {"name": "a", "password_hash": HASH}]},
            "web.users: user 'a' is used twice",
        ),
        ({"users": [{"name": "bad name", "password_hash": HASH}]}, "web.users[0].name: String should match pattern"),
        ({"port": 70000}, "web.port: Input should be less than or equal to 65535"),
        ({"session": {"idle_timeout_s": 7200, "max_age_s": 3600}}, "web.session: idle_timeout_s must not exceed"),
        ({"refresh": 1}, "web.refresh: unknown key"),
    ],
)
def test_bad_web_sections_name_the_field(web: dict, expected: str) -> None:
    found = problems(web)
    assert any(p.startswith(expected) for p in found), found
    assert all("(line " in p for p in found), found


def test_display_names_and_plan_positions_must_name_configured_devices() -> None:
    from edge.config import parse_config, reference_problems

    config = parse_config("""
site_id: s
gateway_id: g
buses: [{id: b, url: /dev/null}]
devices: [{id: smoke-1, bus: b, profile: smoke_concentration, unit_id: 1}]
web:
  names: {devices: {smoke-1: 烟感, smoke-9: 不存在}}
  plan: {image: plan.png, positions: {smoke-1: [0.5, 0.5], gate-x: [0.1, 0.1]}}
""")
    assert [str(p) for p in reference_problems(config)] == [
        "web.names.devices.smoke-9: not a configured device, gate, lift or facade camera",
        "web.plan.positions.gate-x: not a configured device, gate, lift or facade camera",
    ]


def test_bad_guard_room_settings_name_the_field() -> None:
    import pytest

    from edge.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as info:
        parse_config(
            "site_id: s\ngateway_id: g\nweb:\n  timezone: Mars/Olympus\n  plan: {image: p.png, "
            "positions: {d: [1.5, 0]}}\nalarms: {response_target_s: {critical: 0}}\n"
        )
    text = str(info.value)
    assert "web.timezone: unknown time zone 'Mars/Olympus'" in text
    assert "web.plan.positions: d: x and y are fractions" in text
    assert "alarms.response_target_s: response_target_s.critical: must be between 1" in text
