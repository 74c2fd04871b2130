"""The rule engine: readings in, alarm condition changes out. Pure: no I/O, time is passed in.

Each device's rules come from its profile, with defaults per alarm kind and per-device overrides
(drivers/rulespec.py). A rule is a two-state machine per (device, kind) with hysteresis and hold times:

- inactive -> active when the raise condition (true / false / above threshold / below threshold) has held
  for ``raise_hold_s``;
- active -> inactive when the release condition (the opposite, against the release threshold) has held
  for ``release_hold_s``.

A reading that breaks the pending condition restarts its hold; a value of None (a sensor fault sentinel)
changes nothing, except that it releases an active 'true' rule (a ``<key>_fault`` reading going back to
None when the sentinel is gone). ``feed`` handles readings, ``tick`` the holds that elapse between readings. The core
pipeline passes the returned ``AlarmUpdate``s to the alarm book, which owns lifecycle and re-sending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.device import DeviceSpec, resolve_device
from drivers.rulespec import ResolvedRule
from edge.core.types import Reading
from edge.pipeline.alarm_book import AlarmUpdate

if TYPE_CHECKING:
    from edge.config import GatewayConfig


@dataclass(slots=True)
class RuleState:
    device: str
    rule: ResolvedRule
    active: bool = False
    pending_since: float | None = None  # when the condition to flip started holding
    value: Any = None

    def _wants_flip(self, value: Any) -> bool | None:
        """True if ``value`` argues for flipping the state, False if against, None if it says nothing."""
        rule = self.rule
        if value is None and rule.when == "true" and self.active:
            return True  # a fault that went away (``<key>_fault`` back to None) releases a 'true' rule
        if value is None:
            return None
        if rule.when in ("true", "false"):
            truthy = bool(value)
            raise_cond = truthy if rule.when == "true" else not truthy
            return raise_cond if not self.active else not raise_cond
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        threshold, release = rule.threshold, rule.release_threshold
        assert threshold is not None and release is not None  # resolve() refuses above/below without a threshold
        if rule.when == "above":
            return value > threshold if not self.active else value < release
        return value < threshold if not self.active else value > release

    def _hold(self) -> float:
        return self.rule.release_hold_s if self.active else self.rule.raise_hold_s

    def _flip(self, now: float) -> AlarmUpdate:
        self.active, self.pending_since = not self.active, None
        details: dict[str, Any] = {"field": self.rule.field, "value": self.value}
        if self.rule.threshold is not None:
            details["threshold"] = self.rule.threshold if self.active else self.rule.release_threshold
        return AlarmUpdate(self.device, self.rule.kind, self.active, self.rule.severity, details)

    def feed(self, value: Any, now: float) -> AlarmUpdate | None:
        wants = self._wants_flip(value)
        if wants is None:
            return None
        self.value = value
        if not wants:
            self.pending_since = None
            return None
        if self.pending_since is None:
            self.pending_since = now
        return self.tick(now)

    def tick(self, now: float) -> AlarmUpdate | None:
        if self.pending_since is not None and now - self.pending_since >= self._hold():
            return self._flip(now)
        return None


class RuleEngine:
    def __init__(self, config: GatewayConfig | None = None, *, devices: Iterable[DeviceSpec] = ()) -> None:
        specs = list(devices)
        if config is not None:
            specs += [resolve_device(d) for d in config.devices]
        self._by_field: dict[tuple[str, str], list[RuleState]] = {}
        self._states: list[RuleState] = []
        for spec in specs:
            for rule in spec.rules:
                if not rule.enabled:
                    continue
                state = RuleState(spec.id, rule)
                self._states.append(state)
                self._by_field.setdefault((spec.id, rule.field), []).append(state)

    def feed(self, reading: Reading, now: float) -> list[AlarmUpdate]:
        states = self._by_field.get((reading.device, reading.key))
        if not states:
            return []
        out = []
        for state in states:
            update = state.feed(reading.value, now)
            if update is not None:
                out.append(update)
        return out

    def tick(self, now: float) -> list[AlarmUpdate]:
        out = []
        for state in self._states:
            if state.pending_since is not None:
                update = state.tick(now)
                if update is not None:
                    out.append(update)
        return out

    def next_deadline(self) -> float | None:
        """When the earliest pending hold elapses (so the caller can sleep until then), or None."""
        times = [s.pending_since + s._hold() for s in self._states if s.pending_since is not None]
        return min(times, default=None)

    def active(self) -> list[tuple[str, str]]:
        return [(s.device, s.rule.kind) for s in self._states if s.active]
