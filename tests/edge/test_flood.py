"""Bounded under a flood of junk commands (issue 11, finding 5): bounded inbox, aggregated rejections; with the
command connection of its own (the default), the connection that carries the alarms never sees a junk packet."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"


def flood(port: int, count: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(f"{BASE}/commands", b"junk %d" % i, qos=1) for i in range(count)]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


@pytest.mark.parametrize("connection", ["own", "shared"])
async def test_junk_commands_cost_a_bounded_number_of_rows_and_every_one_is_counted(tmp_path, mosquitto, connection):
    import asyncio

    config = make_config(
        tmp_path,
        mosquitto.port,
        commands={
            "rejection_summary_s": 1,
            "max_rejection_answers": 5,
            "max_queued": 10,
            "max_concurrent": 1,
            "connection": connection,
        },
    )
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=[f"{BASE}/events/gw1", f"{BASE}/commands/result"]).start()
    sent = 3000
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)
            await asyncio.to_thread(flood, mosquitto.port, sent)
            m = gw.metrics

            def accounted() -> bool:
                rejected = m.commands.labels("rejected")._value.get()
                return rejected + m.commands_dropped._value.get() == sent

            await async_wait_for(accounted, 30, "every junk message rejected or dropped, and counted")
            publishing = gw.uplink._client
            assert publishing is not None
            if connection == "own":
                assert publishing.received == 0, "junk reached the connection that carries the alarms"
            else:
                assert publishing.received == sent
            summaries = await async_wait_for(
                lambda: [
                    e
                    for e in (x.json() for x in sub.snapshot(f"{BASE}/events/gw1"))
                    if e["kind"] == "command.rejected" and e["details"].get("summary")
                ],
                10,
                "a summary",
            )
            rejected = int(m.commands.labels("rejected")._value.get())
            await async_wait_for(lambda: gw.dispatcher.rejections.total == rejected, 5)
            # let the last interval close, then count what reached the platform
            await async_wait_for(
                lambda: (
                    sum(
                        s["details"]["count"]
                        for s in (
                            e
                            for e in (x.json() for x in sub.snapshot(f"{BASE}/events/gw1"))
                            if e["kind"] == "command.rejected" and e["details"].get("summary")
                        )
                    )
                    + len(
                        [
                            e
                            for e in (x.json() for x in sub.snapshot(f"{BASE}/events/gw1"))
                            if e["kind"] == "command.rejected" and not e["details"].get("summary")
                        ]
                    )
                    >= rejected
                ),
                15,
                "the counts of every rejection in events",
            )
    finally:
        sub.stop()
    events = [x.json() for x in sub.snapshot(f"{BASE}/events/gw1") if x.json()["kind"] == "command.rejected"]
    results = sub.snapshot(f"{BASE}/commands/result")
    assert summaries and summaries[0]["details"]["by_reason"] == {"malformed JSON": summaries[0]["details"]["count"]}
    intervals = len([e for e in events if e["details"].get("summary")])
    # per interval: one detailed event, one summary, at most max_rejection_answers answers (not 2 rows per message)
    assert len(events) <= 2 * intervals + 1
    assert len(results) <= 5 * (intervals + 1)
    assert len(events) + len(results) < sent / 10


def test_the_dispatchers_inbox_is_bounded_in_bytes_too(tmp_path):
    """Big commands (enrolment photos travel in them) cannot fill the gateway's memory: past INBOX_MAX_BYTES of
    queued payload a command is dropped and counted, however few are queued."""
    from edge.core.metrics import Metrics
    from edge.core.types import Incoming
    from edge.pipeline.formats import make_format
    from edge.pipeline.uplink import INBOX_MAX_BYTES, Uplink

    config = make_config(tmp_path, 1883, commands={"max_queued": 100})
    fmt = make_format("native", prefix="ce/v1", site_id="site1", gateway_id="gw1")
    metrics = Metrics()

    async def ignore(incoming: Incoming) -> None:
        return None

    uplink = Uplink(config, None, fmt, metrics, ignore)  # type: ignore[arg-type]  # the outbox is not used here
    big = b"{" + b" " * (INBOX_MAX_BYTES // 4)
    for _ in range(5):
        uplink._take(Incoming(f"{BASE}/commands", big, None, None))
    assert uplink._inbox.qsize() == 3 and metrics.commands_dropped._value.get() == 2
    uplink._take(Incoming(f"{BASE}/commands", b"{}", None, None))  # a small one still fits
    assert uplink._inbox.qsize() == 4
