"""Refusals are not deliveries: a real mosquitto whose ACL denies the events topics (issue 11, finding 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.core.types import Event, Severity
from tests.conftest import start_mosquitto
from tests.edge.gwrun import running
from tests.support import Broker, Subscriber, async_wait_for, free_port, make_config

BASE = "ce/v1/site1/gw1"
ALLOW_ALL_BUT_EVENTS = f"""topic readwrite {BASE}/status
topic readwrite {BASE}/telemetry/#
topic readwrite {BASE}/devices/#
topic readwrite {BASE}/commands/#
topic read #
"""
DYNSEC = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")  # Debian's mosquitto package


def dynsec_denying_subscribe(workdir: Path, topic: str) -> str:
    """mosquitto's acl_file checks subscriptions only at delivery; its dynamic-security plugin refuses the SUBACK."""
    if not DYNSEC.exists():
        pytest.fail(f"{DYNSEC} is missing: it comes with Debian's mosquitto package (apt-get install mosquitto)")
    config = {
        "defaultACLAccess": {
            "publishClientSend": True,
            "publishClientReceive": True,
            "subscribe": True,
            "unsubscribe": True,
        },
        "clients": [],
        "groups": [{"groupname": "anon", "roles": [{"rolename": "deny"}], "clients": []}],
        "roles": [
            {
                "rolename": "deny",
                "acls": [{"acltype": "subscribeLiteral", "topic": topic, "allow": False, "priority": 0}],
            }
        ],
        "anonymousGroup": "anon",
    }
    path = workdir / "dynsec.json"
    path.write_text(json.dumps(config))
    return f"plugin {DYNSEC}\nplugin_opt_config_file {path}\n"


def acl_broker(tmp_path: Path, acl: dict[str, str | None]) -> Broker:
    """A broker whose ACL is ``acl['text']`` (None: no ACL) each time it starts."""

    def start(port: int, workdir: Path):
        extra = ""
        if acl["text"] is not None:
            path = workdir / f"acl-{port}"
            path.write_text(acl["text"])
            extra = f"acl_file {path}\n"
        return start_mosquitto(port, workdir, extra)

    broker = Broker(free_port(), tmp_path, start)
    broker.start()
    return broker


def alarm(gw, kind: str):
    return next((a for a in gw.alarms.active() if a.kind == kind), None)


async def test_refused_events_stay_in_the_outbox_raise_an_alarm_and_go_out_once_allowed(tmp_path):
    acl = {"text": ALLOW_ALL_BUT_EVENTS}
    broker = acl_broker(tmp_path, acl)
    sub = Subscriber(broker.host, broker.port, topics=[f"{BASE}/events/#"]).start()
    try:
        config = make_config(tmp_path, broker.port)
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10, "connected")
            ids = []
            for i in range(20):
                event = Event(kind="smoke", device=f"smoke-{i}", severity=Severity.CRITICAL)
                ids.append(event.id)
                await gw.emit(event)
            refused = await async_wait_for(lambda: alarm(gw, "uplink.refused"), 10, "the uplink.refused alarm")
            assert refused.details["topic"].startswith(f"{BASE}/events/")
            assert refused.details["reason"] == "Not authorized"
            state = gw.state()["uplink"]
            assert state["refused"] and all(r["reason"] == "Not authorized" for r in state["refused"])
            counted = gw.metrics.refused.labels("publish")._value.get  # the alarm comes at the first refusal
            await async_wait_for(lambda: counted() >= 20, 10, "every event's refusal counted")
            # nothing counted as delivered: every event is still on disk (plus the alarm's own, also refused)
            assert gw.outbox.depth >= 20
            assert sub.snapshot(f"{BASE}/events/") == []
            # the broker's ACL is fixed: the same events go out, none lost, and the alarm clears
            acl["text"] = None
            broker.stop()
            broker.start()
            got = await async_wait_for(
                lambda: (lambda seen: seen if set(ids) <= seen else None)(
                    {m.json()["id"] for m in sub.snapshot(f"{BASE}/events/")}
                ),
                30,
                "every refused event",
            )
            assert set(ids) <= got
            await async_wait_for(lambda: alarm(gw, "uplink.refused") is None, 15, "the alarm cleared")
            await async_wait_for(lambda: gw.outbox.depth == 0, 15, "outbox drained")
    finally:
        sub.stop()
        broker.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_refused_command_subscription_marks_commands_unavailable(tmp_path, platform_keys, protocol):
    extra = dynsec_denying_subscribe(tmp_path, f"{BASE}/commands")
    broker = Broker(free_port(), tmp_path, lambda port, workdir: start_mosquitto(port, workdir, extra))
    broker.start()
    try:
        _, public = platform_keys
        config = make_config(
            tmp_path, broker.port, commands={"platform_public_key": {"file": str(public)}}, mqtt={"protocol": protocol}
        )
        async with running(config) as gw:
            unavailable = await async_wait_for(lambda: alarm(gw, "commands.unavailable"), 10, "commands.unavailable")
            assert "refused" in unavailable.details["reason"] and f"{BASE}/commands" in unavailable.details["reason"]
            state = gw.state()["uplink"]
            assert state["commands_available"] is False
            assert gw.uplink.connected.is_set()  # the uplink keeps delivering what it may
    finally:
        broker.stop()
