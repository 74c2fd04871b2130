"""Oversized messages (issue 11, finding 7): mosquitto's message_size_limit drops an event that is too large and
paho then loses the connection; the gateway resent it for ever and every alarm behind it waited."""

from __future__ import annotations

import os

from edge.core.types import Event, Severity
from tests.conftest import start_mosquitto
from tests.edge.gwrun import running
from tests.support import Broker, Subscriber, async_wait_for, free_port, make_config

BASE = "ce/v1/site1/gw1"
LIMIT = 20_000


async def test_an_event_too_large_for_the_broker_goes_without_its_picture_and_blocks_nothing(tmp_path):
    broker = Broker(free_port(), tmp_path, lambda port, wd: start_mosquitto(port, wd, f"message_size_limit {LIMIT}\n"))
    broker.start()
    sub = Subscriber(broker.host, broker.port, topics=[f"{BASE}/events/#"]).start()
    try:
        config = make_config(tmp_path, broker.port, mqtt={"max_message_bytes": LIMIT})
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            picture = os.urandom(40_000)  # a lift snapshot: 53 KB in base64, over the broker's limit
            big = Event(kind="ebike_in_lift", device="lift-1", severity=Severity.CRITICAL, snapshot_jpeg=picture)
            small = Event(kind="ebike_in_lift", device="lift-2", severity=Severity.CRITICAL, snapshot_jpeg=b"jpg")
            await gw.emit(big)
            behind = [Event(kind="smoke", device=f"s{i}", severity=Severity.CRITICAL) for i in range(20)]
            for e in [small, *behind]:
                await gw.emit(e)
            ids = {e.id for e in [big, small, *behind]}
            got = await async_wait_for(
                lambda: (lambda m: m if ids <= set(m) else None)({x.json()["id"]: x.json() for x in sub.snapshot()}),
                15,
                "every event, the big one included",
            )
            assert "snapshot_jpeg" not in got[big.id] and got[big.id]["snapshot_ref"] == f"{big.id}.jpg"
            assert (config.data_dir / "snapshots" / f"{big.id}.jpg").read_bytes() == picture
            assert "snapshot_jpeg" in got[small.id]  # a picture that fits still travels
            assert gw.uplink.connected.is_set()
            # the last PUBACKs are applied to the outbox in the next acknowledgement flush
            await async_wait_for(lambda: gw.outbox.depth == 0, 5, "the outbox emptied by the PUBACKs")
    finally:
        sub.stop()
        broker.stop()


async def test_the_connack_maximum_packet_size_is_respected(tmp_path):
    broker = Broker(free_port(), tmp_path, lambda port, wd: start_mosquitto(port, wd, f"max_packet_size {LIMIT}\n"))
    broker.start()
    sub = Subscriber(broker.host, broker.port, topics=[f"{BASE}/events/#"]).start()
    try:
        config = make_config(tmp_path, broker.port)  # no max_message_bytes: the broker's CONNACK says it
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            client = gw.uplink._client
            assert client is not None and client.max_packet_size == LIMIT
            big = Event(
                kind="ebike_in_lift", device="lift-1", severity=Severity.CRITICAL, snapshot_jpeg=os.urandom(40_000)
            )
            after = Event(kind="smoke", device="s1", severity=Severity.CRITICAL)
            await gw.emit(big)
            await gw.emit(after)
            got = await async_wait_for(
                lambda: (lambda m: m if {big.id, after.id} <= set(m) else None)(
                    {x.json()["id"]: x.json() for x in sub.snapshot()}
                ),
                15,
                "both events",
            )
            assert got[big.id]["snapshot_ref"] == f"{big.id}.jpg"
    finally:
        sub.stop()
        broker.stop()
