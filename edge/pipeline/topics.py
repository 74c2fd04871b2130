"""Every topic of the native contract, built in one place from ``mqtt.topic_prefix``, the site and the gateway.

``<base>`` is ``<topic_prefix>/<site_id>/<gateway_id>`` (docs/mqtt-api.md). The gateway (formats, Home Assistant
bridge), the platform-side client and ``edge watch`` all take their topics from here, so a changed prefix
changes every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    site_id: str
    gateway_id: str

    @classmethod
    def of(cls, config: Any) -> Topics:
        """The topics of a GatewayConfig."""
        return cls(config.mqtt.topic_prefix, config.site_id, config.gateway_id)

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site_id}/{self.gateway_id}"

    @property
    def everything(self) -> str:
        return f"{self.base}/#"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def commands(self) -> str:
        return f"{self.base}/commands"

    @property
    def command_result(self) -> str:
        return f"{self.base}/commands/result"

    @property
    def responses(self) -> str:
        """Where MQTT 5 response topics may point by default (``commands.response_topic_prefixes``)."""
        return f"{self.base}/responses"

    def telemetry(self, device: str) -> str:
        return f"{self.base}/telemetry/{device}"

    def events(self, device: str) -> str:
        return f"{self.base}/events/{device}"

    def availability(self, device: str) -> str:
        return f"{self.base}/devices/{device}/availability"

    def ha_state(self, device: str) -> str:
        return f"{self.base}/ha/{device}/state"
