"""`edge scan` against a simulated bus: present units found, each matched to the profile it looks like."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from drivers.config import BusConfig, DeviceConfig
from drivers.device import resolve_device
from drivers.scan import Scanner, parse_units
from simulators.model import SimBus, SimDevice
from simulators.rtu import RtuSimulator
from simulators.tcp import TcpSimulator


def sim_bus() -> SimBus:
    configs = [
        DeviceConfig(id="smoke", bus="b", profile="uniguard_smoke", unit_id=3),
        DeviceConfig(id="bin", bus="b", profile="urm13_bin", unit_id=13),
        DeviceConfig(id="relay", bus="b", profile="relay_board", unit_id=5),
        DeviceConfig(id="mh", bus="b", profile="manhole_monitor", units={"tilt": 80, "water": 7, "lid": 8}),
    ]
    return SimBus([SimDevice(resolve_device(c)) for c in configs])


async def test_scan_finds_units_and_profiles() -> None:
    async with RtuSimulator(sim_bus(), baudrate=115200) as sim:
        cfg = BusConfig(id="scan", url=str(sim.path), baudrate=115200, timeout_s=0.05)
        seen = []
        async with Scanner(cfg) as scanner:
            found = await scanner.scan(parse_units("1-15,80"), lambda unit, f: seen.append(unit))
    by_unit = {f.unit: f.profiles for f in found}
    assert set(by_unit) == {3, 5, 7, 8, 13, 80}
    assert by_unit[3][0] == "uniguard_smoke"
    assert by_unit[13][0] == "urm13_bin"  # register 2 holds its own unit id
    assert by_unit[5][0] == "relay_board"
    assert by_unit[80] == ["manhole_monitor"]
    assert len(seen) == 16  # progress for every unit tried


@pytest.mark.parametrize(("text", "message"), [("0-3", "1-247"), ("5-2", "low to high"), ("a", "expected N")])
def test_bad_unit_ranges_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_units(text)


def test_scan_command_prints_a_table(tmp_path) -> None:
    import asyncio
    import threading

    import typer

    from drivers.cli import register

    app = typer.Typer()
    register(app)
    ready, stop = threading.Event(), threading.Event()
    url: list[str] = []

    def serve() -> None:
        async def main() -> None:
            async with TcpSimulator(sim_bus()) as sim:
                url.append(sim.url)
                ready.set()
                await asyncio.to_thread(stop.wait)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        result = CliRunner().invoke(app, ["scan", url[0], "--units", "1-14", "--timeout", "0.2"])
    finally:
        stop.set()
        thread.join(10)
    assert result.exit_code == 0, result.output
    assert "urm13_bin" in result.output and "uniguard_smoke" in result.output and "relay_board" in result.output
