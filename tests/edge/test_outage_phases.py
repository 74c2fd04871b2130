"""Finding 0: the first seconds of an outage could be lost. The outage is repeated at many phases of the publish
window (right after a write, mid-batch, between writes), for both uplink formats, and every value is counted.
The ThingsBoard format carries no sequence: only counting every value shows a silent hole."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from edge.core.types import Reading
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config

DEVICES, KEYS, PERIOD_S = 8, 4, 0.02
PHASES_MS = [0, 3, 7, 11, 17, 23]  # where in the 20 ms write cycle the broker goes away


def values_seen(sub: Subscriber, fmt: str) -> set[tuple[str, str, int]]:
    seen: set[tuple[str, str, int]] = set()
    for m in sub.snapshot():
        if fmt == "native" and "/telemetry/" in m.topic:
            body = m.json()
            seen.update((body["device"], r["key"], r["value"]) for r in body["readings"])
        elif fmt == "thingsboard" and m.topic == "v1/gateway/telemetry":
            for device, rows in json.loads(m.payload).items():
                for row in rows:
                    seen.update((device, k, v) for k, v in row["values"].items() if k.startswith("k"))
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["native", "thingsboard"])
async def test_outages_at_every_phase_of_the_publish_window_lose_no_value(tmp_path, mosquitto, fmt):
    config = make_config(
        tmp_path, mosquitto.port, mqtt={"format": fmt, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}
    )
    topics = ["v1/gateway/telemetry"] if fmt == "thingsboard" else ["ce/v1/site1/gw1/telemetry/#"]
    sub = Subscriber(mosquitto.host, mosquitto.port, topics=topics).start()
    sent: set[tuple[str, str, int]] = set()
    n = 0
    try:
        async with running(config) as gw:
            await async_wait_for(gw.uplink.connected.is_set, 10)

            async def produce(seconds: float) -> None:
                nonlocal n
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    ts = time.time()
                    batch = [Reading(f"d{d}", f"k{k}", n, ts) for d in range(DEVICES) for k in range(KEYS)]
                    await gw.readings.put_many(batch)
                    sent.update((r.device, r.key, r.value) for r in batch)
                    n += 1
                    await asyncio.sleep(PERIOD_S)

            for phase in PHASES_MS:
                await produce(0.3)
                await asyncio.sleep(phase / 1000)
                stopper = asyncio.create_task(asyncio.to_thread(mosquitto.stop))
                await produce(0.6)  # values read while the broker goes and is gone
                await stopper
                await asyncio.to_thread(mosquitto.start)
                await produce(0.3)
            await async_wait_for(lambda: gw.outbox.depth == 0 and gw.uplink.connected.is_set(), 120, "drained")
            await async_wait_for(lambda: not (sent - values_seen(sub, fmt)), 30, "every value at the subscriber")
    finally:
        sub.stop()
    missing = sent - values_seen(sub, fmt)
    assert not missing, f"{len(missing)} of {len(sent)} values lost, e.g. {sorted(missing)[:5]}"
