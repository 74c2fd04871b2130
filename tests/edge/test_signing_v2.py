"""Command version 2: RFC 8785 canonical form, verified from a non-Python signer (Node.js) (issue 11, finding 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from edge.pipeline.signing import (
    SignatureError,
    canonical,
    load_private_key,
    load_public_key,
    sign_command,
    verify_command,
)
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

SIGNER = Path(__file__).parent / "js" / "sign_command.js"
BASE = "ce/v1/site1/gw1"


def node_sign(private_key: Path, body: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js) is not installed: apt-get install nodejs")
    out = subprocess.run(
        [node, str(SIGNER), str(private_key)],
        input=json.dumps(body).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def test_canonical_form_is_rfc8785():
    body = {"b": 1.0, "a": [1e21, 0.1, 1e-7, -0.0], "é": "😀\u2028", "A": True, "v": 2}
    assert canonical({**body, "signature": "x"}) == (
        '{"A":true,"a":[1e+21,0.1,1e-7,0],"b":1,"v":2,"é":"😀\u2028"}'.encode()
    )
    with pytest.raises(SignatureError, match="not canonicalizable"):
        canonical({"x": float("nan")})


def test_a_node_signature_verifies_with_awkward_numbers_and_text(platform_keys):
    private, public = platform_keys
    body = {
        "site_id": "site1",
        "gateway_id": "gw1",
        "request_id": str(uuid.uuid4()),
        "target": "gw1",
        "action": "x",
        "args": {
            "big": 1e21,
            "tenth": 0.1,
            "tiny": 1e-7,
            "one": 1.0,
            "text": "门禁 é 😀",
            "nested": {"z": 1, "a": [3, 2.5]},
        },
        "issued_at": 1795440000.25,
        "expires_at": 1795440060,
    }
    signed = node_sign(private, body)
    # what arrives is parsed as the gateway parses it (Python floats), then canonicalised again
    verify_command(load_public_key(public.read_text()), json.loads(json.dumps(signed)))
    python = sign_command(load_private_key(private), body)
    assert python["signature"] == signed["signature"]  # Ed25519 is deterministic: the same bytes were signed


async def test_the_gateway_runs_a_command_signed_in_node(tmp_path, mosquitto, platform_keys):
    import aiomqtt

    from edge.core.types import Severity

    private, public = platform_keys
    config = make_config(tmp_path, mosquitto.port, commands={"platform_public_key": {"file": str(public)}})
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/commands/result"]).start()
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            alarm = await gw.alarms.update("smoke-1", "smoke", active=True, severity=Severity.CRITICAL)
            now = time.time()
            body = {
                "site_id": "site1",
                "gateway_id": "gw1",
                "request_id": str(uuid.uuid4()),
                "target": "gw1",
                "action": "ack_alarm",
                "args": {"alarm_id": alarm.alarm_id, "by": "值班员 7"},
                "issued_at": round(now, 3),
                "expires_at": int(now) + 60,
            }
            signed = node_sign(private, body)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as c:
                await c.publish(f"{BASE}/commands", json.dumps(signed), qos=1)
            done = await async_wait_for(
                lambda: [m.json() for m in sub.snapshot() if m.json()["status"] != "accepted"], 10, "the final answer"
            )
            assert done[0]["status"] == "done", done
            assert gw.alarms.get(alarm.alarm_id).acknowledged_by == "值班员 7"
    finally:
        sub.stop()
