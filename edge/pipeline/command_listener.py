"""The command connection: a small process of its own that takes whatever arrives on the command topics.

A flood of junk on the command topic must not slow the alarms. With one connection, paho decodes every junk
PUBLISH on the event loop thread that also sends the events and reads their PUBACKs. So the gateway opens a
second MQTT connection, client id ``<client_id>-cmd``, in a child process (``python -m
edge.pipeline.command_listener``). The child subscribes to the command topics and drops, and counts, every message
over the rate (``commands.max_rate_per_s``, bursts up to ``commands.max_queued``; a message that does not even look
like a signed command, a JSON object with a ``"signature"``, gets a twentieth of the rate, so such junk cannot
crowd out the platform's commands), over ``commands.max_bytes`` or on another topic. The few messages left are
handed to the gateway, where the one dispatcher parses, verifies and answers them as before. The publishing
connection (birth, Last Will, events, answers) never sees a junk packet.

The child connects to the node the uplink is connected to (``mqtt.brokers``): the uplink tells it at each new
session; while the child's own connection is down it retries that node with back-off, and a new node from the
uplink is tried at once. TLS, credentials and protocol are the ``mqtt`` section's, through ``make_client``.

Pipes: stdin carries frames from the gateway (first the ``ListenerSpec``, then ``("node", host, port)``); stdout
carries frames to it: ``("msg", topic, payload, response_topic, correlation)``, ``("dropped", n)``,
``("subscribed", host, port)``, ``("refused", reason)`` (CONNACK or SUBACK refusal: commands are unavailable)
and ``("lost", reason)``. A frame is a 4-byte big-endian length and a pickle; both ends are this module. The
child ends when its stdin closes, so it never outlives the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import ssl
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from edge.core.types import Incoming
from edge.pipeline.block_reads import read_in_blocks
from edge.pipeline.mqtt_client import AckedClient, Admission, Backoff, Refused, TokenBucket, make_client
from edge.pipeline.publish_filter import filter_publishes

log = logging.getLogger(__name__)
HEADER = struct.Struct(">I")
DROPS_EVERY_S = 0.25
JUNK_SHARE = 20  # messages that do not look like a signed command get 1/JUNK_SHARE of the rate
NICE = 5  # the listener yields the CPU to the gateway's process, which carries the alarms


@dataclass(frozen=True)
class ListenerSpec:
    """What the child needs: the ``mqtt`` section as ``make_client`` reads it, the topics and the limits."""

    site_id: str
    gateway_id: str
    mqtt: dict[str, Any]  # MqttConfig fields; secrets stay edge.core Secret objects, read when connecting
    tls: dict[str, Any] | None
    topics: tuple[str, ...]
    max_rate_per_s: float
    max_queued: int
    max_bytes: int

    @classmethod
    def of(cls, config: Any, topics: list[str]) -> ListenerSpec:
        m = config.mqtt
        fields = ("protocol", "client_id", "username", "password", "keepalive_s", "connect_timeout_s")
        tls = None
        if m.tls is not None:
            tls = {k: getattr(m.tls, k) for k in ("ca_file", "cert_file", "key_file", "key_password", "check_hostname")}
        return cls(
            site_id=config.site_id,
            gateway_id=config.gateway_id,
            mqtt={k: getattr(m, k) for k in fields}
            | {"reconnect_min_s": m.reconnect_min_s, "reconnect_max_s": m.reconnect_max_s, "nodes": m.nodes},
            tls=tls,
            topics=tuple(topics),
            max_rate_per_s=config.commands.max_rate_per_s,
            max_queued=config.commands.max_queued,
            max_bytes=config.commands.max_bytes,
        )

    def as_config(self) -> Any:
        """The duck-typed config ``make_client`` and ``Backoff.of`` read."""
        tls = SimpleNamespace(**self.tls) if self.tls is not None else None
        mqtt = SimpleNamespace(**self.mqtt, tls=tls)
        return SimpleNamespace(site_id=self.site_id, gateway_id=self.gateway_id, mqtt=mqtt)


def looks_signed(payload: bytes | bytearray) -> bool:
    """A JSON object with a signature in it: what a command (or a ThingsBoard RPC carrying one) looks like."""
    return payload.lstrip()[:1] == b"{" and b'"signature"' in payload


class ShapeAdmission(Admission):
    """Messages that look like signed commands share the full rate; the rest a twentieth of it (at least 1/s), so a
    flood of junk that does not even look like a command cannot crowd out the platform's commands. What is taken of
    the junk still reaches the dispatcher, which rejects it with its reason (counted, summarised)."""

    def __init__(self, rate: float, burst: int) -> None:
        super().__init__(TokenBucket(rate, max(rate, burst)))
        junk_rate = max(1.0, rate / JUNK_SHARE)
        self.junk = TokenBucket(junk_rate, max(1.0, min(float(burst), junk_rate)))

    def take(self, payload: bytes | bytearray) -> bool:
        return self.bucket.take() if looks_signed(payload) else self.junk.take()


def frame(item: Any) -> bytes:
    body = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame; raises asyncio.IncompleteReadError at the end of the pipe."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))  # noqa: S301 - our own child process, our own pipe


class Listener:
    """The child's side: one connection at a time to the node the gateway names, frames out on ``out``."""

    def __init__(self, spec: ListenerSpec, out: Any) -> None:
        self.spec = spec
        self._config = spec.as_config()
        self._out = out
        self._backoff = Backoff.of(self._config)
        self._node: tuple[str, int] | None = None
        self._new_node = asyncio.Event()
        self._dropped = 0
        self._topics = {t.encode() for t in spec.topics}
        self._admission = ShapeAdmission(spec.max_rate_per_s, spec.max_queued)

    def send(self, item: Any) -> None:
        self._out.write(frame(item))
        self._out.flush()

    def drop(self) -> None:
        self._dropped += 1

    def follow(self, node: tuple[str, int]) -> None:
        """The uplink's node: used by the next connection attempt, at once if the connection is down."""
        self._node = node
        self._new_node.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._report_drops())
            while True:
                await self._new_node.wait()
                self._new_node.clear()
                assert self._node is not None
                await self._session(self._node)
                with contextlib.suppress(TimeoutError):  # back-off, cut short by a new node from the uplink
                    await asyncio.wait_for(self._new_node.wait(), self._backoff.next_delay())
                self._new_node.set()

    async def _session(self, node: tuple[str, int]) -> None:
        try:
            client = self._client(node)
            async with client:
                for topic in self.spec.topics:
                    await client.subscribe_checked(topic, qos=1)
                self._backoff.reset()
                self.send(("subscribed", *node))
                await self._forward(client)
        except* Refused as group:  # a refused subscription: commands unavailable; try again after the back-off
            self.send(("refused", "; ".join(str(e) for e in group.exceptions)))
        except* MqttConnectError as group:  # a refused CONNECT (credentials, client id, ACL)
            self.send(("refused", "command connection " + "; ".join(str(e) for e in group.exceptions)))
        except* (aiomqtt.MqttError, ssl.SSLError, OSError) as group:
            self.send(("lost", "; ".join(str(e) for e in group.exceptions)))

    def _client(self, node: tuple[str, int]) -> AckedClient:
        client = make_client(
            self._config,
            role="commands",
            node=node,
            max_queued_incoming=self.spec.max_queued,
            connect_timeout=self.spec.mqtt["connect_timeout_s"],
            logger=logging.getLogger("edge.pipeline.command_listener.client"),
        )
        client.on_drop = self.drop  # the aiomqtt queue full
        filter_publishes(client._client, self._admit, self.drop)  # the rest judged before paho decodes a packet
        read_in_blocks(client._client)  # one recv and one wake for many junk packets, not three and one each
        return client

    def _admit(self, topic: bytes, payload: bytes | bytearray) -> bool:
        """On a command topic, at most ``max_bytes``, within the rate for its shape."""
        return topic in self._topics and len(payload) <= self.spec.max_bytes and self._admission.take(payload)

    async def _forward(self, client: AckedClient) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props else None
            corr = getattr(props, "CorrelationData", None) if props else None
            self.send(("msg", message.topic.value, payload, response, corr))

    async def _report_drops(self) -> None:
        while True:
            await asyncio.sleep(DROPS_EVERY_S)
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                self.send(("dropped", dropped))


class CommandProcess:
    """The gateway's side: runs the listener process (again, after a back-off, if it dies) and turns its frames into
    calls: ``on_message`` for each message taken, ``on_dropped`` with counts, ``on_state`` with ``subscribed``,
    ``refused`` or ``lost`` and the reason."""

    def __init__(
        self,
        spec: ListenerSpec,
        *,
        on_message: Callable[[Incoming], None],
        on_dropped: Callable[[int], None],
        on_state: Callable[[str, str | None], None],
    ) -> None:
        self.spec = spec
        self._on_message, self._on_dropped, self._on_state = on_message, on_dropped, on_state
        self._backoff = Backoff.of(spec.as_config())
        self._proc: asyncio.subprocess.Process | None = None
        self._node: tuple[str, int] | None = None
        self.state = "starting"
        self._reported = asyncio.Event()
        self.pid: int | None = None

    def follow(self, node: tuple[str, int]) -> None:
        """Connect the listener to the uplink's node (at once if its connection is down)."""
        self._node = node
        self._reported.clear()
        self._write(("node", *node))

    async def ready(self, timeout: float) -> str:
        """Wait, at most ``timeout``, for the listener to be subscribed or to report why not; its state."""
        if self.state != "subscribed":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reported.wait(), timeout)
        return self.state

    def _write(self, item: Any) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None and proc.returncode is None:
            proc.stdin.write(frame(item))

    async def run(self) -> None:
        while True:
            await self._run_once()
            delay = self._backoff.next_delay()
            log.error("command listener process ended; starting it again in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _run_once(self) -> None:
        proc = self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.pid = proc.pid
        assert proc.stdout is not None
        try:
            self._write(self.spec)
            if self._node is not None:
                self._write(("node", *self._node))
            while True:
                self._handle(await read_frame(proc.stdout))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._proc = None
            self._set_state("lost", "the command listener process ended")
            await _end(proc)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "msg":
            _, topic, payload, response, corr = item
            self._on_message(Incoming(topic, payload, response, corr))
        elif kind == "dropped":
            self._on_dropped(item[1])
        elif kind == "subscribed":
            self._backoff.reset()
            self._set_state("subscribed", None)
        else:
            self._set_state(kind, item[1])

    def _set_state(self, state: str, reason: str | None) -> None:
        self.state = state
        self._reported.set()
        self._on_state(state, reason)


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Close the child's stdin (it disconnects and exits); kill it if it has not after a second."""
    if proc.returncode is None:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 1.0)
        except TimeoutError:
            pass
        finally:
            if proc.returncode is None:
                proc.kill()


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    spec = await read_frame(reader)
    if not isinstance(spec, ListenerSpec):
        raise SystemExit(f"command listener: expected a ListenerSpec first on stdin, got {type(spec).__name__}")
    listener = Listener(spec, sys.stdout.buffer)
    task = asyncio.create_task(listener.run())
    try:
        while True:
            kind, host, port = await read_frame(reader)
            if kind == "node":
                listener.follow((host, port))
    except asyncio.IncompleteReadError:  # the gateway closed our stdin: it is stopping or gone
        pass
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="command listener: %(levelname)s %(name)s: %(message)s")
    logging.getLogger("edge.pipeline.command_listener.client").setLevel(logging.ERROR)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve())


if __name__ == "__main__":  # run through the module's own name, so the pickled ListenerSpec is the same class
    from edge.pipeline.command_listener import main as listener_main

    listener_main()
