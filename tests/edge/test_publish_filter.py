"""The command listener's peek at PUBLISH packets agrees with paho's own decoder (MQTT 3.1.1 and 5, QoS 0 and 1)."""

from __future__ import annotations

import random

import pytest
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.pipeline.publish_filter import peek_publish, varint


def publish_body(topic: bytes, mid: int | None, props: bytes | None, payload: bytes) -> bytes:
    """A PUBLISH packet after its fixed header, laid out as MQTT says."""
    body = len(topic).to_bytes(2, "big") + topic
    if mid is not None:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += props
    return body + payload


def v5_properties(rng: random.Random) -> bytes:
    props = Properties(PacketTypes.PUBLISH)
    if rng.random() < 0.5:
        props.ResponseTopic = "platform/replies/" + "x" * rng.randrange(200)
    if rng.random() < 0.5:
        props.CorrelationData = rng.randbytes(rng.randrange(300))
    return bytes(props.pack())


@pytest.mark.parametrize("v5", [False, True])
@pytest.mark.parametrize("qos", [0, 1])
def test_peek_agrees_with_paho(v5, qos):
    rng = random.Random(qos * 2 + v5)
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    for _ in range(300):
        topic = ("ce/v1/s/g/commands" + "/x" * rng.randrange(3)).encode()
        payload = rng.randbytes(rng.randrange(0, 3000))
        mid = rng.randrange(1, 65536) if qos else None
        body = publish_body(topic, mid, v5_properties(rng) if v5 else None, payload)
        expected = decode_publish(0x30 | (qos << 1), bytearray(body), protocol)
        assert peek_publish(bytearray(body), qos, v5) == (expected.topic, expected.mid, expected.payload)


def test_truncated_packets_are_left_to_paho():
    body = publish_body(b"ce/v1/s/g/commands", 7, None, b"{}")
    with pytest.raises(ValueError, match="topic longer"):
        peek_publish(body[:10], 1, False)
    with pytest.raises(ValueError, match="properties longer"):
        peek_publish(publish_body(b"t", 1, b"\x7f", b""), 1, True)
    with pytest.raises(ValueError, match="longer than 4 bytes"):
        varint(b"\xff\xff\xff\xff\xff", 0)
