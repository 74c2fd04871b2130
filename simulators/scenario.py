"""Scenarios: YAML files in simulators/scenarios/ that put simulated devices on a bus and act on them in time.

A scenario lists its devices exactly as the gateway config does (so the same entries go into the gateway),
the bus they share (RTU on a pty with real baud timing, or Modbus TCP on loopback), timed steps (set a
field, ramp it, kill or revive a device, make the bus noisy, unplug the port) and the alarm events a
subscriber must see. ``speed`` compresses time: ``at`` and ``over`` are scenario seconds, run at
``seconds / speed``; a day of bins filling at speed 1000 takes 86 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from edge.core.configbase import Strict
from simulators.model import SimBus, SimDevice
from simulators.rtu import Noise, RtuSimulator, RtuTcpSimulator
from simulators.tcp import TcpSimulator

SCENARIO_DIR = Path(__file__).parent / "scenarios"
BUS_ID = "sim"


class Ramp(Strict):
    field: str
    to: float
    over: float = Field(gt=0, description="scenario seconds the ramp takes")
    every: float | None = Field(default=None, gt=0, description="scenario seconds between updates (default over/50)")


class NoiseSpec(Strict):
    crc_error_rate: float = Field(default=0.0, ge=0, le=1)
    garbage_rate: float = Field(default=0.0, ge=0, le=1)


class Step(Strict):
    at: float = Field(ge=0, description="scenario seconds from the start")
    device: str | None = None
    say: str | None = Field(default=None, description="text printed when the step runs")
    set: dict[str, float | bool] | None = None
    set_raw: dict[str, int] | None = None
    ramp: Ramp | None = None
    kill: bool = False
    revive: bool = False
    noise: NoiseSpec | None = None
    unplug: bool = False
    plug: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        device_actions = [self.set is not None, self.set_raw is not None, self.ramp is not None, self.kill, self.revive]
        bus_actions = [self.noise is not None, self.unplug, self.plug]
        if sum(device_actions) + sum(bus_actions) > 1:
            raise ValueError("a step does one thing: set, set_raw, ramp, kill, revive, noise, unplug or plug")
        if any(device_actions) and self.device is None:
            raise ValueError("this step acts on a device: give 'device'")
        if not any(device_actions) and not any(bus_actions) and self.say is None:
            raise ValueError("the step does nothing")
        return self


class Expected(Strict):
    device: str
    kind: str
    state: Literal["raised", "acknowledged", "cleared"]


class Scenario(Strict):
    name: str
    description: str = ""
    transport: Literal["rtu", "socket", "tcp"] = Field(
        default="rtu", description="RTU on a pty, RTU over a TCP socket (socket://), or Modbus TCP"
    )
    baudrate: int = Field(default=9600, ge=1200, le=921_600)
    speed: float = Field(default=1.0, gt=0, le=100_000)
    duration: float = Field(gt=0, description="scenario seconds until the run ends")
    devices: list[DeviceConfig] = Field(min_length=1)
    steps: list[Step] = Field(default_factory=list)
    expect: list[Expected] = Field(default_factory=list, description="alarm events a subscriber must see, in order")

    @model_validator(mode="before")
    @classmethod
    def _devices_on_the_sim_bus(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("devices"), list):
            data = {**data, "devices": [{"bus": BUS_ID, **d} if isinstance(d, dict) else d for d in data["devices"]]}
        return data

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        ids = {d.id for d in self.devices}
        for step in self.steps:
            if step.device is not None and step.device not in ids:
                raise ValueError(f"step at {step.at}: no device {step.device!r} in the scenario")
        for e in self.expect:
            if e.device not in ids:
                raise ValueError(f"expect: no device {e.device!r} in the scenario")
        return self


def load_scenario(name_or_path: str | Path) -> Scenario:
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(list_scenarios())
        raise ValueError(f"no scenario {str(name_or_path)!r} (known: {known})")
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {problems}") from None


def list_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


class ScenarioRun:
    """Simulators for a scenario; ``url`` / ``gateway_sections()`` tell the gateway where they are."""

    def __init__(
        self, scenario: Scenario, *, log: Callable[[str], None] = print, speed: float | None = None, timing: bool = True
    ) -> None:
        self.scenario = scenario
        self.speed = speed or scenario.speed
        self.log = log
        self.devices = [SimDevice(resolve_device(d), log=log) for d in scenario.devices]
        self.bus = SimBus(self.devices)
        self.timing = timing
        self.rtu: RtuSimulator | None = None
        self.tcp: TcpSimulator | None = None

    @property
    def url(self) -> str:
        if isinstance(self.rtu, RtuTcpSimulator):
            return self.rtu.url
        if self.rtu is not None:
            return str(self.rtu.path)
        assert self.tcp is not None
        return self.tcp.url

    def gateway_sections(self, **bus: Any) -> dict[str, Any]:
        """The ``buses`` and ``devices`` entries that connect a gateway to this run."""
        entry: dict[str, Any] = {"id": BUS_ID, "url": self.url, **bus}
        if self.scenario.transport != "tcp":
            entry.setdefault("baudrate", self.scenario.baudrate)
        devices = [d.model_dump(mode="json", exclude_defaults=True) for d in self.scenario.devices]
        return {"buses": [entry], "devices": devices}

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[ScenarioRun]:
        if self.scenario.transport == "rtu":
            async with RtuSimulator(self.bus, baudrate=self.scenario.baudrate, timing=self.timing) as rtu:
                self.rtu = rtu
                yield self
        elif self.scenario.transport == "socket":
            async with RtuTcpSimulator(self.bus, baudrate=self.scenario.baudrate, timing=self.timing) as rtu_tcp:
                self.rtu = rtu_tcp
                yield self
        else:
            async with TcpSimulator(self.bus) as tcp:
                self.tcp = tcp
                yield self

    async def play(self) -> None:
        """Run the steps in time; returns at the scenario's end."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ramps: list[asyncio.Task[None]] = []
        try:
            for step in sorted(self.scenario.steps, key=lambda s: s.at):
                await asyncio.sleep(max(0.0, t0 + step.at / self.speed - loop.time()))
                ramp = self._do(step)
                if ramp is not None:
                    ramps.append(asyncio.create_task(ramp, name=f"ramp {step.device}"))
            await asyncio.sleep(max(0.0, t0 + self.scenario.duration / self.speed - loop.time()))
        finally:
            for task in ramps:
                task.cancel()
        self.log(f"[t={self.scenario.duration:g}s] scenario {self.scenario.name} finished")

    def _do(self, step: Step) -> Coroutine[Any, Any, None] | None:  # a coroutine for ramps, else None
        at = f"[t={step.at:g}s]"
        if step.say:
            self.log(f"{at} {step.say}")
        device = self.bus.devices[step.device] if step.device else None
        if step.set is not None and device is not None:
            for key, value in step.set.items():
                device.set(key, value)
            self.log(f"{at} {device.id}: set {step.set}")
        elif step.set_raw is not None and device is not None:
            for key, raw in step.set_raw.items():
                device.set_raw(key, raw)
            self.log(f"{at} {device.id}: raw {step.set_raw}")
        elif step.kill and device is not None:
            device.alive = False
            self.log(f"{at} {device.id}: stops answering")
        elif step.revive and device is not None:
            device.alive = True
            self.log(f"{at} {device.id}: answers again")
        elif step.noise is not None and self.rtu is not None:
            self.rtu.noise = Noise(step.noise.crc_error_rate, step.noise.garbage_rate)
            self.log(
                f"{at} bus noise: {step.noise.crc_error_rate:.0%} CRC errors, {step.noise.garbage_rate:.0%} garbage"
            )
        elif step.unplug and self.rtu is not None:
            self.rtu.unplug()
            self.log(f"{at} bus port unplugged")
        elif step.plug and self.rtu is not None:
            self.rtu.plug()
            self.log(f"{at} bus port plugged back")
        elif step.ramp is not None and device is not None:
            self.log(f"{at} {device.id}: {step.ramp.field} -> {step.ramp.to:g} over {step.ramp.over:g}s")
            return self._ramp(device, step.ramp)
        return None

    async def _ramp(self, device: SimDevice, ramp: Ramp) -> None:
        start = float(device.get(ramp.field) or 0.0)
        every = ramp.every or ramp.over / 50
        n = max(1, round(ramp.over / every))
        for i in range(1, n + 1):
            await asyncio.sleep(every / self.speed)
            device.set(ramp.field, start + (ramp.to - start) * i / n)
