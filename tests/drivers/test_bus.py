"""The bus scheduler against simulated RS-485 buses (pty, real baud timing) and Modbus TCP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.bus import BusScheduler, WriteFailed
from drivers.config import BusConfig, DeviceConfig
from drivers.device import DeviceSpec, resolve_device
from simulators.model import SimBus, SimDevice
from simulators.rtu import Noise, RtuSimulator, RtuTcpSimulator
from simulators.tcp import TcpSimulator
from tests.support import async_wait_for


class Sink:
    def __init__(self) -> None:
        self.values: list[tuple[str, dict[str, Any], float]] = []
        self.availability: list[tuple[str, bool]] = []

    async def values_(self, device: str, values: dict[str, Any], ts: float) -> None:
        self.values.append((device, values, time.monotonic()))

    async def availability_(self, device: str, online: bool, reason: str) -> None:
        self.availability.append((device, online))

    def last(self, device: str, key: str) -> Any:
        for dev, values, _ in reversed(self.values):
            if dev == device and key in values:
                return values[key]
        return None

    def online(self, device: str) -> bool | None:
        states = [o for d, o in self.availability if d == device]
        return states[-1] if states else None

    def count(self, device: str, since: float = 0.0) -> int:
        return sum(1 for d, _, t in self.values if d == device and t >= since)


class _SinkAdapter:
    def __init__(self, sink: Sink) -> None:
        self.values, self.availability = sink.values_, sink.availability_


def spec(id_: str, profile: str, **kw: Any) -> DeviceSpec:
    return resolve_device(DeviceConfig(id=id_, bus="b", profile=profile, **kw))


@contextlib.asynccontextmanager
async def running(
    specs: list[DeviceSpec],
    *,
    sim_specs: list[DeviceSpec] | None = None,
    baudrate: int = 9600,
    noise: Noise | None = None,
    **bus: Any,
) -> AsyncIterator[tuple[BusScheduler, Sink, RtuSimulator]]:
    devices = [SimDevice(s) for s in (sim_specs if sim_specs is not None else specs)]
    async with RtuSimulator(SimBus(devices), baudrate=baudrate, noise=noise) as sim:
        cfg = BusConfig(id="b", url=str(sim.path), baudrate=baudrate, **{"timeout_s": 0.1, **bus})
        sink = Sink()
        scheduler = BusScheduler(cfg, specs, _SinkAdapter(sink))
        task = asyncio.create_task(scheduler.run())
        try:
            yield scheduler, sink, sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_values_are_decoded_through_the_profile() -> None:
    specs = [
        spec("bin", "urm13_bin", poll_s=0.05),
        spec("mh", "manhole_monitor", poll_s=0.05),
        spec("smoke", "uniguard_smoke", unit_id=5, poll_s=0.05),
    ]
    async with running(specs, baudrate=19200) as (_, sink, sim):
        devices = sim.bus.devices
        devices["bin"].set("distance", 45)
        devices["mh"].set("roll", 20.0)
        devices["mh"].set("lid_open", True)
        devices["smoke"].set("smoke", True)
        await async_wait_for(lambda: sink.last("bin", "fill_pct") == 75.0, what="bin fill 75 %")
        await async_wait_for(lambda: sink.last("mh", "tilt") == pytest.approx(20.0, abs=0.01), what="tilt")
        await async_wait_for(lambda: sink.last("mh", "lid_open") is True, what="lid open")
        await async_wait_for(lambda: sink.last("smoke", "smoke") is True, what="smoke")
        devices["bin"].set_raw("distance", 0)  # out of range
        await async_wait_for(lambda: sink.last("bin", "distance_fault") == "out_of_range", what="sentinel")
        assert sink.last("bin", "fill_pct") is None
        assert all(sink.online(d) for d in ("bin", "mh", "smoke"))


async def test_contiguous_fields_are_read_in_one_transaction_per_block() -> None:
    specs = [spec("mh", "manhole_monitor", poll_s=0.02)]
    async with running(specs, baudrate=115200) as (scheduler, sink, _):
        await async_wait_for(lambda: scheduler.devices["mh"].polls >= 5, what="5 polls")
        state = scheduler.devices["mh"]
        # three parts, one block each: 3 transactions a poll
        assert scheduler.stats.transactions <= 3 * state.polls
        assert scheduler.last_cycle_s is not None and scheduler.last_cycle_s > 0


async def test_dead_device_goes_offline_is_backed_off_and_others_keep_their_rate() -> None:
    live = [spec(f"g{i}", "generic_holding", unit_id=i, poll_s=0) for i in range(1, 5)]
    dead = spec("dead", "generic_holding", unit_id=9, poll_s=0)
    async with running(
        [*live, dead],
        sim_specs=[*live, dead],
        baudrate=19200,
        offline_after=2,
        backoff_initial_s=1.0,
        backoff_max_s=2.0,
    ) as (scheduler, sink, sim):
        await async_wait_for(lambda: sink.online("dead"), what="dead device online first")
        t0 = time.monotonic()
        await asyncio.sleep(0.5)
        before = sink.count("g1", since=t0) / 0.5
        sim.bus.devices["dead"].alive = False
        await async_wait_for(lambda: sink.online("dead") is False, what="offline")
        t1 = time.monotonic()
        await asyncio.sleep(1.0)
        after = sink.count("g1", since=t1) / 1.0
        # a dead unit costs timeout x (retries + 1) per poll until offline; then only one try per back-off
        assert after > 0.8 * before, (before, after)
        assert scheduler.devices["dead"].failed_polls <= 2 + 2
        assert all(sink.online(s.id) for s in live)
        sim.bus.devices["dead"].alive = True
        await async_wait_for(lambda: sink.online("dead") is True, timeout=5, what="back online")


async def test_absent_unit_is_silent_on_rtu() -> None:
    ghost = spec("ghost", "generic_holding", unit_id=77, poll_s=0.05)
    async with running([ghost], sim_specs=[], baudrate=115200, offline_after=2, retries=0) as (sched, sink, sim):
        await async_wait_for(lambda: sink.online("ghost") is False, what="ghost offline")
        assert sim.stats.silent >= 2 and sim.stats.answered == 0
        assert sched.stats.timeouts >= 2


async def test_noisy_bus_with_crc_errors_and_garbage_keeps_devices_online() -> None:
    specs = [spec(f"g{i}", "generic_holding", unit_id=i, poll_s=0) for i in range(1, 4)]
    noise = Noise(crc_error_rate=0.15, garbage_rate=0.1, seed=7)
    async with running(specs, baudrate=115200, noise=noise, retries=2) as (scheduler, sink, sim):
        for i, s in enumerate(specs):
            sim.bus.devices[s.id].set("r3", 100 + i)
        await async_wait_for(lambda: sim.stats.corrupted >= 20, timeout=20, what="20 corrupted answers")
        assert scheduler.stats.timeouts > 0
        assert [sink.last(s.id, "r3") for s in specs] == [100, 101, 102]
        assert not any(o is False for _, o in sink.availability)


async def test_port_that_disappears_and_comes_back() -> None:
    specs = [spec("g1", "generic_holding", unit_id=1, poll_s=0.05)]
    async with running(
        specs, baudrate=115200, offline_after=2, reconnect_s=0.2, backoff_initial_s=0.2, backoff_max_s=0.5
    ) as (_, sink, sim):
        await async_wait_for(lambda: sink.online("g1"), what="online")
        sim.unplug()
        await async_wait_for(lambda: sink.online("g1") is False, timeout=10, what="offline while unplugged")
        sim.bus.devices["g1"].set("r0", 42)
        sim.plug()
        await async_wait_for(lambda: sink.online("g1") is True, timeout=10, what="online after replug")
        await async_wait_for(lambda: sink.last("g1", "r0") == 42, what="fresh values after replug")


async def test_relay_pulse_releases_by_itself_and_writes_interleave_with_polling() -> None:
    relay = spec("relay", "relay_board", poll_s=0.05)
    other = spec("bin", "urm13_bin", poll_s=0.05)
    async with running([relay, other], baudrate=19200) as (scheduler, sink, sim):
        await async_wait_for(lambda: sink.online("bin"), what="bin online")
        await scheduler.write("relay", "pulse", {"channel": 2, "seconds": 0.3})
        await async_wait_for(lambda: sink.last("relay", "relay2") is True, what="relay 2 on")
        await async_wait_for(lambda: sink.last("relay", "relay2") is False, what="relay 2 released itself")
        # a burst of writes does not starve the polling of the other device
        t0 = time.monotonic()
        for n in range(20):
            await scheduler.write("relay", "set", {"channel": n % 8, "on": n % 2 == 0})
        elapsed = time.monotonic() - t0
        assert sink.count("bin", since=t0) >= int(elapsed / 0.05 / 2)
        with pytest.raises(ValueError, match="args.channel: Input should be less than or equal to 7"):
            await scheduler.write("relay", "set", {"channel": 8, "on": True})


async def test_smoke_alarm_latches_until_the_gateway_resets_it() -> None:
    smoke = spec("smoke", "uniguard_smoke", poll_s=0.05)
    async with running([smoke], baudrate=19200) as (scheduler, sink, sim):
        device = sim.bus.devices["smoke"]
        device.set("smoke", True)
        await async_wait_for(lambda: sink.last("smoke", "smoke") is True, what="smoke")
        device.set("smoke", False)  # the air clears: the detector stays latched
        cleared_at = time.monotonic()
        before = sink.count("smoke", since=cleared_at)
        # twelve polls after the air cleared, the alarm is still latched
        await async_wait_for(lambda: sink.count("smoke", since=cleared_at) >= before + 12, what="twelve more polls")
        assert sink.last("smoke", "smoke") is True
        await scheduler.write("smoke", "reset", {})
        await async_wait_for(lambda: sink.last("smoke", "smoke") is False, what="reset")


async def test_write_to_a_dead_device_fails_with_a_reason() -> None:
    smoke = spec("smoke", "uniguard_smoke", poll_s=1)
    async with running([smoke], sim_specs=[], baudrate=115200, retries=0) as (scheduler, _, _):
        with pytest.raises(WriteFailed, match="device smoke: reset failed"):
            await scheduler.write("smoke", "reset", {})


async def test_modbus_tcp_endpoint() -> None:
    specs = [spec(f"g{i}", "generic_holding", unit_id=i, poll_s=0.02) for i in (1, 2)]
    ghost = spec("ghost", "generic_holding", unit_id=3, poll_s=0.02)
    bus = SimBus([SimDevice(s) for s in specs])
    async with TcpSimulator(bus) as sim:
        bus.devices["g2"].set("r9", 65535)
        sink = Sink()
        cfg = BusConfig(id="b", url=sim.url, timeout_s=0.5, offline_after=2)
        scheduler = BusScheduler(cfg, [*specs, ghost], _SinkAdapter(sink))
        task = asyncio.create_task(scheduler.run())
        try:
            await async_wait_for(lambda: sink.last("g2", "r9") == 65535, what="g2 r9 over TCP")
            await async_wait_for(lambda: sink.online("ghost") is False, what="unit 3 offline (0x0B)")
            assert sink.online("g1") and sink.online("g2")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_rtu_over_tcp_socket_url() -> None:
    """RS-485-to-Ethernet converters in transparent mode: RTU frames on a TCP socket (socket://host:port)."""
    specs = [spec("bin", "urm13_bin", poll_s=0.05), spec("smoke", "uniguard_smoke", unit_id=2, poll_s=0.05)]
    async with RtuTcpSimulator(SimBus([SimDevice(s) for s in specs]), baudrate=19200) as sim:
        sim.bus.devices["bin"].set("distance", 70)
        sink = Sink()
        cfg = BusConfig(id="b", url=sim.url, baudrate=19200, timeout_s=0.2)
        scheduler = BusScheduler(cfg, specs, _SinkAdapter(sink))
        task = asyncio.create_task(scheduler.run())
        try:
            await async_wait_for(lambda: sink.last("bin", "fill_pct") == 50.0, what="bin over socket://")
            await scheduler.write("smoke", "reset", {})
            assert sink.online("smoke") is True
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
