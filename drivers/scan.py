"""`edge scan`: which unit ids answer on a bus, and which profile each looks like.

Every unit id gets one cheap probe (read holding register 0); any answer, even a Modbus exception, means a
device is there. Present units then get each profile's ``identify`` read; a profile matches when its read
succeeds and the values it expects are there (URM13: register 2 holds the unit's own id). Matches are
ranked by how specific the probe is.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.config import BusConfig
from drivers.link import DeviceException, ModbusLink, NoAnswer
from drivers.modbus import Table, silence
from drivers.profile import IdentifySpec, Profile, all_profiles


@dataclass
class Found:
    unit: int
    profiles: list[str] = field(default_factory=list)


def parse_units(text: str) -> list[int]:
    """'1-20,50' -> [1..20, 50]; ValueError naming the bad part."""
    units: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"unit range {part!r}: expected N or N-M") from None
        if not 1 <= first <= last <= 247:
            raise ValueError(f"unit range {part!r}: unit ids are 1-247, low to high")
        units.update(range(first, last + 1))
    return sorted(units)


def why_not_open(url: str) -> str:
    """Why a bus URL does not open: the operating system's own words (no such port, permission, refused)."""
    import socket

    if url.startswith(("tcp://", "socket://")):
        host, _, port = url.split("://", 1)[1].rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
                return "the connection opens now but the Modbus client could not use it"
        except (OSError, ValueError) as exc:
            return getattr(exc, "strerror", None) or str(exc)
    if "://" not in url and not os.path.exists(url):
        return "no such serial port (is the USB adapter plugged in? `ls /dev/ttyUSB* /dev/ttyACM*`)"
    if "://" not in url and not os.access(url, os.R_OK | os.W_OK):
        return "permission denied (add the user to the dialout group, then log in again)"
    if "://" not in url:
        try:
            os.close(os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
        except OSError as exc:
            return exc.strerror or str(exc)
    return "the port opens now but the Modbus client could not use it (busy, or wrong settings)"


class Scanner:
    def __init__(self, cfg: BusConfig, profiles: list[Profile] | None = None) -> None:
        self.cfg = cfg
        self.link = ModbusLink(cfg)
        self.profiles = [p for p in (profiles or all_profiles()) if p.identify is not None]
        self._gap = 0.0 if cfg.is_tcp else silence(cfg.baudrate) + cfg.turnaround_s

    async def __aenter__(self) -> Scanner:
        if not await self.link.connect():
            raise OSError(f"cannot open {self.cfg.url}: {await asyncio.to_thread(why_not_open, self.cfg.url)}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.link.close()

    async def _read(self, unit: int, table: Table, address: int, count: int) -> list[int] | None:
        """Values, [] for a Modbus exception (the unit is there), None for no answer."""
        try:
            return await self.link.read(unit, table, address, count)
        except DeviceException:
            return []
        except NoAnswer:
            return None
        finally:
            await asyncio.sleep(self._gap)

    async def probe(self, unit: int) -> Found | None:
        if await self._read(unit, Table.HOLDING, 0, 1) is None:
            return None
        scored: list[tuple[int, str]] = []
        for profile in self.profiles:
            ident = profile.identify
            assert ident is not None
            if await self._matches(unit, ident):
                scored.append((len(ident.expect) * 1000 + ident.count, profile.name))
        return Found(unit, [name for _, name in sorted(scored, reverse=True)])

    async def _matches(self, unit: int, ident: IdentifySpec) -> bool:
        values = await self._read(unit, ident.table, ident.address, ident.count)
        if not values:
            return False
        for offset, want in ident.expect.items():
            if values[offset] != (unit if want == "unit_id" else int(want)):
                return False
        return True

    async def scan(self, units: list[int], progress: Callable[[int, Found | None], None] | None = None) -> list[Found]:
        found = []
        for unit in units:
            result = await self.probe(unit)
            if result is not None:
                found.append(result)
            if progress:
                progress(unit, result)
        return found
