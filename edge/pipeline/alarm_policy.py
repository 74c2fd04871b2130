"""Config of the alarm lifecycle (closed loop) and of the gateway's alarm history (the ``alarms:`` section).

- ``response_target_s``: per severity, how long an alarm may wait for an acknowledgement; a missed target
  sends ``alarm.escalated`` once and re-alerts the console. Default: 5 minutes for critical, 15 for major.
- ``keep_until_acknowledged``: severities whose alarms stay on the active list, marked cleared, when their
  condition clears before anyone acknowledged them (default critical and major).
- ``history``: the SQLite file of every lifecycle step (beside the outbox by default), how long it is kept.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from edge.core.configbase import Strict
from edge.core.types import Severity

DAY_S = 86_400.0


class HistoryConfig(Strict):
    path: Path | None = Field(
        default=None, description="SQLite file of the alarm history; default history.db beside the outbox"
    )
    retention_days: float = Field(
        default=180.0, ge=1, le=3650, description="closed alarms older than this are deleted with their steps"
    )
    max_alarms: int = Field(
        default=1_000_000, ge=1000, le=50_000_000, description="bound on alarms kept; past it the oldest closed go"
    )


class AlarmsConfig(Strict):
    response_target_s: dict[Severity, float] = Field(
        default_factory=lambda: {Severity.CRITICAL: 300.0, Severity.MAJOR: 900.0},
        description="seconds an alarm of this severity may wait for an acknowledgement before it is escalated",
    )
    keep_until_acknowledged: list[Severity] = Field(
        default_factory=lambda: [Severity.CRITICAL, Severity.MAJOR],
        description="severities whose self-clearing alarms stay listed, marked cleared, until acknowledged",
    )
    history: HistoryConfig = Field(default_factory=HistoryConfig, description="alarm history on the gateway")

    @field_validator("response_target_s")
    @classmethod
    def _positive_targets(cls, targets: dict[Severity, float]) -> dict[Severity, float]:
        for severity, seconds in targets.items():
            if not 1 <= seconds <= DAY_S:
                raise ValueError(f"response_target_s.{severity.value}: must be between 1 and {DAY_S:g} s")
        return targets
