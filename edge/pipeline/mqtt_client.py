"""One MQTT client factory for every client of the project: the uplink, the Home Assistant bridge, the
platform-side client of ``edge send-command`` and ``edge watch``.

``make_client`` applies the ``mqtt`` section the same way for all of them: TLS (never a plaintext fallback),
credentials, client id, protocol version, keepalive. ``Backoff`` is the one reconnect policy (exponential with
full jitter).

``AckedClient`` is aiomqtt's client with what the broker answers kept instead of thrown away. aiomqtt 2.5.1 wires
paho's ``on_publish(client, userdata, mid, reason_code, properties)`` to a bare event, so ``publish`` returns the
same way for a PUBACK "success" and a PUBACK "not authorized"; ``publish_acked`` returns the reason code and
``Refused`` is raised by the callers that must not treat a refusal as a delivery. It also keeps the CONNACK's
Maximum Packet Size. MQTT 3.1.1 has no PUBACK reason codes: there, a refusal looks like a delivery (mosquitto
acknowledges a denied publish and drops it) and only a refused SUBACK (0x80) is visible.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode


@dataclass
class Backoff:
    """Exponential back-off with full jitter: delay n is uniform in [base/2, min(cap, base * 2**n)]."""

    base: float
    cap: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        delay = self.rng.uniform(self.base / 2, min(self.cap, self.base * 2**self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    @classmethod
    def of(cls, config: Any) -> Backoff:
        return cls(config.mqtt.reconnect_min_s, config.mqtt.reconnect_max_s)


class Refused(aiomqtt.MqttError):
    """The broker answered a PUBLISH or SUBSCRIBE with a failure reason code."""

    def __init__(self, what: str, topic: str, reason: str, code: int) -> None:
        self.what, self.topic, self.reason, self.code = what, topic, reason, code
        super().__init__(f"{what} on {topic} refused by the broker: {reason} (0x{code:02x})")


def tls_context(config: Any) -> ssl.SSLContext | None:
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


def client_id(config: Any, role: str) -> str:
    """The uplink uses ``mqtt.client_id`` (default ``<site>-<gateway>``) and its command connection that id with
    ``-cmd`` (stable, so a broker ACL can name it); every other client of the same config gets the id with its
    role and a random suffix, so two clients never take over each other's session."""
    base = config.mqtt.client_id or f"{config.site_id}-{config.gateway_id}"
    if role == "uplink":
        return base
    return f"{base}-cmd" if role == "commands" else f"{base}-{role}-{uuid.uuid4().hex[:6]}"


class AckedClient(aiomqtt.Client):
    """aiomqtt's client, keeping the broker's PUBACK reason codes and the CONNACK Maximum Packet Size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[ReasonCode]] = {}
        self.max_packet_size: int | None = None  # the broker's limit, from CONNACK (MQTT 5 only)
        self.ack_timeout = 30.0  # PUBACK and SUBACK waits; ``timeout`` (aiomqtt's) bounds the CONNACK wait
        self.v5 = kwargs.get("protocol") == aiomqtt.ProtocolVersion.V5
        self.on_drop: Any = None  # called for each incoming message dropped (queue full or over the rate)
        self.admission: Admission | None = None  # which incoming messages are taken (rate limits)
        self.received = 0  # incoming PUBLISH packets paho decoded on this connection

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.received += 1
        full = self._queue.maxsize and self._queue.full()  # aiomqtt would drop it with a log line per message
        if full or (self.admission is not None and not self.admission.take(message.payload)):
            if self.on_drop is not None:
                self.on_drop()
            return
        super()._on_message(client, userdata, message)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any = None) -> None:
        size = getattr(properties, "MaximumPacketSize", None) if properties is not None else None
        self.max_packet_size = int(size) if size else None
        super()._on_connect(client, userdata, flags, reason_code, properties)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason_code: ReasonCode, properties: Any) -> None:
        fut = self._acks.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_acked(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: Any = None,
        timeout: float | None = None,
    ) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK's reason code (always "Success" under MQTT 3.1.1)."""
        info = self._client.publish(topic, payload, 1, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        fut: asyncio.Future[ReasonCode] = self._loop.create_future()
        self._acks[info.mid] = fut
        try:
            return await self._wait_for(fut, timeout=timeout or self.ack_timeout)
        finally:
            self._acks.pop(info.mid, None)

    async def subscribe_checked(self, topic: str, qos: int = 1) -> None:
        """Subscribe; raise Refused if the SUBACK refuses (MQTT 5 reason code, or 0x80 under 3.1.1)."""
        codes = await self.subscribe(topic, qos=qos, timeout=self.ack_timeout)
        for code in codes:
            value = code.value if isinstance(code, ReasonCode) else int(code)
            if value >= 0x80:
                name = code.getName() if isinstance(code, ReasonCode) else "Failure"
                raise Refused("subscription", topic, name, value)


class Admission:
    """Every incoming message through one token bucket."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    def take(self, payload: bytes | bytearray) -> bool:
        return self.bucket.take()


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Any = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._last = burst, clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def make_client(
    config: Any,
    *,
    role: str,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
    max_inflight: int | None = None,
    max_queued_incoming: int | None = None,
    timeout: float = 30,
    connect_timeout: float | None = None,
    logger: Any = None,
    node: tuple[str, int] | None = None,
) -> AckedClient:
    """A client for ``config.mqtt`` (a GatewayConfig): the same TLS, credentials and protocol for every role."""
    m = config.mqtt
    v5 = m.protocol == "5"
    kwargs: dict[str, Any] = {}
    if logger is not None:
        kwargs["logger"] = logger
    host, port = node or m.nodes[0]
    client = AckedClient(
        host,
        port,
        identifier=identifier or client_id(config, role),
        username=m.username,
        password=m.password.reveal() if m.password else None,
        protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
        will=will,
        keepalive=m.keepalive_s,
        tls_context=tls_context(config),
        max_inflight_messages=max_inflight,
        max_queued_incoming_messages=max_queued_incoming,
        timeout=connect_timeout or timeout,
        clean_session=None if v5 else True,
        **kwargs,
    )
    client.ack_timeout = timeout
    return client
