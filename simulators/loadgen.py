"""Synthetic load for benchmarks and soak tests: readings from many virtual devices at a fixed rate.

It feeds the pipeline directly (no wire protocol), so the core (rules, outbox, uplink) is what gets measured.
With ``journal`` set, it also emits one fact event every ``event_every`` readings and appends the id of each
event to the journal *after* the gateway accepted it (it is on disk): a kill test then checks that every
journalled event reached the broker.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from edge.core.configbase import Strict
from edge.core.runtime import Component, Context
from edge.core.types import Event, Reading, Severity

TICK_S = 0.005


class LoadgenConfig(Strict):
    devices: int = Field(default=32, ge=1, le=100_000, description="virtual devices load-0000, load-0001, ...")
    keys: int = Field(default=10, ge=1, le=1000, description="fields per device, r0..rN-1")
    rate: float = Field(default=1000.0, gt=0, le=1_000_000, description="readings per second in all")
    event_every: int = Field(default=0, ge=0, description="emit one event every N readings (0: none)")
    journal: Path | None = Field(default=None, description="file that lists accepted event ids")
    total: int = Field(default=0, ge=0, description="stop after this many readings (0: run forever)")


class Loadgen:
    name = "loadgen"

    def __init__(self, config: LoadgenConfig) -> None:
        self.config = config
        self.sent = 0

    async def run(self, ctx: Context) -> None:
        c = self.config
        journal = open(c.journal, "a", buffering=1) if c.journal else None  # noqa: SIM115, ASYNC230
        start = time.monotonic()
        try:
            while not c.total or self.sent < c.total:
                due = int((time.monotonic() - start) * c.rate) - self.sent
                if c.total:
                    due = min(due, c.total - self.sent)
                while due > 0:
                    # one device's keys at a time, as one poll of a register block would give them
                    n = self.sent
                    device = f"load-{(n // c.keys) % c.devices:04d}"
                    block = min(due, c.keys - n % c.keys)
                    if c.event_every:
                        block = min(block, c.event_every - n % c.event_every)
                    now = time.time()
                    await ctx.readings.put_many(
                        [Reading(device, f"r{i % c.keys}", i, now) for i in range(n, n + block)]
                    )
                    self.sent += block
                    due -= block
                    if c.event_every and self.sent % c.event_every == 0:
                        await self._event(ctx, device, self.sent - 1, journal)
                await asyncio.sleep(TICK_S)
        finally:
            if journal:
                journal.close()

    async def _event(self, ctx: Context, device: str, n: int, journal: object) -> None:
        event = Event(kind="load.mark", device=device, severity=Severity.INFO, details={"n": n})
        await ctx.emit(event)
        if journal is not None:
            journal.write(f"{event.id} {device} {n}\n")  # type: ignore[attr-defined]
            os.fsync(journal.fileno())  # type: ignore[attr-defined]


def build_components(config: Any) -> list[Component]:
    section = getattr(config, "loadgen", None)
    return [] if section is None else [Loadgen(section)]


def register() -> None:
    """Make ``loadgen:`` a config section and its generator a component of the gateway this process runs."""
    from edge.components import register_factory
    from edge.config import register_section

    register_section("loadgen", LoadgenConfig, description="synthetic load, for benchmarks and soak runs")
    register_factory(build_components)


def main() -> None:  # pragma: no cover - console entry point
    register()
    from edge.cli import main as edge_main

    edge_main()


if __name__ == "__main__":  # pragma: no cover
    main()
