"""A bus task told to stop stops, even when the Modbus library swallows the cancellation (Python 3.11's
``asyncio.wait_for``, which pymodbus awaits its answers with, loses a cancel that arrives with the answer)."""

from __future__ import annotations

import asyncio

import pytest

from drivers.link import _raise_if_cancel_was_swallowed


async def answer_that_swallows_a_cancel(waiting: asyncio.Event | None = None) -> str:
    if waiting is not None:
        waiting.set()
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        return "answer"  # what wait_for does on 3.11 when the answer and the cancel meet
    return "late answer"


async def test_a_swallowed_cancel_still_stops_the_task() -> None:
    polls = 0
    waiting = asyncio.Event()

    async def bus_loop() -> None:
        nonlocal polls
        while True:
            await answer_that_swallows_a_cancel(waiting)
            _raise_if_cancel_was_swallowed()
            polls += 1

    task = asyncio.create_task(bus_loop())
    await asyncio.wait_for(waiting.wait(), 2)  # the loop is waiting for its answer
    task.cancel()
    async with asyncio.timeout(2):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert polls == 0, "the loop went on after it was told to stop"


async def test_without_a_cancel_the_answer_goes_through() -> None:
    async def one() -> str:
        await asyncio.sleep(0)
        _raise_if_cancel_was_swallowed()
        return "ok"

    assert await one() == "ok"
