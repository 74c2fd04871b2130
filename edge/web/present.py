"""How the console and ``edge watch`` present an alarm to people: names, label, instruction, details, time.

Built once from the gateway config: display names (``web.names``, else the id), kind texts (defaults from
edge/web/plain.py, overridden by ``web.alarm_kinds``), units from the devices' profiles, and the site's time
zone for 24-hour clock times.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge.web.i18n import LANGUAGES, gettext_for
from edge.web.plain import KINDS, describe, kind_text

if TYPE_CHECKING:
    from edge.config import GatewayConfig


class Presenter:
    def __init__(self, config: GatewayConfig) -> None:
        web = config.web
        self._names = web.names
        self._overrides = web.alarm_kinds
        self.zone = ZoneInfo(web.timezone)
        self._profiles = {d.id: d.profile for d in config.devices}

    def device_name(self, device: str) -> str:
        return self._names.devices.get(device, device)

    def area_name(self, area: str | None) -> str | None:
        if area is None:
            return None
        return self._names.areas.get(area, area)

    def kinds(self, language: str) -> dict[str, dict[str, str]]:
        """Label and instruction of every known kind (defaults and the site's own), in ``language``."""
        _ = gettext_for(language)
        return {kind: kind_text(kind, self._overrides, _) for kind in sorted({*KINDS, *self._overrides})}

    def kind(self, kind: str, language: str) -> dict[str, str]:
        return kind_text(kind, self._overrides, gettext_for(language))

    def details(self, device: str, details: Mapping[str, Any]) -> dict[str, str]:
        """The details as a sentence in every language."""
        field = details.get("field")
        unit = self.unit_of(device, field) if isinstance(field, str) else None
        return {language: describe(details, unit, gettext_for(language)) for language in LANGUAGES}

    def unit_of(self, device: str, field: str) -> str | None:
        profile = self._profiles.get(device)
        return _unit(profile, field) if profile else None

    def clock(self, ts: float, *, date: bool = False) -> str:
        """24-hour local time at the site: 14:05:09 (or 2026-12-01 14:05:09)."""
        moment = datetime.fromtimestamp(ts, self.zone)
        return moment.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")


@functools.cache
def _unit(profile: str, field: str) -> str | None:
    from drivers.profile import ProfileError, get_profile

    try:
        spec = get_profile(profile)
    except ProfileError:
        return None
    for item in (*spec.fields, *getattr(spec, "derived", ())):
        if getattr(item, "key", None) == field:
            return getattr(item, "unit", None)
    return None
