"""The command connection of its own (commands.connection: own): a listener process, supervised, refusals seen."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
from pathlib import Path

import pytest

from edge.pipeline.signing import load_private_key, sign_command
from tests.conftest import start_mosquitto
from tests.edge.gwrun import running
from tests.edge.test_commands import command, results, send
from tests.edge.test_refusals import DYNSEC, alarm
from tests.support import Broker, Subscriber, async_wait_for, free_port, make_config

BASE = "ce/v1/site1/gw1"


async def test_a_killed_listener_process_is_started_again_and_commands_flow(tmp_path, mosquitto, platform_keys):
    key = load_private_key(platform_keys[0])
    config = make_config(tmp_path, mosquitto.port, commands={"platform_public_key": {"file": str(platform_keys[1])}})
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            listener = gw.uplink.listener
            assert listener is not None and listener.state == "subscribed"
            first = listener.pid
            os.kill(first, signal.SIGKILL)
            await async_wait_for(lambda: listener.pid != first and listener.state == "subscribed", 20, "a new listener")
            cmd = sign_command(key, command(args={"alarm_id": "none"}))
            await send(mosquitto, json.dumps(cmd).encode())
            got = await async_wait_for(lambda: [r for r in results(sub) if r["status"] == "failed"], 10, "an answer")
            assert got[0]["request_id"] == cmd["request_id"] and "no open alarm" in got[0]["reason"]
            assert gw.uplink._client is not None and gw.uplink._client.received == 0  # never on the alarms' connection
        assert listener.pid is not None
        with pytest.raises(ProcessLookupError):  # the gateway's stop ends its listener
            os.kill(listener.pid, 0)
    finally:
        sub.stop()


def dynsec_one_client_id(workdir: Path, username: str, password: str, clientid: str) -> str:
    """mosquitto's dynamic-security plugin: ``username`` may connect only with ``clientid`` (a common broker ACL)."""
    if not DYNSEC.exists():
        pytest.fail(f"{DYNSEC} is missing: it comes with Debian's mosquitto package (apt-get install mosquitto)")
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    config = {
        "defaultACLAccess": {"publishClientSend": True, "publishClientReceive": True, "subscribe": True},
        "clients": [
            {
                "username": username,
                "clientid": clientid,
                "password": base64.b64encode(digest).decode(),
                "salt": base64.b64encode(salt).decode(),
                "iterations": 101,
                "roles": [],
            }
        ],
        "groups": [],
        "roles": [],
    }
    path = workdir / "dynsec.json"
    path.write_text(json.dumps(config))
    return f"plugin {DYNSEC}\nplugin_opt_config_file {path}\n"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_refused_command_connection_marks_commands_unavailable_and_events_flow(tmp_path, protocol):
    """A broker that lets the gateway's user connect only as '<client_id>': the '-cmd' connection is refused."""
    extra = dynsec_one_client_id(tmp_path, "gw", "secret", "site1-gw1")
    broker = Broker(free_port(), tmp_path, lambda port, workdir: start_mosquitto(port, workdir, extra))
    broker.start()
    try:
        config = make_config(
            tmp_path,
            broker.port,
            mqtt={"protocol": protocol, "username": "gw", "password": {"value": "secret"}},
        )
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            unavailable = await async_wait_for(lambda: alarm(gw, "commands.unavailable"), 10, "commands.unavailable")
            assert unavailable.details["reason"].startswith("command connection")
            assert gw.state()["uplink"]["commands_available"] is False
            assert gw.uplink.listener is not None and gw.uplink.listener.state == "refused"
            # the alarm itself went out on the publishing connection, which the broker accepts
            await async_wait_for(lambda: gw.outbox.depth == 0, 10, "the alarm event delivered")
    finally:
        broker.stop()


async def test_a_signed_command_gets_through_a_flood_of_junk(tmp_path, mosquitto, platform_keys):
    """Junk that does not look like a signed command has a twentieth of the rate: it cannot crowd out a command."""
    import asyncio

    from tests.edge.test_flood import flood

    key = load_private_key(platform_keys[0])
    config = make_config(
        tmp_path,
        mosquitto.port,
        commands={"platform_public_key": {"file": str(platform_keys[1])}, "max_rate_per_s": 20, "max_queued": 20},
    )
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            await asyncio.to_thread(flood, mosquitto.port, 2000)  # far past the rate and its burst
            cmd = sign_command(key, command(args={"alarm_id": "none"}))
            await send(mosquitto, json.dumps(cmd).encode())
            got = await async_wait_for(
                lambda: [r for r in results(sub) if r.get("request_id") == cmd["request_id"]],
                15,
                "the command answered",
            )
            assert got[0]["status"] == "accepted"
            m = gw.metrics
            await async_wait_for(
                lambda: m.commands_dropped._value.get() + m.commands.labels("rejected")._value.get() == 2000,
                10,
                "every junk message dropped or rejected, and counted",
            )
            assert m.commands.labels("rejected")._value.get() <= 20, "junk took no more than its share of the rate"
    finally:
        sub.stop()
