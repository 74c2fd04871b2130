"""Uplink formats: how readings, events and state become MQTT topics and payloads.

``native`` is the project's own topic contract (docs/mqtt-api.md, schemas in docs/schemas/v1/);
``thingsboard`` is the ThingsBoard gateway MQTT API, for community platforms built on ThingsBoard.
Both go through the same outbox, so ordering and acknowledgement guarantees are the same.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

from edge.core.types import CommandResult, Event, Reading
from edge.pipeline.outbox import Kind, Message
from edge.pipeline.topics import Topics

SCHEMA_VERSION = 1


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


TelemetryBatch = tuple[str, int, Sequence[Reading]]  # device, seq, readings


class UplinkFormat(Protocol):
    command_topics: list[str]
    numbers_telemetry: bool  # telemetry payloads carry a per-device seq (so the writer keeps one)

    def telemetry_batches(self, batches: Sequence[TelemetryBatch]) -> list[Message]: ...
    def event(self, event: Event, seq: int) -> Message: ...
    def availability(self, device: str, online: bool) -> Message: ...
    def status(self, online: bool) -> tuple[str, bytes]: ...
    def connect_messages(self, devices: Sequence[str]) -> list[Message]: ...
    def result(self, result: CommandResult, *, reply_to: str | None, corr: bytes | None, device: str) -> Message: ...


def event_kind(event: Event) -> Kind:
    """Alarm lifecycle steps are kept longest in the outbox; facts (access decisions, holds) go before them."""
    return Kind.EVENT if event.is_alarm else Kind.FACT


class NativeFormat:
    numbers_telemetry = True

    def __init__(self, prefix: str, site_id: str, gateway_id: str) -> None:
        self.topics = Topics(prefix, site_id, gateway_id)
        self.base = self.topics.base
        self.site_id, self.gateway_id = site_id, gateway_id
        self.command_topics = [self.topics.commands]
        self.result_topic = self.topics.command_result

    def telemetry(self, device: str, seq: int, readings: Sequence[Reading]) -> Message:
        payload = {
            "v": SCHEMA_VERSION,
            "device": device,
            "seq": seq,
            "readings": [{"key": r.key, "value": r.value, "ts": r.ts} for r in readings],
        }
        return Message(device, Kind.TELEMETRY, self.topics.telemetry(device), _dumps(payload))

    def telemetry_batches(self, batches: Sequence[TelemetryBatch]) -> list[Message]:
        return [self.telemetry(device, seq, readings) for device, seq, readings in batches]

    def event(self, event: Event, seq: int) -> Message:
        payload = {"v": SCHEMA_VERSION, "seq": seq, **event.to_dict()}
        if event.snapshot_jpeg is not None:
            payload["snapshot_jpeg"] = base64.b64encode(event.snapshot_jpeg).decode()
        return Message(event.device, event_kind(event), self.topics.events(event.device), _dumps(payload))

    def availability(self, device: str, online: bool) -> Message:
        payload = {
            "v": SCHEMA_VERSION,
            "device": device,
            "state": "online" if online else "offline",
            "ts": round(time.time(), 3),
        }
        return Message(device, Kind.STATE, self.topics.availability(device), _dumps(payload), retain=True)

    def status(self, online: bool) -> tuple[str, bytes]:
        payload = {
            "v": SCHEMA_VERSION,
            "site_id": self.site_id,
            "gateway_id": self.gateway_id,
            "state": "online" if online else "offline",
            "ts": round(time.time(), 3),
        }
        return self.topics.status, _dumps(payload)

    def connect_messages(self, devices: Sequence[str]) -> list[Message]:
        return []

    def result(self, result: CommandResult, *, reply_to: str | None, corr: bytes | None, device: str) -> Message:
        payload = {"v": SCHEMA_VERSION, **result.to_dict()}
        return Message(device, Kind.RESULT, reply_to or self.result_topic, _dumps(payload), corr=corr)


class ThingsBoardFormat:
    """The ThingsBoard gateway API: devices announced on v1/gateway/connect, telemetry on v1/gateway/telemetry,
    alarms as ThingsBoard gateway alarms (v1/gateway/alarm) and server-side RPC on v1/gateway/rpc."""

    TELEMETRY = "v1/gateway/telemetry"
    CONNECT = "v1/gateway/connect"
    DISCONNECT = "v1/gateway/disconnect"
    ATTRIBUTES = "v1/gateway/attributes"
    ALARM = "v1/gateway/alarm"
    RPC = "v1/gateway/rpc"
    numbers_telemetry = False  # its telemetry has no seq: the writer need not count (and store) one per device

    def __init__(self, site_id: str, gateway_id: str, prefix: str = "ce/v1") -> None:
        self.site_id, self.gateway_id = site_id, gateway_id
        self.topics = Topics(prefix, site_id, gateway_id)  # the gateway's own status follows the native contract
        self.command_topics = [self.RPC]

    MAX_READINGS_PER_MESSAGE = 2000

    def telemetry_batches(self, batches: Sequence[TelemetryBatch]) -> list[Message]:
        """One v1/gateway/telemetry message carries many devices: fewer, bigger messages."""
        messages: list[Message] = []
        body: dict[str, list[dict[str, Any]]] = {}
        count = 0
        for device, _seq, readings in batches:
            if count and count + len(readings) > self.MAX_READINGS_PER_MESSAGE:
                messages.append(self._telemetry_message(body))
                body, count = {}, 0
            rows = body.setdefault(device, [])
            values = rows[-1]["values"] if rows else None
            last_ts, ts = None, 0
            for r in readings:
                if r.ts is not last_ts:  # the readings of one poll share their ts: compute it once
                    last_ts, ts = r.ts, int(r.ts * 1000)
                    if not rows or rows[-1]["ts"] != ts:
                        values = None
                if values is None or r.key in values:  # a new instant, or a key already in this one
                    values = {}
                    rows.append({"ts": ts, "values": values})
                values[r.key] = r.value
            count += len(readings)
        if body:
            messages.append(self._telemetry_message(body))
        return messages

    def _telemetry_message(self, body: dict[str, list[dict[str, Any]]]) -> Message:
        # the stream is the gateway: per-device order holds because the outbox keeps one global order
        return Message(self.gateway_id, Kind.TELEMETRY, self.TELEMETRY, _dumps(body))

    def event(self, event: Event, seq: int) -> Message:
        if event.state is not None:
            payload = {
                "device": event.device,
                "type": event.kind,
                "severity": event.severity.value.upper(),
                "status": event.state.value.upper(),
                "details": {**event.to_dict(), "seq": seq},
            }
            return Message(event.device, Kind.EVENT, self.ALARM, _dumps(payload))
        values: dict[str, object] = {
            "event": event.kind,
            "event_id": event.id,
            "event_seq": seq,
            "event_details": json.dumps(event.details, separators=(",", ":")),
        }
        telemetry: dict[str, list[dict[str, object]]] = {event.device: [{"ts": int(event.ts * 1000), "values": values}]}
        return Message(event.device, Kind.FACT, self.TELEMETRY, _dumps(telemetry))

    def availability(self, device: str, online: bool) -> Message:
        topic = self.CONNECT if online else self.DISCONNECT
        return Message(device, Kind.STATE, topic, _dumps({"device": device}))

    def status(self, online: bool) -> tuple[str, bytes]:
        return self.topics.status, _dumps({"state": "online" if online else "offline"})

    def connect_messages(self, devices: Sequence[str]) -> list[Message]:
        return [Message(d, Kind.STATE, self.CONNECT, _dumps({"device": d})) for d in devices]

    def result(self, result: CommandResult, *, reply_to: str | None, corr: bytes | None, device: str) -> Message:
        # ThingsBoard matches the reply by device and the RPC id, which the dispatcher keeps in corr
        rpc_id = int(corr.decode()) if corr else 0
        payload = {"device": device, "id": rpc_id, "data": result.to_dict()}
        return Message(device, Kind.RESULT, self.RPC, _dumps(payload))


def make_format(fmt: str, *, prefix: str, site_id: str, gateway_id: str) -> UplinkFormat:
    if fmt == "thingsboard":
        return ThingsBoardFormat(site_id, gateway_id, prefix)
    return NativeFormat(prefix, site_id, gateway_id)
