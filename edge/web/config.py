"""Config model of the guard-room web console, metrics and health endpoints (owned by edge.web)."""

from __future__ import annotations

from pydantic import Field

from edge.configbase import Strict


class WebConfig(Strict):
    enabled: bool = Field(default=False, description="serve the console, /metrics and /health")
    host: str = Field(default="127.0.0.1", description="listen address")
    port: int = Field(default=8080, ge=1, le=65535, description="listen port")
