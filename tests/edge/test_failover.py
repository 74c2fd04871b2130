"""The uplink takes a list of brokers and fails over between them (issue 11): a real clustered broker, 3 NATS nodes
with JetStream and MQTT on loopback. Under load, the node the gateway is connected to is killed: no accepted event
is lost, and the gateway is connected to another node within FAILOVER_S (measured and printed)."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.core.types import Event, Severity
from simulators.nats_cluster import ClusterError, NatsCluster
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

BASE = "ce/v1/site1/gw1"
FAILOVER_S = 20.0  # measured 10.2 s: NATS re-elects the JetStream leaders of the MQTT streams first


@pytest.fixture
def cluster(tmp_path):
    try:
        nodes = NatsCluster(tmp_path).start()
    except ClusterError as exc:
        pytest.fail(str(exc))
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.mark.slow
async def test_killing_the_connected_node_loses_nothing_and_fails_over(tmp_path, cluster):
    n1, n2, n3 = cluster.nodes
    sub = Subscriber("127.0.0.1", n3.mqtt_port, topics=[f"{BASE}/events/#"]).start()
    brokers = [{"host": "127.0.0.1", "port": n.mqtt_port} for n in (n1, n2, n3)]
    config = make_config(
        tmp_path,
        n1.mqtt_port,
        mqtt={
            "protocol": "3.1.1",
            "brokers": brokers,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 1.0,
            "connect_timeout_s": 3,
        },
    )
    accepted: list[str] = []
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 15, "connected to the first node")
            assert gw.uplink.node == ("127.0.0.1", n1.mqtt_port)
            stop = asyncio.Event()

            async def load() -> None:
                i = 0
                while not stop.is_set():
                    e = Event(kind="smoke", device=f"s{i % 8}", severity=Severity.CRITICAL, details={"i": i})
                    await gw.emit(e)
                    accepted.append(e.id)
                    i += 1
                    await asyncio.sleep(0.01)

            loader = asyncio.create_task(load())
            await async_wait_for(lambda: len(accepted) > 100, 10, "load running")
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, n1)
            await async_wait_for(
                lambda: gw.uplink.connected.is_set() and gw.uplink.node != ("127.0.0.1", n1.mqtt_port),
                FAILOVER_S,
                "connected to another node",
            )
            failover_s = time.monotonic() - killed_at
            after = len(accepted)
            await async_wait_for(lambda: len(accepted) > after + 100, 10, "load going on through the new node")
            stop.set()
            await loader
            await async_wait_for(lambda: gw.outbox.depth == 0, 30, "outbox drained through the new node")
            ids = set(accepted)
            got = await async_wait_for(
                lambda: (lambda seen: seen if ids <= seen else None)({m.json()["id"] for m in sub.snapshot()}),
                30,
                "every accepted event at the subscriber",
            )
            print(f"failover to {gw.uplink.node} in {failover_s:.2f} s; {len(ids)} events, all delivered")
    finally:
        sub.stop()
    assert ids <= got
    assert failover_s < FAILOVER_S
