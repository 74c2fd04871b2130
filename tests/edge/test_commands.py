"""Commands over a real broker: accepted and answered, or rejected with the reason and an event."""

from __future__ import annotations

import base64
import json
import time
import uuid

import aiomqtt
import jsonschema
import pytest

from edge.core.types import Severity
from edge.pipeline.signing import load_private_key, sign_command
from tests.edge.gwrun import running
from tests.edge.test_gateway_e2e import schema
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"


def command(action: str = "ack_alarm", **overrides) -> dict:
    now = time.time()
    body = {
        "site_id": "site1",
        "gateway_id": "gw1",
        "request_id": str(uuid.uuid4()),
        "target": "gw1",
        "action": action,
        "args": {},
        "issued_at": now,
        "expires_at": now + 60,
    }
    body.update(overrides)
    return body


@pytest.fixture
def gw_config(tmp_path, mosquitto, platform_keys):
    _, public = platform_keys
    return make_config(
        tmp_path,
        mosquitto.port,
        commands={"platform_public_key": {"file": str(public)}, "response_topic_prefixes": ["platform/replies/"]},
    )


async def send(mosquitto, payload: bytes, **kw) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        await c.publish(f"{BASE}/commands", payload, qos=1, **kw)


def results(sub: Subscriber) -> list[dict]:
    return [m.json() for m in sub.snapshot(f"{BASE}/commands/result")]


async def test_signed_ack_alarm_is_accepted_then_done(gw_config, mosquitto, platform_keys):
    key = load_private_key(platform_keys[0])
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(gw_config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            alarm = await gw.alarms.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL)
            cmd = sign_command(key, command(args={"alarm_id": alarm.alarm_id, "by": "guard-7"}))
            await send(mosquitto, json.dumps(cmd).encode())
            got = await async_wait_for(lambda: [r for r in results(sub) if r["status"] == "done"], 10, "done")
            assert got[0]["request_id"] == cmd["request_id"]
            assert [r["status"] for r in results(sub)] == ["accepted", "done"]
            assert gw.alarms.get(alarm.alarm_id).acknowledged_by == "guard-7"
            events = await async_wait_for(
                lambda: [
                    m.json() for m in sub.snapshot(f"{BASE}/events/smoke-1") if m.json()["state"] == "acknowledged"
                ],
                10,
                "acknowledged event",
            )
            assert events[0]["alarm_id"] == alarm.alarm_id
        for r in results(sub):
            jsonschema.validate(r, schema("command-result"))
    finally:
        sub.stop()


def _without(body: dict, field: str) -> dict:
    return {k: v for k, v in body.items() if k != field}


def _signed_v1(key, body: dict) -> dict:
    """What a v1 signer sent: Python's json.dumps of the body, no version, no audience check."""
    body = {k: v for k, v in body.items() if k not in ("site_id", "gateway_id")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return {**body, "signature": base64.b64encode(key.sign(text)).decode()}


def _forged(key):
    cmd = sign_command(key, command())
    cmd["target"] = "gate-9"  # changed after signing
    return json.dumps(cmd).encode()


CASES = {
    "malformed JSON": (lambda key: b"{not json", "malformed JSON"),
    "not an object": (lambda key: b"[1, 2]", "JSON object"),
    "unsigned": (lambda key: json.dumps({**command(), "v": 2, "signature": ""}).encode(), "unsigned"),
    "version 1": (lambda key: json.dumps(_signed_v1(key, command())).encode(), "command version 1"),
    "version 3": (
        lambda key: json.dumps({**sign_command(key, command()), "v": 3}).encode(),
        "unsupported command version 3",
    ),
    "for another gateway": (
        lambda key: json.dumps(sign_command(key, command(gateway_id="gw2"))).encode(),
        "signed for site1/gw2, not for this gateway (site1/gw1)",
    ),
    "for another site": (
        lambda key: json.dumps(sign_command(key, command(site_id="site9"))).encode(),
        "signed for site9/gw1",
    ),
    "NaN issued_at": (
        lambda key: json.dumps({**command(issued_at=float("nan")), "v": 2, "signature": "x"}).encode(),
        "field 'issued_at' is not a finite number",
    ),
    "overflowing number in args": (
        lambda key: (
            json.dumps({**command(), "v": 2, "signature": "x"}).replace('"args": {}', '"args": {"s": [1e999]}').encode()
        ),
        "field 'args.s[0]' is not a finite number",
    ),
    "missing field": (
        lambda key: json.dumps(sign_command(key, _without(command(), "target"))).encode(),
        "missing field 'target'",
    ),
    "forged": (_forged, "bad signature"),
    "expired": (
        lambda key: json.dumps(
            sign_command(key, command(issued_at=time.time() - 120, expires_at=time.time() - 60))
        ).encode(),
        "expired",
    ),
    "too long-lived": (
        lambda key: json.dumps(sign_command(key, command(expires_at=time.time() + 86_000))).encode(),
        "lifetime",
    ),
    "unknown action": (
        lambda key: json.dumps(sign_command(key, command(action="self_destruct"))).encode(),
        "unknown action",
    ),
    "wrong argument types": (
        lambda key: json.dumps(sign_command(key, command(args=["alarm"]))).encode(),
        "field 'args' must be dict",
    ),
    "wrong time type": (
        lambda key: json.dumps(sign_command(key, command(expires_at="soon"))).encode(),
        "field 'expires_at' must be number",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_commands_are_rejected_logged_and_reported(case, gw_config, mosquitto, platform_keys, caplog):
    key = load_private_key(platform_keys[0])
    make, reason = CASES[case]
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(gw_config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            await send(mosquitto, make(key))
            got = await async_wait_for(lambda: results(sub), 10, "a result")
            rejected = await async_wait_for(
                lambda: [
                    m.json() for m in sub.snapshot(f"{BASE}/events/gw1") if m.json()["kind"] == "command.rejected"
                ],
                10,
                "rejection event",
            )
    finally:
        sub.stop()
    assert got[0]["status"] == "rejected" and reason in got[0]["reason"], got
    assert reason in rejected[0]["details"]["reason"]
    assert any("rejected" in r.message for r in caplog.records)
    assert len(results(sub)) == 1, "nothing but the rejection"


async def test_replayed_command_is_rejected_even_after_restart(gw_config, mosquitto, platform_keys):
    key = load_private_key(platform_keys[0])
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(gw_config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            alarm = await gw.alarms.update("bin-1", "bin.full", active=True)
            payload = json.dumps(sign_command(key, command(args={"alarm_id": alarm.alarm_id}))).encode()
            await send(mosquitto, payload)
            await async_wait_for(lambda: [r for r in results(sub) if r["status"] == "done"], 10, "done")
            await send(mosquitto, payload)
            await async_wait_for(lambda: [r for r in results(sub) if r["status"] == "rejected"], 10, "replay")
        async with running(gw_config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            await send(mosquitto, payload)
            await async_wait_for(lambda: len([r for r in results(sub) if r["status"] == "rejected"]) == 2, 10)
    finally:
        sub.stop()
    assert all("replayed" in r["reason"] for r in results(sub) if r["status"] == "rejected")


async def test_mqtt5_response_topic_and_correlation_data(gw_config, mosquitto, platform_keys):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    key = load_private_key(platform_keys[0])
    async with running(gw_config) as gw:
        await async_wait_for(gw.uplink.connected.is_set, 10)
        alarm = await gw.alarms.update("beam-1", "beam", active=True)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
            await c.subscribe("platform/replies/42", qos=1)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "platform/replies/42"
            props.CorrelationData = b"corr-42"
            cmd = sign_command(key, command(args={"alarm_id": alarm.alarm_id}))
            await c.publish(f"{BASE}/commands", json.dumps(cmd), qos=1, properties=props)
            seen = []
            async for message in c.messages:
                seen.append((json.loads(message.payload)["status"], message.properties.CorrelationData))
                if len(seen) == 2:
                    break
    assert seen == [("accepted", b"corr-42"), ("done", b"corr-42")]


async def test_a_command_captured_at_one_gateway_is_refused_by_another(tmp_path, mosquitto, platform_keys):
    """Finding 2: gw1's signed unlock, republished on gw2's command topic, was run by gw2 (same platform key)."""
    from edge.platform.client import PlatformClient

    private, public = platform_keys
    keys = {"platform_public_key": {"file": str(public)}}
    gw1_config = make_config(tmp_path / "gw1", mosquitto.port, commands=keys)
    gw2_config = make_config(tmp_path / "gw2", mosquitto.port, commands=keys, gateway_id="gw2")
    sub = Subscriber(
        mosquitto.host,
        mosquitto.port,
        topics=[f"{BASE}/commands", "ce/v1/site1/gw2/commands/#", "ce/v1/site1/gw2/events/#"],
    ).start()
    try:
        async with running(gw1_config) as gw1, running(gw2_config) as gw2:
            await async_wait_for(lambda: gw1.uplink.connected.is_set() and gw2.uplink.connected.is_set(), 10)
            alarm1 = await gw1.alarms.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL)
            alarm2 = await gw2.alarms.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL)
            async with PlatformClient(gw1_config, private) as platform:
                request_id = await platform.send("ack_alarm", target="gw1", args={"alarm_id": alarm1.alarm_id})
                answers = [r["status"] async for r in platform.results(request_id, timeout=10)]
            assert answers == ["accepted", "done"]
            captured = await async_wait_for(lambda: sub.snapshot(f"{BASE}/commands"), 10, "the captured command")
            await send_to(mosquitto, "ce/v1/site1/gw2/commands", json.dumps(captured[0].json()).encode())
            rejected = await async_wait_for(
                lambda: [
                    m.json()
                    for m in sub.snapshot("ce/v1/site1/gw2/events/gw2")
                    if m.json()["kind"] == "command.rejected"
                ],
                10,
                "gw2's rejection",
            )
            assert "not for this gateway (site1/gw2)" in rejected[0]["details"]["reason"]
            assert gw2.alarms.get(alarm2.alarm_id).acknowledged_by is None
    finally:
        sub.stop()


async def send_to(mosquitto, topic: str, payload: bytes, **kw) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as c:
        await c.publish(topic, payload, qos=1, **kw)


@pytest.mark.parametrize("signed", [False, True])
async def test_response_topic_only_for_verified_commands_under_an_allowed_prefix(
    signed, gw_config, mosquitto, platform_keys
):
    """Finding 4: the response topic of any command, even unsigned, made the gateway publish where it was told."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    key = load_private_key(platform_keys[0])
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=["evil/#", f"{BASE}/commands/result"]).start()
    try:
        async with running(gw_config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "evil/elsewhere"  # not under commands.response_topic_prefixes
            body = (
                sign_command(key, command(args={"alarm_id": "none"}))
                if signed
                else {**command(), "v": 2, "signature": ""}
            )
            await send_to(mosquitto, f"{BASE}/commands", json.dumps(body).encode(), properties=props)
            final = "failed" if signed else "rejected"
            await async_wait_for(lambda: [r for r in results(sub) if r["status"] == final], 10, "the answer")
    finally:
        sub.stop()
    assert sub.snapshot("evil/") == []
