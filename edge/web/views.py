"""What the live views show, as pure functions of the gateway's state (for the console and `edge watch`).

Device health is one of online / offline / fault / unknown, with the battery level when the device reports
one. Profiles name their fields freely, so health reads a small table of known field names and the
device's open alarms; a device whose profile uses other names still shows online / offline.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.core.types import AlarmState, Event, JsonValue, Severity

# fields that, when true, mean the device itself needs service (not the condition it watches)
FAULT_FIELDS = ("fault", "sensor_fault", "service_alarm", "service", "tamper", "error")
# fields that, when present and false, mean the device needs service (a smoke head taken off its base)
PRESENT_FIELDS = ("mounted",)
# fields that report the battery, as percent or volts
BATTERY_PCT_FIELDS = ("battery_pct", "battery_percent", "battery", "battery_level")
BATTERY_VOLT_FIELDS = ("battery_v", "battery_voltage")
LOW_BATTERY_FIELDS = ("low_battery", "battery_low")
# alarm kinds that describe the device's own health rather than what it watches
FAULT_ALARM_WORDS = ("fault", "service", "tamper")
BATTERY_ALARM_WORDS = ("battery",)
OFFLINE_KIND = "device.offline"

SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class Health(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    FAULT = "fault"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceHealth:
    status: Health
    battery: float | None = None
    battery_unit: str | None = None  # "%" or "V"
    low_battery: bool = False
    faults: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "battery": self.battery,
            "battery_unit": self.battery_unit,
            "low_battery": self.low_battery,
            "faults": list(self.faults),
        }


def device_health(
    online: bool | None, values: Mapping[str, JsonValue], alarm_kinds: Iterable[str] = ()
) -> DeviceHealth:
    """Health of one device from its availability, its last readings and the kinds of its open alarms."""
    kinds = [k for k in alarm_kinds if k != OFFLINE_KIND]
    faults = [f for f in FAULT_FIELDS if _truthy(values.get(f))]
    faults += [f"not {f}" for f in PRESENT_FIELDS if f in values and not _truthy(values[f])]
    # a sentinel read from a field (no echo, out of range) comes as '<field>_fault' = its name, None when gone
    faults += [
        f"{k}={v}" if isinstance(v, str) else k
        for k, v in values.items()
        if k.endswith("_fault") and k not in FAULT_FIELDS and v not in (None, False, 0, "")
    ]
    faults += [k for k in kinds if any(word in k for word in FAULT_ALARM_WORDS) and k not in faults]
    battery, unit = _battery(values)
    low = any(_truthy(values.get(f)) for f in LOW_BATTERY_FIELDS) or any(
        word in k for k in kinds for word in BATTERY_ALARM_WORDS
    )
    if online is False:
        status = Health.OFFLINE
    elif faults:
        status = Health.FAULT
    elif online is None:
        status = Health.UNKNOWN
    else:
        status = Health.ONLINE
    return DeviceHealth(status=status, battery=battery, battery_unit=unit, low_battery=low, faults=tuple(faults))


def _truthy(value: JsonValue) -> bool:
    return value is True or (isinstance(value, int | float) and not isinstance(value, bool) and value != 0)


def _battery(values: Mapping[str, JsonValue]) -> tuple[float | None, str | None]:
    for names, unit in ((BATTERY_PCT_FIELDS, "%"), (BATTERY_VOLT_FIELDS, "V")):
        for name in names:
            value = values.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value), unit
    return None, None


# ---- access decisions -------------------------------------------------------------------------------

ACCESS_PREFIXES = ("access", "gate.")


def is_access_event(event_kind: str, state: AlarmState | str | None) -> bool:
    """Gate decisions (granted, denied, stranger, visitor) are facts without a lifecycle."""
    return state is None and event_kind.startswith(ACCESS_PREFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessEntry:
    id: str
    ts: float
    gate: str
    kind: str
    result: str
    person: str | None
    distance: float | None
    severity: str
    reason: str | None = None
    snapshot: bytes | None = None

    @classmethod
    def from_event(cls, event: Event, *, max_snapshot: int) -> AccessEntry:
        return cls.from_fields(
            id=event.id,
            ts=event.ts,
            device=event.device,
            kind=event.kind,
            severity=event.severity.value,
            details=event.details,
            snapshot=event.snapshot_jpeg if event.snapshot_jpeg and len(event.snapshot_jpeg) <= max_snapshot else None,
        )

    @classmethod
    def from_fields(
        cls,
        *,
        id: str,
        ts: float,
        device: str,
        kind: str,
        severity: str,
        details: Mapping[str, Any],
        snapshot: bytes | None = None,
    ) -> AccessEntry:
        gate = details.get("gate")
        person = details.get("person") or details.get("resident") or details.get("name")
        distance = details.get("distance")
        result = details.get("result") or details.get("decision") or kind.rsplit(".", 1)[-1]
        reason = details.get("reason")
        return cls(
            id=id,
            ts=ts,
            gate=str(gate) if gate else device,
            kind=kind,
            result=str(result),
            person=str(person) if person else None,
            distance=float(distance) if isinstance(distance, int | float) and not isinstance(distance, bool) else None,
            severity=severity,
            reason=str(reason) if reason else None,
            snapshot=snapshot,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ts": round(self.ts, 3),
            "gate": self.gate,
            "kind": self.kind,
            "result": self.result,
            "person": self.person,
            "distance": self.distance,
            "severity": self.severity,
            "reason": self.reason,
            "snapshot": self.snapshot is not None,
        }


# ---- alarms -----------------------------------------------------------------------------------------


def alarm_sort_key(severity: str, raised_at: float) -> tuple[int, float]:
    """Most severe first, then oldest first."""
    try:
        rank = SEVERITY_ORDER[Severity(severity)]
    except ValueError:
        rank = -1
    return (-rank, raised_at)


def fmt_age(seconds: float) -> str:
    """A short age: 42s, 5m03s, 2h10m, 3d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"
