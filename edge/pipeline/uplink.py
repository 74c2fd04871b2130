"""The MQTT uplink: publishes the outbox in order with QoS 1 and takes platform commands.

One connection at a time (aiomqtt). On connect: the retained birth message, the subscriptions for
commands, then the outbox from its oldest message. Up to ``max_inflight`` messages await their PUBACK at
once; they are handed to the client in ``seq`` order on one connection, so each device's order holds.
A message is removed from the outbox only after its PUBACK. When the connection fails, whatever was not
acknowledged is sent again on the next connection (duplicates carry the same event id).

Reconnects use exponential back-off with full jitter, so hundreds of gateways that lost the same broker
do not come back in lockstep. With TLS configured, a failed handshake is retried with TLS, never in plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.core.metrics import Metrics
from edge.core.types import Incoming
from edge.pipeline.formats import UplinkFormat
from edge.pipeline.outbox import Outbox, Stored

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)
# aiomqtt warns at every publish past ten awaiting PUBACK; a window of them is the design here
_client_log = logging.getLogger("edge.pipeline.uplink.client")
_client_log.setLevel(logging.ERROR)

FETCH_BATCH = 500
ACK_FLUSH_S = 0.02


CommandSink = Callable[[Incoming], Awaitable[None]]


@dataclass
class Backoff:
    """Exponential back-off with full jitter: delay n is uniform in [0, min(cap, base * 2**n)]."""

    base: float
    cap: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        delay = self.rng.uniform(self.base / 2, min(self.cap, self.base * 2 ** self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


def tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    tls = config.mqtt.tls
    if tls is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = tls.check_hostname
    if tls.cert_file and tls.key_file:
        password = tls.key_password.reveal() if tls.key_password else None
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file), password=password)
    return ctx


class Uplink:
    def __init__(
        self, config: GatewayConfig, outbox: Outbox, fmt: UplinkFormat, metrics: Metrics, on_command: CommandSink,
    ) -> None:
        self._config = config
        self._mqtt = config.mqtt
        self._outbox = outbox
        self._fmt = fmt
        self._metrics = metrics
        self._on_command = on_command
        self._acked: list[int] = []
        self._acks_pending = asyncio.Event()
        self._backoff = Backoff(self._mqtt.reconnect_min_s, self._mqtt.reconnect_max_s)
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self._client: aiomqtt.Client | None = None

    def _make_client(self) -> aiomqtt.Client:
        m = self._mqtt
        status_topic, offline = self._fmt.status(False)
        v5 = m.protocol == "5"
        return aiomqtt.Client(
            m.host, m.port,
            logger=_client_log,
            identifier=m.client_id or f"{self._config.site_id}-{self._config.gateway_id}",
            username=m.username,
            password=m.password.reveal() if m.password else None,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(status_topic, offline, qos=1, retain=True),
            keepalive=m.keepalive_s,
            tls_context=tls_context(self._config),
            max_inflight_messages=m.max_inflight,
            timeout=30,
            clean_session=None if v5 else True,
        )

    async def run(self) -> None:
        while True:
            try:
                client = self._make_client()
                async with client:
                    self._client = client
                    await self._session(client)
            except* (aiomqtt.MqttError, ssl.SSLError, OSError) as group:
                self.last_error = "; ".join(str(e) for e in group.exceptions)
            finally:
                self._client = None
                if self.connected.is_set() and self.last_error:
                    log.warning("broker connection lost: %s", self.last_error)
                self.connected.clear()
                self.connected_since = None
                self._metrics.broker_connected.set(0)
            await self._flush_acks()
            delay = self._backoff.next_delay()
            log.info("reconnecting in %.1f s (%s)", delay, self.last_error)
            await asyncio.sleep(delay)

    async def _session(self, client: aiomqtt.Client) -> None:
        topic, online = self._fmt.status(True)
        await client.publish(topic, online, qos=1, retain=True)
        for command_topic in self._fmt.command_topics:
            await client.subscribe(command_topic, qos=1)
        self._backoff.reset()
        self.connected.set()
        self.connected_since = time.time()
        self.last_error = None
        self._metrics.broker_connected.set(1)
        log.info("connected to %s:%s", self._mqtt.host, self._mqtt.port)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._publish_outbox(client), name="uplink-publish")
            tg.create_task(self._receive(client), name="uplink-receive")
            tg.create_task(self._ack_flusher(), name="uplink-acks")

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props else None
            corr = getattr(props, "CorrelationData", None) if props else None
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            incoming = Incoming(message.topic.value, payload, response, corr)
            asyncio.ensure_future(self._on_command(incoming))

    async def _publish_outbox(self, client: aiomqtt.Client) -> None:
        window = asyncio.Semaphore(self._mqtt.max_inflight)
        cursor = 0
        pending = self._outbox.new_messages
        async with asyncio.TaskGroup() as tg:
            while True:
                pending.clear()
                rows = await self._outbox.fetch(cursor, FETCH_BATCH)
                if not rows:
                    await pending.wait()
                    continue
                for row in rows:
                    await window.acquire()
                    tg.create_task(self._publish_one(client, row, window))
                    cursor = row.seq

    async def _publish_one(self, client: aiomqtt.Client, row: Stored, window: asyncio.Semaphore) -> None:
        m = row.message
        props = None
        if m.corr is not None and self._mqtt.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no annotations here
            props.CorrelationData = m.corr
        try:
            await client.publish(m.topic, m.payload, qos=1, retain=m.retain, properties=props)
        finally:
            window.release()
        self._acked.append(row.seq)
        self._acks_pending.set()
        self._metrics.published.inc()
        self._metrics.publish_latency.observe(max(0.0, time.time() - row.created))

    async def _ack_flusher(self) -> None:
        """Remove acknowledged messages in batches: at most one delete transaction per ACK_FLUSH_S."""
        while True:
            await self._acks_pending.wait()
            await asyncio.sleep(ACK_FLUSH_S)
            self._acks_pending.clear()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        if self._acked:
            acked, self._acked = self._acked, []
            await self._outbox.remove(acked)
            self._metrics.outbox_depth.set(self._outbox.depth)

    async def publish_offline(self) -> None:
        """Clean shutdown: the retained offline status, as the will would have said it."""
        client = self._client
        if client is not None and self.connected.is_set():
            topic, offline = self._fmt.status(False)
            with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
                await asyncio.wait_for(client.publish(topic, offline, qos=1, retain=True), 5)

    async def drain(self, timeout: float) -> bool:
        """Wait until the outbox is empty (for a clean shutdown); False if the time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self._flush_acks()
            if self._outbox.depth == 0:
                return True
            if not self.connected.is_set():
                return False
            await asyncio.sleep(0.05)
        return False
