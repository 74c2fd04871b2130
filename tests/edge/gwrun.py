"""Run a Gateway in-process for a test, and stop it cleanly afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from edge.app import Gateway
from edge.config import GatewayConfig
from edge.core.runtime import Component


@contextlib.asynccontextmanager
async def running(config: GatewayConfig, components: Sequence[Component] = ()) -> AsyncIterator[Gateway]:
    gateway = Gateway(config, components)
    task = asyncio.create_task(gateway.run(), name="gateway")
    started = asyncio.create_task(gateway.started.wait())
    done, _ = await asyncio.wait({task, started}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the startup error
    try:
        yield gateway
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)
