"""One MQTT client factory and one topic builder for every client (issue 10 item 5)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge.pipeline.formats import make_format
from edge.pipeline.mqtt_client import make_client
from edge.pipeline.topics import Topics
from edge.platform.client import PlatformClient
from tests.edge.gwrun import running
from tests.edge.test_tls import tls_broker, tls_section
from tests.support import async_wait_for, make_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fmt", ["native", "thingsboard"])
def test_every_format_honours_the_topic_prefix(fmt):
    f = make_format(fmt, prefix="acme/edge/v1", site_id="s1", gateway_id="g1")
    topic, _ = f.status(True)
    assert topic == "acme/edge/v1/s1/g1/status"
    if fmt == "native":
        assert f.command_topics == ["acme/edge/v1/s1/g1/commands"]
        assert f.availability("d", True).topic == "acme/edge/v1/s1/g1/devices/d/availability"


def test_topics_of_a_config(tmp_path):
    config = make_config(tmp_path, 1883, mqtt={"topic_prefix": "x/y"})
    t = Topics.of(config)
    assert (t.status, t.commands, t.command_result, t.events("d"), t.telemetry("d"), t.ha_state("d")) == (
        "x/y/site1/gw1/status",
        "x/y/site1/gw1/commands",
        "x/y/site1/gw1/commands/result",
        "x/y/site1/gw1/events/d",
        "x/y/site1/gw1/telemetry/d",
        "x/y/site1/gw1/ha/d/state",
    )


def test_no_module_builds_its_own_mqtt_client_or_base_topic():
    """Only edge/pipeline/mqtt_client.py builds aiomqtt clients; only edge/pipeline/topics.py joins the base topic."""
    offenders = []
    for path in list((ROOT / "edge").rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        if "aiomqtt.Client(" in text and not rel.endswith("mqtt_client.py"):
            offenders.append(f"{rel}: aiomqtt.Client(")
        if "topic_prefix}/" in text or '"ce/v1/' in text or 'f"ce/v1' in text:
            offenders.append(f"{rel}: builds a base topic")
    assert offenders == []


def test_the_factory_applies_the_mqtt_section(tmp_path):
    async def build():
        config = make_config(
            tmp_path, 1883, mqtt={"protocol": "3.1.1", "username": "u", "password": {"value": "p"}, "client_id": "cid"}
        )
        uplink = make_client(config, role="uplink")
        other = make_client(config, role="platform")
        commands = make_client(config, role="commands")
        return uplink, other, commands

    uplink, other, commands = asyncio.run(build())
    assert uplink._client._client_id == b"cid"
    assert commands._client._client_id == b"cid-cmd"  # stable: a broker ACL names it (docs/mqtt-api.md)
    assert commands._client._username == b"u" and not commands.v5
    assert other._client._client_id.startswith(b"cid-platform-")
    assert uplink._client._username == b"u" and uplink._client._password == b"p"
    assert not uplink.v5


async def test_send_command_client_uses_tls_like_the_gateway(tmp_path, platform_keys):
    """The platform client (edge send-command, edge watch) ignored mqtt.tls: against a TLS-only listener it failed."""
    private, public = platform_keys
    broker, tls_port = tls_broker(tmp_path)
    try:
        config = make_config(
            tmp_path,
            tls_port,
            mqtt={"tls": tls_section(tmp_path)},
            commands={"platform_public_key": {"file": str(public)}},
        )
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10, "gateway connected over TLS")
            async with PlatformClient(config, private) as platform:
                request_id = await platform.send("ack_alarm", target="gw1", args={"alarm_id": "nope"})
                answers = [r async for r in platform.results(request_id, timeout=10)]
        assert [a["status"] for a in answers] == ["accepted", "failed"]
        assert answers[-1]["reason"] == "no open alarm nope"
    finally:
        broker.stop()
