"""End to end through a real mosquitto: order, schemas, birth and will, the outbox bound."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge.core.types import Reading
from simulators.loadgen import Loadgen, LoadgenConfig
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "v1"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def validate_native(messages, base: str) -> None:
    """Every message the gateway emitted matches the schema of its topic."""
    by_topic = {"telemetry": "telemetry", "events": "event", "devices": "availability"}
    for m in messages:
        rest = m.topic[len(base) + 1 :]
        if rest == "status":
            jsonschema.validate(m.json(), schema("status"))
        elif rest == "commands/result":
            jsonschema.validate(m.json(), schema("command-result"))
        elif rest == "commands":
            continue
        else:
            jsonschema.validate(m.json(), schema(by_topic[rest.split("/")[0]]))


async def test_readings_arrive_in_order_and_match_schemas(tmp_path, mosquitto):
    config = make_config(tmp_path, mosquitto.port)
    base = "ce/v1/site1/gw1"
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        gen = Loadgen(LoadgenConfig(devices=4, keys=5, rate=2000, total=2000, event_every=100))
        async with running(config, [gen]):

            def all_values() -> set[int]:
                got = set()
                for m in sub.snapshot(f"{base}/telemetry/"):
                    got.update(r["value"] for r in m.json()["readings"])
                return got

            await async_wait_for(lambda: len(all_values()) == 2000, 30, "2000 readings at the subscriber")
            await async_wait_for(lambda: len(sub.snapshot(f"{base}/events/")) == 20, 10, "20 events")
        messages = sub.snapshot()
    finally:
        sub.stop()
    validate_native(messages, base)
    # per device: telemetry values strictly increasing, seqs 1..n with no gap and no reordering
    for device in {f"load-{i:04d}" for i in range(4)}:
        stream = [m.json() for m in messages if m.topic in (f"{base}/telemetry/{device}", f"{base}/events/{device}")]
        seqs = [body["seq"] for body in stream]
        assert seqs == list(range(1, len(seqs) + 1)), f"{device}: seqs {seqs[:20]}..."
        values = [r["value"] for body in stream if "readings" in body for r in body["readings"]]
        assert values == sorted(values) and len(values) == len(set(values))
    status = [m for m in messages if m.topic == f"{base}/status"]
    assert status[0].json()["state"] == "online"
    assert status[-1].json()["state"] == "offline", "a clean stop publishes the offline status"


async def test_birth_is_retained_and_will_fires_on_connection_loss(tmp_path, mosquitto):
    config = make_config(tmp_path, mosquitto.port, mqtt={"keepalive_s": 5})
    base = "ce/v1/site1/gw1"
    async with running(config) as gw:
        await async_wait_for(gw.uplink.connected.is_set, 10, "connection")
        late = Subscriber(mosquitto.host, mosquitto.port, [f"{base}/status"]).start()
        try:
            retained = await async_wait_for(lambda: late.snapshot(f"{base}/status"), 5, "retained status")
            assert retained[0].retain and retained[0].json()["state"] == "online"
        finally:
            late.stop()
    after = Subscriber(mosquitto.host, mosquitto.port, [f"{base}/status"]).start()
    try:
        got = await async_wait_for(lambda: after.snapshot(f"{base}/status"), 5, "retained status after stop")
        assert got[-1].json()["state"] == "offline"
    finally:
        after.stop()


async def test_outbox_bound_evicts_telemetry_never_alarms(tmp_path, mosquitto):
    mosquitto.stop()  # no broker: everything stays in the outbox
    config = make_config(tmp_path, mosquitto.port, outbox={"max_messages": 100, "max_readings_per_message": 1})
    async with running(config) as gw:
        for i in range(30):
            await gw.alarms.update(f"smoke-{i}", "smoke", active=True)
        for i in range(300):
            await gw.readings.put(Reading("meter", "v", i))
            if i % 50 == 0:
                await async_wait_for(lambda: gw.readings.qsize() == 0, 5)
        await async_wait_for(lambda: gw.readings.qsize() == 0, 5)
        await gw.writer.flush()
        for i in range(30, 40):
            await gw.alarms.update(f"smoke-{i}", "smoke", active=True)
        assert gw.outbox.depth <= 100 + 10
        rows = await gw.outbox.fetch(0, 10_000)
    kinds = [json.loads(r.message.payload) for r in rows]
    alarms = [k for k in kinds if k.get("kind") == "smoke"]
    assert len(alarms) == 40, "every alarm event kept"
    full = [k for k in kinds if k.get("kind") == "outbox.full"]
    assert full and full[0]["state"] == "raised"
    telemetry = [k["readings"][0]["value"] for k in kinds if "readings" in k]
    assert telemetry and telemetry == sorted(telemetry) and telemetry[-1] == 299, "the newest telemetry is kept"
    assert 0 not in telemetry, "the oldest telemetry was evicted"


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_both_protocol_versions_deliver(tmp_path, mosquitto, protocol):
    config = make_config(tmp_path, mosquitto.port, mqtt={"protocol": protocol})
    sub = Subscriber(mosquitto.host, mosquitto.port).start()
    try:
        async with running(config) as gw:
            await gw.readings.put(Reading("dev", "x", 1.5))
            await async_wait_for(lambda: sub.snapshot("ce/v1/site1/gw1/telemetry/dev"), 10, "telemetry")
    finally:
        sub.stop()


async def test_metrics_show_outbox_depth_and_age_while_the_broker_is_away(tmp_path, mosquitto):
    mosquitto.stop()
    config = make_config(tmp_path, mosquitto.port)
    async with running(config) as gw:
        await gw.alarms.update("smoke-1", "smoke", active=True)
        m = gw.metrics
        await async_wait_for(lambda: m.outbox_oldest_age._value.get() > 1.0, 10, "outbox age above 1 s")
        assert m.outbox_depth._value.get() >= 1 and m.broker_connected._value.get() == 0
        mosquitto.start()
        await async_wait_for(lambda: gw.outbox.depth == 0, 15, "drained")
        await async_wait_for(lambda: m.outbox_oldest_age._value.get() == 0, 10, "age back to 0")
        assert m.publish_latency._sum.get() > 1.0, "the alarm waited in the outbox for the broker"
