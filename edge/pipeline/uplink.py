"""The MQTT uplink: publishes the outbox in order with QoS 1 and takes platform commands.

One publishing connection at a time (aiomqtt). On connect: the retained birth message; then the command
connection is pointed at the same node and waited for (``commands.connection: own``, the default: a listener
process of its own, edge/pipeline/command_listener.py, so a flood of junk commands never reaches this connection),
or, with ``shared``, the command subscription is made here; then the outbox from its oldest message. Up to
``max_inflight`` messages await their PUBACK at once; they are handed to the client in ``seq`` order on one
connection, so each device's order holds.
A message is removed from the outbox only after a PUBACK whose reason code is a success; a refusal
(MQTT 5 failure reason code, e.g. "Not authorized") keeps it there, retried with back-off, and raises the local
alarm ``uplink.refused`` (edge/pipeline/refusals.py). A refused command subscription raises ``commands.unavailable``.
When the connection fails, whatever was not
acknowledged is sent again on the next connection (duplicates carry the same event id).

Reconnects use exponential back-off with full jitter, so hundreds of gateways that lost the same broker
do not come back in lockstep. With TLS configured, a failed handshake is retried with TLS, never in plaintext.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.core.metrics import Metrics
from edge.core.types import Incoming
from edge.pipeline.command_listener import CommandProcess, ListenerSpec
from edge.pipeline.formats import UplinkFormat
from edge.pipeline.mqtt_client import AckedClient, Admission, Backoff, Refused, TokenBucket, make_client
from edge.pipeline.mqtt_client import tls_context as tls_context  # re-exported: older imports
from edge.pipeline.outbox import DiskFull, Message, Outbox, Stored
from edge.pipeline.oversize import limit_of, packet_size, without_picture
from edge.pipeline.refusals import Refusals

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)
# aiomqtt warns at every publish past ten awaiting PUBACK; a window of them is the design here
_client_log = logging.getLogger("edge.pipeline.uplink.client")
_client_log.setLevel(logging.ERROR)

FETCH_BATCH = 500
INBOX_MAX_BYTES = 64 * 2**20  # commands queued for the dispatcher hold at most this much payload (photos travel there)
ACK_FLUSH_S = 0.02


CommandSink = Callable[[Incoming], Awaitable[None]]
# kind, active, details: a local alarm on the gateway
AlarmHook = Callable[[str, bool, dict[str, Any]], Coroutine[Any, Any, None]]


class Uplink:
    def __init__(
        self,
        config: GatewayConfig,
        outbox: Outbox,
        fmt: UplinkFormat,
        metrics: Metrics,
        on_command: CommandSink,
        on_alarm: AlarmHook | None = None,
    ) -> None:
        self._config = config
        self._mqtt = config.mqtt
        self._commands = config.commands
        self._outbox = outbox
        self._fmt = fmt
        self._metrics = metrics
        self._on_command = on_command
        self._acked: list[int] = []
        self._acks_pending = asyncio.Event()
        self._backoff = Backoff.of(config)
        self.connected = asyncio.Event()
        self.last_error: str | None = None
        self.connected_since: float | None = None
        self._client: AckedClient | None = None
        self.node: tuple[str, int] = config.mqtt.nodes[0]  # the broker node of the current (or last) connection
        self.refusals = Refusals()
        self._on_alarm = on_alarm
        self._alarm_tasks: set[asyncio.Task[None]] = set()
        self._inbox: asyncio.Queue[Incoming] = asyncio.Queue(self._commands.max_queued)
        self._inbox_bytes = 0
        self.listener: CommandProcess | None = None  # the command connection's process (commands.connection: own)
        if self._commands.connection == "own":
            self.listener = CommandProcess(
                ListenerSpec.of(config, fmt.command_topics),
                on_message=self._take,
                on_dropped=self._metrics.commands_dropped.inc,
                on_state=self._listener_state,
            )

    def _make_client(self, node: tuple[str, int]) -> AckedClient:
        status_topic, offline = self._fmt.status(False)
        client = make_client(
            self._config,
            role="uplink",
            logger=_client_log,
            max_inflight=self._mqtt.max_inflight,
            max_queued_incoming=self._commands.max_queued,
            node=node,
            connect_timeout=self._mqtt.connect_timeout_s,
            will=aiomqtt.Will(status_topic, offline, qos=1, retain=True),
        )
        client.on_drop = self._metrics.commands_dropped.inc
        rate = self._commands.max_rate_per_s
        client.admission = Admission(TokenBucket(rate, max(rate, self._commands.max_queued)))
        return client

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for i in range(self._commands.max_concurrent):
                tg.create_task(self._handle_commands(), name=f"uplink-command-{i}")
            if self.listener is not None:
                tg.create_task(self.listener.run(), name="uplink-command-listener")
            await self._connect_forever()

    async def _connect_forever(self) -> None:
        """Connect, run a session, and on any failure move to the next broker node: at once while some node of
        the list has not been tried since the last session, with back-off once every node has failed."""
        nodes = self._mqtt.nodes
        index, tried = 0, 0
        while True:
            self.node = nodes[index]
            was_connected = False
            try:
                client = self._make_client(self.node)
                async with client:
                    was_connected = True
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
            index = (index + 1) % len(nodes)
            tried = 1 if was_connected else tried + 1
            if len(nodes) > 1 and tried < len(nodes):
                log.info("trying broker node %s:%s (%s)", *nodes[index], self.last_error)
                continue
            tried = 0
            delay = self._backoff.next_delay()
            log.info("reconnecting in %.1f s (%s)", delay, self.last_error)
            await asyncio.sleep(delay)

    def _alarm(self, kind: str, active: bool, details: dict[str, Any]) -> None:
        if self._on_alarm is not None:
            task = asyncio.get_running_loop().create_task(self._on_alarm(kind, active, details))
            self._alarm_tasks.add(task)
            task.add_done_callback(self._alarm_tasks.discard)

    async def _session(self, client: AckedClient) -> None:
        topic, online = self._fmt.status(True)
        # a node that takes CONNECT but cannot yet store (a NATS node whose JetStream leaders are being elected keeps
        # a retained PUBACK waiting) is not usable: after connect_timeout_s the next node is tried
        code = await client.publish_acked(topic, online, retain=True, timeout=self._mqtt.connect_timeout_s)
        if code.is_failure:  # the birth message is not in the outbox: noted as row 0, sent again next connect
            self._note_refusal(topic, 0, code, 0)
        elif self.refusals.delivered(topic, 0):
            self._alarm("uplink.refused", self.refusals.any, self.refusals.details())
        if self.listener is None:
            await self._subscribe_commands(client)
        else:  # the command connection follows this node; publishing waits for it a little, never for long
            self.listener.follow(self.node)
            await self.listener.ready(self._mqtt.connect_timeout_s)
        self._backoff.reset()
        self.connected.set()
        self.connected_since = time.time()
        self.last_error = None
        self._metrics.broker_connected.set(1)
        log.info("connected to %s:%s", *self.node)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._publish_outbox(client), name="uplink-publish")
            # also with a listener of its own: subscribed to nothing, the publishing connection's message stream
            # is what ends the session when the connection is lost while nothing is being published
            tg.create_task(self._receive(client), name="uplink-receive")
            tg.create_task(self._ack_flusher(), name="uplink-acks")

    async def _receive(self, client: AckedClient) -> None:
        """Until the connection is lost: incoming messages into a bounded inbox served by a fixed number of
        handlers; past the bound a message is dropped and counted (``edge_commands_dropped_total``), so a flood
        costs bounded memory and CPU."""
        async for message in client.messages:
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props else None
            corr = getattr(props, "CorrelationData", None) if props else None
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            self._take(Incoming(message.topic.value, payload, response, corr))

    def _take(self, incoming: Incoming) -> None:
        """Into the dispatcher's inbox, bounded in messages and in bytes; past either bound dropped and counted."""
        if self._inbox_bytes + len(incoming.payload) > INBOX_MAX_BYTES or self._inbox.full():
            self._metrics.commands_dropped.inc()
            return
        self._inbox.put_nowait(incoming)
        self._inbox_bytes += len(incoming.payload)

    def _listener_state(self, state: str, reason: str | None) -> None:
        """The command connection's reports: a refused CONNECT or SUBSCRIBE marks commands unavailable."""
        if state == "subscribed" and self.refusals.subscription is not None:
            log.warning("platform commands are available again")
            self._alarm("commands.unavailable", False, {})
            self.refusals.subscription = None
        elif state == "refused" and reason != self.refusals.subscription:
            log.error("%s: platform commands are unavailable", reason)
            self._metrics.refused.labels("subscribe").inc()
            self._alarm("commands.unavailable", True, {"reason": reason})
            self.refusals.subscription = reason
        elif state == "lost" and self.connected.is_set():
            log.info("command connection lost: %s", reason)

    async def _handle_commands(self) -> None:
        """One of ``commands.max_concurrent`` handlers; they outlive a connection, so a reconnect does not cut
        a command (an unlock, an enrolment) short."""
        while True:
            incoming = await self._inbox.get()
            self._inbox_bytes -= len(incoming.payload)
            await self._on_command(incoming)

    async def _publish_outbox(self, client: AckedClient) -> None:
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

    async def _subscribe_commands(self, client: AckedClient) -> None:
        """Subscribe to the command topics; a refused SUBACK marks commands unavailable (the session goes on)."""
        refused = None
        for command_topic in self._fmt.command_topics:
            try:
                await client.subscribe_checked(command_topic, qos=1)
            except Refused as exc:
                refused = str(exc)
                self._metrics.refused.labels("subscribe").inc()
        if refused is not None:
            log.error("%s: platform commands are unavailable", refused)
            self._alarm("commands.unavailable", True, {"reason": refused})
        elif self.refusals.subscription is not None:
            self._alarm("commands.unavailable", False, {})
        self.refusals.subscription = refused

    def _note_refusal(self, topic: str, seq: int, code: ReasonCode, attempt: int) -> float:
        self._metrics.refused.labels("publish").inc()
        delay = self.refusals.refused(topic, seq, code.getName(), code.value, attempt)
        self._alarm("uplink.refused", True, self.refusals.details())
        return delay

    async def _publish_one(self, client: AckedClient, row: Stored, window: asyncio.Semaphore) -> None:
        """Publish one row until the broker accepts it: a refusal (PUBACK failure code) is retried with back-off,
        the row stays in the outbox meanwhile and gives its place in the window to the others."""
        m = row.message
        props = None
        if m.corr is not None and self._mqtt.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]  # paho ships no annotations here
            props.CorrelationData = m.corr
        attempt = 0
        sendable = self._fit(client, m)
        while True:
            try:
                if sendable is None:  # too large even without a picture: a refusal of ours, never sent to be dropped
                    code = ReasonCode(PacketTypes.CONNACK, "Packet too large")  # 0x95
                else:
                    code = await client.publish_acked(
                        sendable.topic, sendable.payload, retain=sendable.retain, properties=props
                    )
            finally:
                window.release()
            if not code.is_failure:
                break
            await asyncio.sleep(self._note_refusal(row.message.topic, row.seq, code, attempt))
            attempt += 1
            await window.acquire()
        if self.refusals.any and self.refusals.delivered(m.topic, row.seq):
            self._alarm("uplink.refused", self.refusals.any, self.refusals.details())
        self._acked.append(row.seq)
        self._acks_pending.set()
        self._metrics.published.inc()
        self._metrics.publish_latency.observe(max(0.0, time.time() - row.created))

    def _fit(self, client: AckedClient, m: Message) -> Message | None:
        """``m`` if the broker takes its size; else without its picture; else None."""
        limit = limit_of(self._mqtt.max_message_bytes, client.max_packet_size)
        if limit is None or packet_size(m) <= limit:
            return m
        smaller = without_picture(m, self._config.data_dir / "snapshots")
        if smaller is not None and packet_size(smaller) <= limit:
            return smaller
        log.error(
            "message on %s is %d bytes, over the broker's limit of %d: kept in the outbox",
            m.topic,
            packet_size(m),
            limit,
        )
        return None

    async def _ack_flusher(self) -> None:
        """Remove acknowledged messages in batches: at most one delete transaction per ACK_FLUSH_S."""
        while True:
            await self._acks_pending.wait()
            await asyncio.sleep(ACK_FLUSH_S)
            self._acks_pending.clear()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        """Remove the acknowledged rows (the outbox shields the delete from a session cancelled meanwhile)."""
        if self._acked:
            acked, self._acked = self._acked, []
            await self._remove(acked)

    async def _remove(self, acked: list[int]) -> None:
        try:
            await self._outbox.remove(acked)
        except DiskFull:  # even a delete needs room in the WAL: keep them, retry with the next acks
            self._acked = acked + self._acked
            return
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
