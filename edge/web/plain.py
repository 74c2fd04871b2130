"""Plain language for people: what an alarm kind is called, what to do about it, and details as a sentence.

The texts here are the English source strings (gettext msgids); edge/web/i18n.py translates them with the
catalogs in edge/web/locale/. A site overrides a kind's label or instruction in ``web.alarm_kinds`` and names
its devices and areas in ``web.names``. Every kind the gateway raises has a default (a test checks the
topic contract's list against this table and the Chinese catalog).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def N_(text: str) -> str:
    """Marks a source string for the catalogs; translated where it is shown."""
    return text


@dataclass(frozen=True, slots=True)
class KindText:
    label: str
    instruction: str


CALL_FIRE = N_("Send a guard to look now. If there is fire or smoke, call 119 and start the evacuation.")
KINDS: dict[str, KindText] = {
    "smoke": KindText(N_("Smoke alarm"), CALL_FIRE),
    "smoke_concentration": KindText(N_("Smoke concentration high"), CALL_FIRE),
    "service": KindText(N_("Detector needs service"), N_("Tell the maintenance team; the detector may not work.")),
    "fault": KindText(N_("Device fault"), N_("Tell the maintenance team to check the device.")),
    "sensor_fault": KindText(N_("Sensor fault"), N_("Tell the maintenance team to check the sensor.")),
    "low_battery": KindText(N_("Battery low"), N_("Ask the maintenance team to change the battery.")),
    "tamper": KindText(N_("Device tampered with"), N_("Send a guard to look at the device.")),
    "manhole_tilt": KindText(N_("Manhole cover tilted"), N_("Send a guard to secure the manhole and warn passers-by.")),
    "manhole_open": KindText(N_("Manhole cover open"), N_("Send a guard to secure the manhole and warn passers-by.")),
    "manhole_water": KindText(N_("Water high in manhole"), N_("Tell the maintenance team; check for flooding.")),
    "bin_warning": KindText(N_("Bin nearly full"), N_("Tell the cleaning team to empty the bin today.")),
    "bin_full": KindText(N_("Bin full"), N_("Tell the cleaning team to empty the bin now.")),
    "beam_interrupted": KindText(N_("Perimeter beam crossed"), N_("Send a guard to the fence and look at the camera.")),
    "emergency_button": KindText(
        N_("Emergency button pressed"), N_("Call back or send a guard at once; call 110 or 120 if needed.")
    ),
    "door_open": KindText(N_("Door open"), N_("Check why the door is open and close it.")),
    "door.forced": KindText(N_("Gate forced open"), N_("Send a guard to the gate and look at the camera.")),
    "door.held_open": KindText(N_("Gate held open"), N_("Ask people at the gate to close it, or send a guard.")),
    "ebike_in_lift": KindText(
        N_("E-bike in the lift"), N_("Ask the rider over the lift speaker to take the e-bike out; send a guard.")
    ),
    "device.offline": KindText(N_("Device offline"), N_("Tell the maintenance team; the device does not answer.")),
    "outbox.full": KindText(N_("Gateway storage full"), N_("Call the installer: the uplink has been down too long.")),
    "command.rejected": KindText(N_("Command refused"), N_("Tell the platform team: a command was not accepted.")),
    "alarm.escalated": KindText(N_("Response time missed"), N_("Acknowledge the alarm and tell the supervisor.")),
    "uplink.refused": KindText(
        N_("Broker refuses the gateway's messages"),
        N_("Call the installer: the platform is not getting these events; they are kept on the gateway."),
    ),
    "commands.unavailable": KindText(
        N_("Platform commands unavailable"), N_("Call the installer: the broker refused the command subscription.")
    ),
    "clock.behind": KindText(
        N_("Gateway clock behind"), N_("Call the installer: the gateway's clock went back; check its time sync.")
    ),
    "disk.full": KindText(
        N_("Gateway disk full"), N_("Call the installer: the gateway's storage is full; new telemetry is refused.")
    ),
    "fall_detected": KindText(
        N_("Object falling from a building"),
        N_("Send a guard below at once, keep people away; the clip shows the window it came from."),
    ),
    "fall.analysis_paused": KindText(
        N_("Falling-object camera paused"), N_("Check the camera: it shook or was blocked, falls are not seen now.")
    ),
    "fall.analysis_resumed": KindText(
        N_("Falling-object camera resumed"), N_("No action needed: the camera is analysing again.")
    ),
    "fall.clip_saved": KindText(N_("Fall clip saved"), N_("Keep the clip as evidence.")),
    "fall.clip_failed": KindText(
        N_("Fall clip not saved"), N_("Call the installer: the evidence clip could not be written.")
    ),
}
UNKNOWN_INSTRUCTION = N_("Check the device and tell the supervisor.")

# details of a threshold rule: field, value, threshold; the field's label
FIELDS: dict[str, str] = {
    "concentration": N_("smoke concentration"),
    "smoke": N_("smoke"),
    "fill_pct": N_("bin fill"),
    "tilt": N_("tilt"),
    "water_level": N_("water level"),
    "lid_open": N_("lid"),
    "battery_pct": N_("battery"),
    "distance_fault": N_("distance sensor"),
    "mounted": N_("detector base"),
    "service": N_("service"),
}
ABOVE = N_("{field} {value}{unit}, alarm above {threshold}{unit}")
VALUE = N_("{field}: {value}{unit}")
TRUE_TEXT, FALSE_TEXT = N_("yes"), N_("no")
SHOWN_DETAILS: dict[str, str] = {
    "reason": N_("reason"),
    "person": N_("person"),
    "gate": N_("gate"),
    "class": N_("seen"),
    "sightings": N_("sightings"),
    "held_open_s": N_("held open (s)"),
    "reminder": N_("reminder"),
}

Translate = Callable[[str], str]


def kind_text(kind: str, overrides: Mapping[str, Any], _: Translate) -> dict[str, str]:
    """Label and instruction of a kind in the user's language; a site's override wins."""
    default = KINDS.get(kind)
    override = overrides.get(kind)
    label = _(default.label) if default else kind
    instruction = _(default.instruction) if default else _(UNKNOWN_INSTRUCTION)
    if override is not None:
        label = override.label or label
        instruction = override.instruction or instruction
    return {"label": label, "instruction": instruction}


def describe(details: Mapping[str, Any], unit: str | None, _: Translate) -> str:
    """Details for people: 'smoke concentration 684 ppm, alarm above 300 ppm'; other details as 'name: value'."""
    parts: list[str] = []
    field = details.get("field")
    if isinstance(field, str) and "value" in details:
        label = _(FIELDS[field]) if field in FIELDS else field.replace("_", " ")
        value = _value(details["value"], _)
        suffix = f" {unit}" if unit and unit != "%" else (unit or "")
        threshold = details.get("threshold")
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            parts.append(_(ABOVE).format(field=label, value=value, threshold=_value(threshold, _), unit=suffix))
        else:
            parts.append(_(VALUE).format(field=label, value=value, unit=suffix if value not in ("yes", "no") else ""))
    for key, name in SHOWN_DETAILS.items():
        if key in details and details[key] not in (None, ""):
            parts.append(f"{_(name)}: {_value(details[key], _)}")
    return "; ".join(parts)


def _value(value: Any, _: Translate) -> str:
    if value is True:
        return _(TRUE_TEXT)
    if value is False:
        return _(FALSE_TEXT)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
