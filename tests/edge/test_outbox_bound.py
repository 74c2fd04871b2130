"""A hard bound on the whole outbox with a policy per row kind (issue 11, finding 6)."""

from __future__ import annotations

from edge.pipeline.outbox import Kind, Message, Outbox


def rows(kind: Kind, n: int, topic: str = "t") -> list[Message]:
    return [Message("d", kind, f"{topic}/{kind.name}", b"x") for _ in range(n)]


async def kinds(outbox: Outbox) -> dict[Kind, int]:
    out: dict[Kind, int] = {}
    for row in await outbox._run(outbox._fetch, 0, 10_000):
        out[row.message.kind] = out.get(row.message.kind, 0) + 1
    return out


async def test_telemetry_goes_first_then_results_then_facts_and_alarms_are_kept_longest(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_messages=100, synchronous="NORMAL")
    await outbox.open()
    try:
        await outbox.append(rows(Kind.TELEMETRY, 60) + rows(Kind.RESULT, 20) + rows(Kind.FACT, 20))
        await outbox.append(rows(Kind.EVENT, 30))
        assert await kinds(outbox) == {Kind.TELEMETRY: 30, Kind.RESULT: 20, Kind.FACT: 20, Kind.EVENT: 30}
        await outbox.append(rows(Kind.EVENT, 40))
        assert await kinds(outbox) == {Kind.RESULT: 10, Kind.FACT: 20, Kind.EVENT: 70}
        await outbox.append(rows(Kind.EVENT, 40))
        assert await kinds(outbox) == {Kind.EVENT: 110}  # alarms beyond the bound: nothing else is left
        result = await outbox.append(rows(Kind.TELEMETRY, 5))
        assert result.dropped == 5 and outbox.depth == 110  # new telemetry refused and counted
    finally:
        await outbox.close()


async def test_retained_state_keeps_only_the_newest_row_per_topic(tmp_path):
    outbox = Outbox(tmp_path / "o.db", max_messages=1000, synchronous="NORMAL")
    await outbox.open()
    try:
        for i in range(10):
            await outbox.append(
                [
                    Message("dev", Kind.STATE, "base/devices/dev/availability", b"%d" % i, retain=True),
                    Message("dev2", Kind.STATE, "base/devices/dev2/availability", b"%d" % i, retain=True),
                ]
            )
        stored = await outbox._run(outbox._fetch, 0, 100)
        assert sorted((r.message.topic, r.message.payload) for r in stored) == [
            ("base/devices/dev/availability", b"9"),
            ("base/devices/dev2/availability", b"9"),
        ]
        assert outbox.depth == 2
    finally:
        await outbox.close()


async def test_state_of_many_devices_on_one_topic_is_kept_for_each_device(tmp_path):
    """ThingsBoard announces every device on v1/gateway/connect: one device's announcement must not supersede
    another's (it did, and ThingsBoard never heard of the first device when both were queued)."""
    outbox = Outbox(tmp_path / "o.db", max_messages=1000, synchronous="NORMAL")
    await outbox.open()
    try:
        for device in ("dev1", "dev2", "dev1"):
            await outbox.append([Message(device, Kind.STATE, "v1/gateway/connect", device.encode())])
        stored = await outbox._run(outbox._fetch, 0, 100)
        assert sorted((r.message.stream, r.message.topic) for r in stored) == [
            ("dev1", "v1/gateway/connect"),
            ("dev2", "v1/gateway/connect"),
        ]
        assert outbox.depth == 2
    finally:
        await outbox.close()
