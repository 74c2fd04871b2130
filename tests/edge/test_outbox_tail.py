"""The outbox's in-memory tail serves exactly what the file holds: after appends, acknowledgements,
eviction and a reopen, ``fetch`` from memory gives the same rows as a read of the file."""

from __future__ import annotations

from pathlib import Path

from edge.pipeline.outbox import TAIL_MAX, Kind, Message, Outbox


def _msgs(n: int, tag: str = "t", kind: Kind = Kind.TELEMETRY) -> list[Message]:
    return [Message("dev", kind, "topic", f"{tag}{i}".encode()) for i in range(n)]


async def _both(ob: Outbox, after: int) -> tuple[list, list]:
    mem = [(s.seq, s.message.payload) for s in await ob.fetch(after, 10_000)]
    disk = [(s.seq, s.message.payload) for s in await ob._run(ob._fetch, after, 10_000)]
    return mem, disk


async def test_tail_matches_file_through_acks_eviction_and_reopen(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_messages=20)
    await ob.open()
    try:
        result = await ob.append(_msgs(5, "a"))
        assert [s.seq for s in result.stored] == [1, 2, 3, 4, 5]
        mem, disk = await _both(ob, 0)
        assert mem == disk and len(mem) == 5
        mem, disk = await _both(ob, 3)
        assert mem == disk == [(4, b"a3"), (5, b"a4")]
        await ob.remove([1, 2])  # acknowledged: a fresh session (cursor 0) must not see them again
        mem, disk = await _both(ob, 0)
        assert mem == disk and [seq for seq, _ in mem] == [3, 4, 5]
        await ob.append(_msgs(18, "b"))  # 3 + 18 > 20: the oldest telemetry is evicted
        mem, disk = await _both(ob, 0)
        assert mem == disk and len(mem) == 20 and mem[0][0] == 4
        await ob.append(_msgs(1, "e", Kind.EVENT))
        mem, disk = await _both(ob, mem[-1][0] - 1)
        assert mem == disk and mem[-1][1] == b"e0"
    finally:
        await ob.close()
    ob = Outbox(tmp_path / "o.db", max_messages=20)
    await ob.open()
    try:
        mem, disk = await _both(ob, 0)
        assert mem == disk and len(mem) == 20
        await ob.append(_msgs(2, "c"))
        mem, disk = await _both(ob, 0)
        assert mem == disk and mem[-1][1] == b"c1"
    finally:
        await ob.close()


async def test_tail_gives_way_to_the_file_when_the_uplink_falls_behind(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_messages=10 * TAIL_MAX)
    await ob.open()
    try:
        for _ in range(3):
            await ob.append(_msgs(TAIL_MAX // 2 + 1))
        mem, disk = await _both(ob, 0)
        assert mem == disk and len(mem) == 3 * (TAIL_MAX // 2 + 1)
        assert [seq for seq, _ in mem] == list(range(1, len(mem) + 1))
    finally:
        await ob.close()
