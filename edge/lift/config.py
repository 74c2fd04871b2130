"""Config model of a lift camera (owned by edge.lift)."""

from __future__ import annotations

from pydantic import Field

from edge.configbase import Strict


class LiftConfig(Strict):
    id: str = Field(description="lift id")
