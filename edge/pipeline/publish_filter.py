"""Incoming PUBLISH packets judged before paho decodes them: a dropped junk message costs a few slices.

paho 2.2 builds a message for every PUBLISH it reads, and under MQTT 5 a ``Properties`` object whose constructor
walks every property name: about half of the command listener's CPU under a flood. ``filter_publishes`` reads
the topic, packet id and payload straight from the packet (MQTT 3.1.1 and 5: topic length and topic, the id at
QoS 1, the properties' length under MQTT 5) and asks ``admit(topic, payload)``; only an admitted packet goes on
to paho's own handling. A dropped QoS 1 packet is still acknowledged, so the broker does not send it again; QoS 2
is never filtered (the command subscription is QoS 1). A packet the peek cannot read goes to paho, which reports
it as malformed.

Used by the command listener only (edge/pipeline/command_listener.py). It replaces one method of the paho client
instance, so it is tied to paho-mqtt 2.2 (pinned in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion


def varint(data: bytes | bytearray, pos: int) -> tuple[int, int]:
    """The MQTT variable byte integer at ``pos``: its value and its length in bytes."""
    value, shift = 0, 0
    for i in range(4):
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ValueError("variable byte integer longer than 4 bytes")


def peek_publish(packet: bytes | bytearray, qos: int, v5: bool) -> tuple[bytes, int, bytes | bytearray]:
    """Topic, packet id (0 at QoS 0) and payload of a PUBLISH packet after its fixed header."""
    end = 2 + int.from_bytes(packet[0:2], "big")
    if end > len(packet):
        raise ValueError("topic longer than the packet")
    topic, pos, mid = bytes(packet[2:end]), end, 0
    if qos > 0:
        mid, pos = int.from_bytes(packet[pos : pos + 2], "big"), pos + 2
    if v5:
        size, n = varint(packet, pos)
        pos += n + size
    if pos > len(packet):
        raise ValueError("properties longer than the packet")
    return topic, mid, packet[pos:]


def filter_publishes(
    client: Any, admit: Callable[[bytes, bytes | bytearray], bool], on_drop: Callable[[], None]
) -> None:
    """Make the paho client ``client`` drop the PUBLISH packets ``admit`` refuses before it decodes them."""
    handle = client._handle_publish
    v5 = client._protocol == MQTTProtocolVersion.MQTTv5

    def handle_publish() -> MQTTErrorCode:
        qos = (client._in_packet["command"] & 0x06) >> 1
        if qos == 2:
            return handle()  # type: ignore[no-any-return]
        try:
            topic, mid, payload = peek_publish(client._in_packet["packet"], qos, v5)
        except (IndexError, ValueError):
            return handle()  # type: ignore[no-any-return]
        if admit(topic, payload):
            return handle()  # type: ignore[no-any-return]
        on_drop()
        return client._send_puback(mid) if qos == 1 else MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_publish = handle_publish
