"""Configuration: every problem is reported with the field and its line; secrets come from files or env."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from edge.config import ConfigError, parse_config

GOOD = """\
site_id: harbour-view
gateway_id: gw-guardroom
mqtt:
  host: broker.local
  port: 8883
  password: {env: EDGE_MQTT_PASSWORD}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text))
    return [str(p) for p in info.value.problems]


def test_a_good_config_loads_with_defaults():
    config = parse_config(GOOD)
    assert config.mqtt.port == 8883 and config.mqtt.protocol == "5" and config.outbox.synchronous == "FULL"


def test_unknown_key_is_an_error_with_its_line():
    found = problems(GOOD + "  colour: blue\n")
    assert found == ["mqtt.colour: unknown key (line 7)"]


def test_out_of_range_value_names_the_field_and_line():
    found = problems(GOOD.replace("8883", "70000"))
    assert found == ["mqtt.port: Input should be less than or equal to 65535 (line 5)"]


def test_every_problem_is_reported_at_once():
    found = problems("""\
        site_id: "bad id!"
        gateway_id: gw1
        mqtt: {protocol: "4", keepalive_s: 1}
        outbox: {max_messages: 5}
    """)
    wheres = [p.split(":")[0] for p in found]
    assert wheres == ["site_id", "mqtt.protocol", "mqtt.keepalive_s", "outbox.max_messages"]


def test_missing_required_field():
    assert problems("gateway_id: gw1\n") == ["site_id: Field required (line 1)"]


def test_yaml_syntax_error_has_a_line():
    found = problems("site_id: a\ngateway_id: [unclosed\n")
    assert len(found) == 1 and found[0].startswith("<yaml>:") and "(line" in found[0]


def test_secret_needs_exactly_one_source():
    found = problems(GOOD.replace("{env: EDGE_MQTT_PASSWORD}", "{env: X, value: y}"))
    assert found == ["mqtt.password: give exactly one of value, file, env (got value, env) (line 6)"]


def test_secrets_from_file_and_environment(tmp_path, monkeypatch):
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cret\n")
    config = parse_config(GOOD.replace("{env: EDGE_MQTT_PASSWORD}", f"{{file: {secret_file}}}"))
    assert config.mqtt.password.reveal() == "s3cret"
    monkeypatch.setenv("EDGE_MQTT_PASSWORD", "from-env")
    assert parse_config(GOOD).mqtt.password.reveal() == "from-env"
    monkeypatch.delenv("EDGE_MQTT_PASSWORD")
    with pytest.raises(ValueError, match="EDGE_MQTT_PASSWORD is not set"):
        parse_config(GOOD).mqtt.password.reveal()


def test_tls_cert_without_key_is_rejected():
    found = problems(GOOD + "  tls: {ca_file: /etc/ca.pem, cert_file: /etc/c.pem}\n")
    assert found == ["mqtt.tls: cert_file and key_file go together (mutual TLS needs both) (line 7)"]


def test_check_config_cli_prints_problems_and_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD + "  port: 0\n".replace("  port: 0", "  retries: 3"))
    run = subprocess.run([sys.executable, "-m", "edge", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "mqtt.retries: unknown key (line 7)" in run.stderr
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    run = subprocess.run([sys.executable, "-m", "edge", "check-config", str(good)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout


def test_loadgen_section_belongs_to_its_tool_not_to_edge_run(tmp_path):
    config = tmp_path / "load.yaml"
    config.write_text(GOOD + "loadgen: {devices: 2, rate: 10}\n")
    run = subprocess.run([sys.executable, "-m", "edge", "check-config", str(config)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "loadgen: unknown key: the synthetic load is a benchmark tool" in run.stderr
    assert "python -m simulators.loadgen run --config FILE" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "simulators.loadgen", "check-config", str(config)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr


def test_example_config_is_valid():
    from pathlib import Path

    from edge.config import load_config

    example = Path(__file__).resolve().parents[2] / "config" / "gateway.example.yaml"
    config = load_config(example)
    assert config.devices, "the example documents devices"


def test_check_config_reports_wiring_mistakes_between_sections(tmp_path):
    bad = tmp_path / "wiring.yaml"
    bad.write_text(
        GOOD
        + textwrap.dedent("""\
        buses: [{id: rs485, url: /dev/ttyUSB0}]
        devices: [{id: relay-1, bus: rs485, profile: relay_board, unit_id: 1}]
        gates:
          - {id: relay-1, camera: "0", door: {relay_device: relay-9}}
    """)
    )
    run = subprocess.run([sys.executable, "-m", "edge", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "gates[0].id: 'relay-1' is also a device id" in run.stderr
    assert "gates[0].door.relay_device: device 'relay-9' is not configured" in run.stderr


def test_duplicate_bus_and_device_ids_are_errors():
    found = problems(
        GOOD
        + textwrap.dedent("""\
        buses: [{id: a, url: /dev/ttyUSB0}, {id: a, url: /dev/ttyUSB1}]
        devices:
          - {id: d, bus: a, profile: relay_board, unit_id: 1}
          - {id: d, bus: a, profile: relay_board, unit_id: 2}
    """)
    )
    assert "buses: bus id 'a' is used twice (line 7)" in found
    assert "devices: device id 'd' is used twice (line 9)" in found
