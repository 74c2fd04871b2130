"""A minimal platform-side client: signs and sends commands, reads results and events.

It is what the community platform does, in a few lines, for ``edge send-command``, ``edge watch``, the demo and
the tests. It is not used by the gateway itself.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

from edge.config import GatewayConfig
from edge.pipeline.mqtt_client import make_client
from edge.pipeline.signing import load_private_key, sign_command
from edge.pipeline.topics import Topics


class PlatformClient:
    def __init__(self, config: GatewayConfig, private_key: Path, *, client_id: str | None = None) -> None:
        self._config = config
        self._key = load_private_key(private_key)
        topics = Topics.of(config)
        self.command_topic = topics.commands
        self.result_topic = topics.command_result
        self.base = topics.base
        # the gateway's broker settings (TLS, credentials, protocol): the same factory as the gateway's clients
        self._client = make_client(config, role="platform", identifier=client_id or f"platform-{uuid.uuid4().hex[:8]}")
        self._results: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> PlatformClient:
        await self._client.__aenter__()
        await self._client.subscribe(self.result_topic, qos=1)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._reader.cancel()
        await self._client.__aexit__(et, e, tb)

    async def _read(self) -> None:
        async for message in self._client.messages:
            if message.topic.matches(self.result_topic):
                self._results.put_nowait(json.loads(message.payload))

    def sign(
        self, action: str, *, target: str, args: dict[str, Any], ttl: float = 60.0, request_id: str | None = None
    ) -> dict[str, Any]:
        now = time.time()
        command = {
            "site_id": self._config.site_id,
            "gateway_id": self._config.gateway_id,
            "request_id": request_id or str(uuid.uuid4()),
            "target": target,
            "action": action,
            "args": args,
            "issued_at": now,
            "expires_at": now + ttl,
        }
        return sign_command(self._key, command)

    async def send(
        self, action: str, *, target: str, args: dict[str, Any], ttl: float = 60.0, request_id: str | None = None
    ) -> str:
        command = self.sign(action, target=target, args=args, ttl=ttl, request_id=request_id)
        await self._client.publish(self.command_topic, json.dumps(command), qos=1)
        request: str = command["request_id"]
        return request

    async def results(self, request_id: str, *, timeout: float) -> AsyncIterator[dict[str, Any]]:
        """The gateway's answers to one request, until a final one or the timeout."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                result = await asyncio.wait_for(self._results.get(), left)
            except TimeoutError:
                return
            if result.get("request_id") == request_id:
                yield result
                if result["status"] != "accepted":
                    return
