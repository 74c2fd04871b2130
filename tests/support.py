"""Helpers for tests: the broker handle, a collecting subscriber, a config builder, waiting with a deadline."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from edge.config import GatewayConfig, parse_config
from simulators.broker import free_port as free_port  # re-exported for tests
from simulators.broker import stop


class Broker:
    def __init__(self, port: int, workdir: Path, starter: Callable[[int, Path], subprocess.Popen]) -> None:
        self.host, self.port = "127.0.0.1", port
        self._workdir, self._starter = workdir, starter
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self._proc = self._starter(self.port, self._workdir)

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    arrived: float

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Subscriber:
    """A paho subscriber on its own thread that keeps every message (QoS 1), reconnecting after outages."""

    host: str
    port: int
    topics: list[str] = field(default_factory=lambda: ["#"])
    messages: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self)}", clean_session=False
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._client.reconnect_delay_set(0.1, 0.5)

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        for topic in self.topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(msg.topic, msg.payload, bool(msg.retain), time.time()))

    def start(self) -> Subscriber:
        """Connect and subscribe; after ``stop`` it comes back with the same client id (and so its session)."""
        self._subscribed.clear()
        self._client.connect(self.host, self.port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("subscriber did not get SUBACK")
        return self

    def stop(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def snapshot(self, prefix: str = "") -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.startswith(prefix)]


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


async def async_wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def make_config(tmp_path: Path, port: int, **sections: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "site_id": "site1",
        "gateway_id": "gw1",
        "data_dir": str(tmp_path / "data"),
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(yaml.safe_dump(data))
