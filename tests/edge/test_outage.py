"""The broker goes away for 30 s while readings keep coming: nothing is lost, order holds per device."""

from __future__ import annotations

import asyncio

from simulators.loadgen import Loadgen, LoadgenConfig
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"
OUTAGE_S = 30


def streams(sub: Subscriber) -> dict[str, list[dict]]:
    """Per device, the messages received with duplicates (same seq, same event id) removed."""
    out: dict[str, list[dict]] = {}
    for m in sub.snapshot(BASE + "/"):
        if "/telemetry/" in m.topic or "/events/" in m.topic:
            body = m.json()
            out.setdefault(body["device"], []).append(body)
    return out


def assert_complete_and_ordered(sub: Subscriber, total: int) -> None:
    values: list[int] = []
    for device, bodies in streams(sub).items():
        seen: dict[int, dict] = {}
        order: list[int] = []
        for body in bodies:
            if body["seq"] in seen:
                assert seen[body["seq"]] == body, f"{device}: seq {body['seq']} resent with other content"
                continue
            seen[body["seq"]] = body
            order.append(body["seq"])
        assert order == list(range(1, len(order) + 1)), f"{device}: first arrivals out of order or with a gap"
        values += [r["value"] for b in seen.values() if "readings" in b for r in b["readings"]]
    assert sorted(values) == list(range(total)), f"{total - len(set(values))} readings missing"


async def test_broker_outage_loses_nothing(tmp_path, mosquitto):
    config = make_config(tmp_path, mosquitto.port)
    rate, total = 400, 400 * (OUTAGE_S + 8)
    gen = Loadgen(LoadgenConfig(devices=8, keys=4, rate=rate, total=total, event_every=40))
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(config, [gen]) as gw:
            await async_wait_for(lambda: gen.sent > rate * 3, 10, "load running")
            mosquitto.stop()
            await async_wait_for(lambda: not gw.uplink.connected.is_set(), 10, "disconnect noticed")
            await asyncio.sleep(OUTAGE_S)  # the outage itself is what is tested
            depth_during = gw.outbox.depth
            mosquitto.start()
            await async_wait_for(lambda: gen.sent == total, 30, "all readings generated")
            await async_wait_for(lambda: gw.outbox.depth == 0, 120, "outbox drained")
            await async_wait_for(lambda: sum(len(b) for b in streams(sub).values()) >= 1, 10, "deliveries")
        assert depth_during > 100, "messages waited in the outbox during the outage"
        await async_wait_for(lambda: _count_values(sub) >= total, 30, "every reading at the subscriber")
    finally:
        sub.stop()
    assert_complete_and_ordered(sub, total)


def _count_values(sub: Subscriber) -> int:
    return len(
        {r["value"] for bodies in streams(sub).values() for b in bodies if "readings" in b for r in b["readings"]}
    )
