"""Config model of a face-recognition gate (owned by edge.gate)."""

from __future__ import annotations

from pydantic import Field

from edge.configbase import Strict


class GateConfig(Strict):
    id: str = Field(description="gate id")
