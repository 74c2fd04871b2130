"""Per-device sequence numbers: kept (and stored) for formats whose payloads carry them, and only then."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from edge.core.metrics import Metrics
from edge.core.types import Event, Reading, Severity
from edge.pipeline.formats import NativeFormat, ThingsBoardFormat, UplinkFormat
from edge.pipeline.outbox import Outbox
from edge.pipeline.writer import OutboxWriter


async def _write_rounds(path: Path, fmt: UplinkFormat, rounds: int) -> tuple[dict[str, int], list[bytes]]:
    outbox = Outbox(path, max_messages=10_000)
    await outbox.open()
    writer = OutboxWriter(outbox, fmt, Metrics(), max_readings_per_message=100)
    try:
        for n in range(rounds):
            writer.add_readings([Reading(f"dev{d}", "r0", n, 1000.0 + n) for d in range(3)])
            await writer.flush()
        accepted = asyncio.create_task(writer.add_event(Event("smoke", "dev0", severity=Severity.CRITICAL)))
        await asyncio.sleep(0)  # queued; it is accepted once a round has written it
        await writer.flush()
        await accepted
        stored = await outbox.next_stream_seqs(["dev0", "dev1", "dev2"])
        payloads = [s.message.payload for s in await outbox.fetch(0, 100)]
        return stored, payloads
    finally:
        await outbox.close()


async def test_native_telemetry_seqs_are_stored_per_device(tmp_path: Path) -> None:
    stored, payloads = await _write_rounds(tmp_path / "o.db", NativeFormat("ce/v1", "s", "g"), 4)
    assert stored == {"dev0": 5, "dev1": 4, "dev2": 4}  # 4 telemetry messages each, and dev0's event
    assert [json.loads(p)["seq"] for p in payloads if json.loads(p).get("device") == "dev1"] == [1, 2, 3, 4]


async def test_thingsboard_telemetry_costs_no_stored_seqs(tmp_path: Path) -> None:
    stored, payloads = await _write_rounds(tmp_path / "o.db", ThingsBoardFormat("s", "g"), 4)
    assert stored == {"dev0": 1, "dev1": 0, "dev2": 0}  # only the event is numbered
    telemetry = [json.loads(p) for p in payloads if b'"event"' not in p]
    assert [row["dev2"][0]["values"]["r0"] for row in telemetry] == [0, 1, 2, 3]
