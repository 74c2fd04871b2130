"""Messages larger than the broker accepts: sent without their picture, or refused without blocking the queue.

The limit is the smaller of ``mqtt.max_message_bytes`` (set it to the broker's ``message_size_limit``; mosquitto
answers an oversized PUBLISH with PUBACK 0x95 and paho then drops the connection, so the gateway would resend it
for ever) and the Maximum Packet Size of the broker's CONNACK (MQTT 5). An event over the limit goes without its
``snapshot_jpeg``: the picture is written to ``<data_dir>/snapshots/<event id>.jpg`` and the event carries
``snapshot_ref`` instead. Anything still too large is treated as a refusal (retried with back-off, the alarm
``uplink.refused``), so it never holds back the messages behind it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

from edge.pipeline.outbox import Message

log = logging.getLogger(__name__)

OVERHEAD = 64  # fixed header, topic length, packet id, properties (correlation data aside)


def packet_size(message: Message) -> int:
    return len(message.payload) + len(message.topic.encode()) + len(message.corr or b"") + OVERHEAD


def limit_of(configured: int | None, connack: int | None) -> int | None:
    limits = [x for x in (configured, connack) if x]
    return min(limits) if limits else None


def without_picture(message: Message, snapshots: Path) -> Message | None:
    """The event without its picture (kept locally, referenced), or None if it carries none."""
    try:
        body = json.loads(message.payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or "snapshot_jpeg" not in body:
        return None
    picture = base64.b64decode(body.pop("snapshot_jpeg"))
    name = f"{body.get('id', 'event')}.jpg"
    snapshots.mkdir(parents=True, exist_ok=True)
    tmp = snapshots / f".{name}.tmp"
    with open(tmp, "wb") as f:
        f.write(picture)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(snapshots / name)
    body["snapshot_ref"] = name
    log.warning(
        "event %s is too large for the broker: sent without its picture (kept as %s)", body.get("id"), snapshots / name
    )
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Message(message.stream, message.kind, message.topic, payload, message.retain, message.corr, message.resp)
