"""The RTU simulator seen by a plain pymodbus client: wire timing, silence for absent units, noise, CLI."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException
from typer.testing import CliRunner

from drivers.config import DeviceConfig
from drivers.device import resolve_device
from drivers.modbus import char_time, silence
from simulators.model import SimBus, SimDevice
from simulators.rtu import Noise, RtuSimulator
from simulators.scenario import Scenario, load_scenario


def bus() -> SimBus:
    return SimBus([SimDevice(resolve_device(DeviceConfig(id="g", bus="b", profile="generic_holding", unit_id=1)))])


async def test_answers_take_the_wire_time_of_the_baud_rate() -> None:
    async with RtuSimulator(bus(), baudrate=9600) as sim:
        sim.bus.devices["g"].set("r4", 1234)
        client = AsyncModbusSerialClient(str(sim.path), baudrate=9600, timeout=1, retries=0)
        await client.connect()
        try:
            t0 = time.monotonic()
            rr = await client.read_holding_registers(0, count=10, device_id=1)
            elapsed = time.monotonic() - t0
        finally:
            client.close()
    assert rr.registers[4] == 1234
    # 8-byte request + 25-byte answer at 11 bits a character, and the device's 3.5-character silence
    assert elapsed >= 33 * char_time(9600) + silence(9600)


async def test_absent_unit_stays_silent() -> None:
    async with RtuSimulator(bus(), baudrate=115200) as sim:
        client = AsyncModbusSerialClient(str(sim.path), baudrate=115200, timeout=0.1, retries=0)
        await client.connect()
        try:
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=42)
        finally:
            client.close()
        assert sim.stats.silent == 1 and sim.stats.answered == 0


async def test_corrupted_answers_are_dropped_by_the_client() -> None:
    async with RtuSimulator(bus(), baudrate=115200, noise=Noise(crc_error_rate=1.0, seed=1)) as sim:
        client = AsyncModbusSerialClient(str(sim.path), baudrate=115200, timeout=0.1, retries=0)
        await client.connect()
        try:
            with pytest.raises(ModbusIOException):
                await client.read_holding_registers(0, count=1, device_id=1)
        finally:
            client.close()
        assert sim.stats.corrupted == 1


def test_scenario_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="no scenario 'fire'"):
        load_scenario("fire")
    with pytest.raises(ValueError, match="no device 'ghost'"):
        Scenario.model_validate(
            {
                "name": "x",
                "duration": 1,
                "devices": [{"id": "a", "profile": "di_module"}],
                "steps": [{"at": 0, "device": "ghost", "kill": True}],
            }
        )
    with pytest.raises(ValueError, match="a step does one thing"):
        Scenario.model_validate(
            {
                "name": "x",
                "duration": 1,
                "devices": [{"id": "a", "profile": "di_module"}],
                "steps": [{"at": 0, "device": "a", "kill": True, "revive": True}],
            }
        )


def test_sim_command_prints_what_it_does_and_writes_gateway_sections(tmp_path) -> None:
    import typer
    import yaml

    from drivers.cli import register

    app = typer.Typer()
    register(app)
    out = tmp_path / "sim.yaml"
    result = CliRunner().invoke(app, ["sim", "sensor_dies", "--speed", "50", "--config-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "bin-c: stops answering" in result.output and "[t=7s] bin-c: answers again" in result.output
    sections = yaml.safe_load(out.read_text())
    assert sections["buses"][0]["baudrate"] == 9600
    assert [d["id"] for d in sections["devices"]] == ["bin-c", "smoke-b4"]


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_fuzz_simulator_parser_survives_any_bytes(chunks: list[bytes]) -> None:
    from drivers.modbus import Request, encode_request

    sim = RtuSimulator(bus(), timing=False)
    try:
        for chunk in chunks:
            sim._buf += chunk
            sim._parse()
        # after any garbage, a clean request after a pause is still understood
        sim._buf.clear()
        sim._buf += encode_request(Request(1, 3, 0, 10))
        before = sim.stats.answered
        sim._parse()
        assert sim.stats.answered == before + 1
    finally:
        if sim._tmp is not None:
            sim._tmp.cleanup()


@given(st.binary(min_size=7, max_size=60))
def test_fuzz_tcp_adu_handler_never_crashes(adu: bytes) -> None:
    from simulators.tcp import handle_adu

    answer = handle_adu(bus(), adu)
    assert answer is None or answer[:2] == adu[:2]  # the transaction id is echoed
