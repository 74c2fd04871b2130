"""config/gateway.example.yaml documents every field of the config models, loads, and its errors point home.

The field check walks GatewayConfig (nested models, lists, dicts of models, optional models, unions) beside
the example's YAML: every field must appear as a key somewhere at its path, live or as a commented-out
alternative (``# key: value``), so a field added to a model without documenting it here fails, naming it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from edge.config import config_model, load_config, parse_config
from edge.core.configbase import Secret
from simulators import loadgen

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "gateway.example.yaml"
# The example documents the benchmark-only loadgen section too; its tool registers it (as `python -m
# simulators.loadgen` does), so the walk below sees it.
loadgen.register()
GatewayConfig = config_model()
COMMENTED_KEY = re.compile(r"^(\s*)# (\s*)([a-z_][a-z0-9_]*:(?:\s.*)?)$")


def uncomment(text: str, start: int = 0) -> str:
    """Turn the commented-out ``# key: value`` lines from line index ``start`` on into live ones."""
    lines = text.splitlines(keepends=True)
    for i in range(start, len(lines)):
        match = COMMENTED_KEY.match(lines[i].rstrip("\n"))
        if match:
            lines[i] = match.group(1) + match.group(2) + match.group(3) + "\n"
    return "".join(lines)


def with_loadgen(text: str) -> str:
    """The example with its benchmark-only loadgen block enabled."""
    start = next(i for i, line in enumerate(text.splitlines()) if line.startswith("# loadgen:"))
    return uncomment(text, start)


def _members(annotation: Any) -> list[Any]:
    """The alternatives of an optional / union / annotated type, None left out."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) if arg is not type(None) for m in _members(arg)]
    return [annotation]


def _tag_matches(model: type[BaseModel], node: dict) -> bool:
    """A node of a union belongs to a member model unless one of its Literal-typed keys says otherwise."""
    for name, field in model.model_fields.items():
        if get_origin(field.annotation) is Literal and name in node and node[name] not in get_args(field.annotation):
            return False
    return True


def walk(annotation: Any, nodes: list[Any], path: str, missing: list[str], unknown: list[str]) -> None:
    """Compare one type with every YAML value found at ``path``; collect missing fields and unknown keys."""
    for member in _members(annotation):
        origin = get_origin(member)
        if origin is list:
            items = [item for node in nodes if isinstance(node, list) for item in node]
            walk(get_args(member)[0], items, f"{path}[]", missing, unknown)
        elif origin is dict:
            values = [v for node in nodes if isinstance(node, dict) for v in node.values()]
            walk(get_args(member)[1], values, f"{path}.*", missing, unknown)
        elif isinstance(member, type) and issubclass(member, BaseModel):
            mappings = [n for n in nodes if isinstance(n, dict) and _tag_matches(member, n)]
            for key in sorted({k for n in mappings for k in n} - set(member.model_fields)):
                unknown.append(f"{path}.{key}" if path else key)
            for name, field in member.model_fields.items():
                sub = f"{path}.{name}" if path else name
                present = [n[name] for n in mappings if name in n]
                if not present:
                    missing.append(sub)
                    continue
                walk(field.annotation, present, sub, missing, unknown)


def all_fields(annotation: Any, path: str = "") -> list[tuple[str, Any]]:
    """(path, FieldInfo) of every field reachable from ``annotation``, in the walk's path notation."""
    out = []
    for member in _members(annotation):
        if get_origin(member) is list:
            out += all_fields(get_args(member)[0], f"{path}[]")
        elif get_origin(member) is dict:
            out += all_fields(get_args(member)[1], f"{path}.*")
        elif isinstance(member, type) and issubclass(member, BaseModel):
            for name, field in member.model_fields.items():
                sub = f"{path}.{name}" if path else name
                out += [(sub, field), *all_fields(field.annotation, sub)]
    return out


def secrets_in(value: Any, path: str = "") -> list[tuple[str, Secret]]:
    if isinstance(value, Secret):
        return [(path, value)]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in secrets_in(getattr(value, name), f"{path}.{name}")]
    if isinstance(value, list):
        return [s for i, item in enumerate(value) for s in secrets_in(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [s for k, item in value.items() for s in secrets_in(item, f"{path}.{k}")]
    return []


# --- (a) the example loads ---------------------------------------------------------------------------------


def test_example_loads_with_every_section_filled():
    from edge.gate.component import check_references as check_gates
    from edge.lift.component import check_references as check_lifts

    config = load_config(EXAMPLE)
    assert (config.site_id, config.gateway_id) == ("harbour-view", "guardroom")
    assert config.loadgen is None, "loadgen is benchmark-only: commented out in the example"
    urls = [bus.url for bus in config.buses]
    assert any(u.startswith("/dev/") for u in urls), "an RTU bus on a serial port"
    assert any(u.startswith("socket://") for u in urls), "an RTU bus behind a serial-over-TCP converter"
    assert any(bus.is_tcp for bus in config.buses), "a Modbus TCP bus"
    profiles = {p.stem for p in (ROOT / "drivers" / "profiles").glob("*.yaml")}
    assert profiles <= {d.profile for d in config.devices}, "one device of every profile"
    assert config.gates and config.lifts and config.web.enabled and config.home_assistant.enabled
    assert config.mqtt.tls is not None and config.mqtt.tls.cert_file is not None, "TLS with a client certificate"
    # what only the components check (at start-up): the relays and contacts named are configured devices
    check_gates(config)
    check_lifts(config)
    run = subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "ok: site harbour-view, gateway guardroom, 3 bus(es), 7 device(s)" in run.stdout


def test_example_secrets_come_from_files_or_the_environment():
    config = load_config(EXAMPLE)
    found = secrets_in(config)
    assert {path for path, _ in found} >= {
        ".mqtt.password",
        ".mqtt.tls.key_password",
        ".commands.platform_public_key",
        ".web.users[0].password",
        ".web.metrics_token",
    }
    inline = [path for path, secret in found if secret.value is not None]
    assert not inline, f"inline secrets in the example: {inline}"


def test_example_loadgen_block_is_valid_when_enabled():
    config = parse_config(with_loadgen(EXAMPLE.read_text()), source="example+loadgen")
    assert config.loadgen is not None
    assert config.loadgen.devices == 32


# --- (b) every field is documented ------------------------------------------------------------------------


def test_example_shows_every_field_of_the_models():
    documented = yaml.safe_load(uncomment(EXAMPLE.read_text()))
    missing: list[str] = []
    unknown: list[str] = []
    walk(GatewayConfig, [documented], "", missing, unknown)
    assert not missing, f"fields not shown in {EXAMPLE.name} (add them with a comment): {', '.join(missing)}"
    assert not unknown, f"keys in {EXAMPLE.name} (live or commented out) that are no field: {', '.join(unknown)}"


def test_walk_names_a_missing_field():
    documented = yaml.safe_load(uncomment(EXAMPLE.read_text()))
    del documented["lifts"][0]["confirm"]["ignore_iou"]
    del documented["devices"][0]["inputs"][0]["rule"]["release"]
    documented["web"]["session"]["max_session"] = 3
    missing: list[str] = []
    unknown: list[str] = []
    walk(GatewayConfig, [documented], "", missing, unknown)
    assert missing == ["devices[].inputs[].rule.release", "lifts[].confirm.ignore_iou"]
    assert unknown == ["web.session.max_session"]


def test_every_field_has_a_description():
    undocumented = [path for path, field in all_fields(GatewayConfig) if not field.description]
    assert not undocumented, f"config fields without a description: {', '.join(undocumented)}"


# --- (c) check-config points at the field and line of each mistake ----------------------------------------

# (path in the example, with list items named by id; replacement YAML text; expected message)
CASES: list[tuple[tuple[Any, ...], str, str]] = [
    (("site_id",), '"harbour view"', "String should match pattern"),
    (("mqtt", "port"), "70000", "Input should be less than or equal to 65535"),
    (("mqtt", "tls", "check_hostname"), "maybe", "Input should be a valid boolean"),
    (("outbox", "max_messages"), "10", "Input should be greater than or equal to 100"),
    (("outbox", "synchronous"), "OFF", "Input should be 'FULL' or 'NORMAL'"),
    (("pipeline", "queue_size"), "5", "Input should be greater than or equal to 10"),
    (("commands", "clock_skew_s"), "-1", "Input should be greater than or equal to 0"),
    (("buses", "mbtcp-binyard", "retries"), "9", "Input should be less than or equal to 5"),
    (("buses", "rs485-block-b", "stopbits"), "3", "Input should be 1 or 2"),
    (("devices", "bin-yard-1", "unit_id"), "300", "Input should be less than or equal to 247"),
    (("devices", "di-guardroom", "inputs", 1, "channel"), "200", "Input should be less than or equal to 124"),
    (
        ("devices", "smoke-a-bikeroom", "rules", "smoke_concentration", "raise_hold_s"),
        "-2",
        "Input should be greater than or equal to 0",
    ),
    (("gates", "main-gate", "door", "unlock_s"), "30", "Input should be less than or equal to 10"),
    (("gates", "main-gate", "tolerance"), "1.9", "Input should be less than or equal to 1.5"),
    (("lifts", "lift-a1", "motion", "threshold"), "0", "Input should be greater than or equal to 1"),
    (("lifts", "lift-a1", "voice", "channel"), "64", "Input should be less than or equal to 63"),
    (("web", "users", "supervisor", "name"), '"no spaces"', "String should match pattern"),
    (("web", "session", "max_sessions"), "0", "Input should be greater than or equal to 1"),
    (("home_assistant", "refresh_s"), "0.01", "Input should be greater than or equal to 0.2"),
    (("loadgen", "rate"), "0", "Input should be greater than 0"),
]


def _locate(root: yaml.Node, steps: tuple[Any, ...]) -> tuple[str, yaml.Node]:
    """Follow ``steps`` through the composed YAML; list items are named by index, id or name."""
    where, node = "", root
    for step in steps:
        if isinstance(node, yaml.SequenceNode):
            if isinstance(step, int):
                index = step
            else:
                index = next(
                    i
                    for i, item in enumerate(node.value)
                    if any(k.value in ("id", "name") and v.value == step for k, v in item.value)
                )
            where, node = f"{where}[{index}]", node.value[index]
        else:
            where = f"{where}.{step}" if where else step
            node = next(v for k, v in node.value if k.value == step)
    return where, node


def test_check_config_names_field_and_line_of_each_mistake(tmp_path):
    text = with_loadgen(EXAMPLE.read_text())
    root = yaml.compose(text)
    edits = []
    expected = {}
    for steps, replacement, message in CASES:
        where, node = _locate(root, steps)
        assert isinstance(node, yaml.ScalarNode), where
        edits.append((node.start_mark.index, node.end_mark.index, replacement))
        expected[where] = (message, node.start_mark.line + 1)
    # an unknown key, and a secret given two ways
    where, node = _locate(root, ("buses", "mbtcp-binyard"))
    key = next(k for k, _ in node.value if k.value == "offline_after")
    edits.append((key.start_mark.index, key.end_mark.index, "offline_afer"))
    expected[f"{where}.offline_afer"] = ("unknown key", key.start_mark.line + 1)
    where, node = _locate(root, ("mqtt", "password"))
    alternative = text.index("# env: EDGE_MQTT_PASSWORD", node.start_mark.index)
    edits.append((alternative, alternative + 2, ""))  # uncommented beside the live file:
    expected[where] = ("give exactly one of value, file, env (got file, env)", node.start_mark.line + 1)
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)

    # `edge check-config` with the loadgen section known, as the benchmarks run it
    run = subprocess.run(
        [sys.executable, "-m", "simulators.loadgen", "check-config", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "400"},
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    problems = {}
    for line in run.stderr.splitlines():
        match = re.fullmatch(r"  (\S+): (.*) \(line (\d+)\)", line)
        if match:
            problems[match.group(1)] = (match.group(2), int(match.group(3)))
    assert f"{len(expected)} problem(s)" in run.stderr, run.stderr
    for where, (message, line) in expected.items():
        assert where in problems, f"{where} not reported:\n{run.stderr}"
        got_message, got_line = problems[where]
        assert got_message.startswith(message), (where, got_message)
        assert got_line == line, (where, got_line, line)
