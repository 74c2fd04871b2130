"""Simulated Modbus devices built from the same profiles the drivers use.

A ``SimDevice`` is one configured device: one ``SimUnit`` (register banks) per profile part. Scenario code
sets fields by key (``device.set("distance", 80)``); the unit encodes the value into its registers the way
the real device would, so the driver decodes it back through its own profile. A unit answers only the
addresses its profile maps (anything else is an illegal-address exception, like the real devices), and a
dead device does not answer at all. Model-specific behaviour (latched smoke alarm reset by a magic value,
the relay board's self-releasing flash command) lives in small classes in ``BEHAVIOURS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.device import DeviceSpec
from drivers.modbus import (
    FC_TABLE,
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    MAX_READ,
    WRITE_COIL,
    WRITE_COILS,
    WRITE_REGISTER,
    WRITE_REGISTERS,
    Request,
    Table,
)
from drivers.profile import encode_field, plan_blocks

Later = Callable[[float, Callable[[], None]], Any]


@dataclass(slots=True)
class Reply:
    values: tuple[int, ...] = ()
    exception: int | None = None


@dataclass
class SimUnit:
    unit_id: int
    part: str
    device: SimDevice
    banks: dict[Table, dict[int, int]] = field(default_factory=lambda: {t: {} for t in Table})
    reads: int = 0

    def handle(self, req: Request) -> Reply | None:
        """The answer to ``req``, or None for silence (dead device)."""
        if not self.device.alive:
            return None
        self.reads += 1
        fc = req.function
        if fc in FC_TABLE:
            table = FC_TABLE[fc]
            if not 1 <= req.count <= MAX_READ[table]:
                return Reply(exception=3)
            bank = self.banks[table]
            span = range(req.address, req.address + req.count)
            if any(a not in bank for a in span):
                return Reply(exception=ILLEGAL_ADDRESS)
            return Reply(tuple(bank[a] for a in span))
        if fc in (WRITE_COIL, WRITE_COILS):
            table = Table.COIL
        elif fc in (WRITE_REGISTER, WRITE_REGISTERS):
            table = Table.HOLDING
        else:
            return Reply(exception=ILLEGAL_FUNCTION)
        for i, value in enumerate(req.values):
            address = req.address + i
            if not self.device.behaviour.on_write(self, table, address, value):
                if address not in self.banks[table]:
                    return Reply(exception=ILLEGAL_ADDRESS)
                self.banks[table][address] = value
        return Reply(req.values)


class Behaviour:
    """Model-specific reactions to writes; the default stores the value if the address is mapped."""

    def __init__(self, device: SimDevice) -> None:
        self.device = device

    def on_write(self, unit: SimUnit, table: Table, address: int, value: int) -> bool:
        """Return True if the write was handled here (not stored as is)."""
        return False

    def on_set(self, key: str, value: Any) -> bool:
        """Return True if setting the field was handled here (not stored as is)."""
        return False


class UniGuardBehaviour(Behaviour):
    RESET, RELAY_TEST = 234, 567

    def on_write(self, unit: SimUnit, table: Table, address: int, value: int) -> bool:
        if table is Table.HOLDING and address == 1:
            if value == self.RESET:
                self.device.note("reset by the gateway: smoke alarm unlatched")
                self.device.put("smoke", self.device.smoke_present)
                self.device.put("relay", self.device.smoke_present)
            return True
        if table is Table.HOLDING and address == 3:
            if value == self.RELAY_TEST:
                self.device.set("relay", True)
            return True
        return False

    def on_set(self, key: str, value: Any) -> bool:
        if key != "smoke":
            return False
        # the detector latches: smoke seen once stays alarmed until a reset while the air is clear
        self.device.smoke_present = bool(value)
        if value:
            self.device.put("smoke", True)
            self.device.put("relay", True)
        return True


class RelayBehaviour(Behaviour):
    """Flash commands: 0x0200+n on for value x 100 ms then off, 0x0400+n off for a time then on."""

    def on_write(self, unit: SimUnit, table: Table, address: int, value: int) -> bool:
        if table is not Table.HOLDING or not (0x0200 <= address < 0x0208 or 0x0400 <= address < 0x0408):
            return False
        channel, on = address & 0xFF, address < 0x0400
        key = f"relay{channel}"
        self.device.set(key, on)
        self.device.note(f"{key} {'on' if on else 'off'} for {value / 10:.1f} s")
        self.device.later(value / 10.0, lambda: self.device.set(key, not on))
        return True


BEHAVIOURS: dict[str, type[Behaviour]] = {"uniguard_smoke": UniGuardBehaviour, "relay_board": RelayBehaviour}


class SimDevice:
    def __init__(self, spec: DeviceSpec, *, log: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.id = spec.id
        self.alive = True
        self.smoke_present = False
        self._log = log
        self._later: Later | None = None
        self.units = {part: SimUnit(unit_id, part, self) for part, unit_id in spec.units.items()}
        self.behaviour = BEHAVIOURS.get(spec.profile.name, Behaviour)(self)
        self._map_addresses()
        for f in spec.profile.fields:
            if f.bit is None:
                self.put(f.key, False if f.type == "bool" else 0)  # contacts rest in their normal state
        for key, value in spec.profile.initial.items():
            self.put(key, value)

    def _map_addresses(self) -> None:
        profile = self.spec.profile
        for block in plan_blocks(profile):
            bank = self.units[block.part].banks[block.table]
            for a in range(block.address, block.address + block.count):
                bank.setdefault(a, 0)
        ident = profile.identify
        if ident is not None:
            unit = self.units[ident.part]
            for offset in range(ident.count):
                unit.banks[ident.table].setdefault(ident.address + offset, 0)
            for offset, value in ident.expect.items():
                raw = unit.unit_id if value == "unit_id" else int(value)
                unit.banks[ident.table][ident.address + offset] = raw

    def bind(self, later: Later) -> None:
        """Give the device a scheduler for timed behaviour (relay flash)."""
        self._later = later

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        if self._later is None:
            raise RuntimeError(f"simulated device {self.id} is not bound to a running simulator")
        self._later(delay, fn)

    def note(self, message: str) -> None:
        if self._log:
            self._log(f"{self.id}: {message}")

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` for field ``key`` in the registers, without behaviour."""
        spec = self.spec.profile.field(key)
        words = encode_field(spec, value)
        bank = self.units[spec.part].banks[spec.table]
        if spec.bit is not None:
            mask = 1 << spec.bit
            bank[spec.address] = (bank.get(spec.address, 0) & ~mask) | (words[0] & mask)
            return
        for i, w in enumerate(words):
            bank[spec.address + i] = w

    def set(self, key: str, value: Any) -> None:
        """Set a field the way the physical world would (behaviour applies: smoke latches)."""
        if key not in {f.key for f in self.spec.profile.fields}:
            raise KeyError(f"device {self.id} ({self.spec.profile.name}) has no field {key!r}")
        if not self.behaviour.on_set(key, value):
            self.put(key, value)

    def set_raw(self, key: str, raw: int) -> None:
        """Put a raw register value (a sentinel such as 0 = out of range) into a field."""
        spec = self.spec.profile.field(key)
        self.units[spec.part].banks[spec.table][spec.address] = raw & 0xFFFF

    def get(self, key: str) -> Any:
        from drivers.profile import decode_field

        spec = self.spec.profile.field(key)
        bank = self.units[spec.part].banks[spec.table]
        return decode_field(spec, [bank[spec.address + i] for i in range(spec.words)]).value


class SimBus:
    """The devices on one simulated bus, looked up by unit id."""

    def __init__(self, devices: list[SimDevice]) -> None:
        self.devices = {d.id: d for d in devices}
        self.by_unit: dict[int, SimUnit] = {}
        for device in devices:
            for unit in device.units.values():
                if unit.unit_id in self.by_unit:
                    other = self.by_unit[unit.unit_id].device.id
                    raise ValueError(f"unit id {unit.unit_id} is used by {other} and {device.id} on one bus")
                self.by_unit[unit.unit_id] = unit

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        for device in self.devices.values():
            device.bind(lambda delay, fn: loop.call_later(delay, fn))

    def handle(self, req: Request) -> Reply | None:
        unit = self.by_unit.get(req.unit)
        return unit.handle(req) if unit is not None else None
