"""The gateway against a real pymodbus RTU server on a pseudo-terminal pair (a null modem between two ptys)."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty
from collections.abc import Iterator

import pytest
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.components import build_components
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, make_config


@pytest.fixture
def null_modem() -> Iterator[tuple[str, str]]:
    """Two serial port paths wired to each other, as two RS-485 adapters on one pair of wires."""
    ends = [pty.openpty() for _ in range(2)]
    for _, slave in ends:
        tty.setraw(slave)
    masters = [m for m, _ in ends]
    stop = threading.Event()

    def copy() -> None:
        while not stop.is_set():
            ready, _, _ = select.select(masters, [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(masters[1 - masters.index(fd)], data)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    yield os.ttyname(ends[0][1]), os.ttyname(ends[1][1])
    stop.set()
    thread.join()
    for master, slave in ends:
        os.close(master)
        os.close(slave)


async def test_gateway_polls_a_pymodbus_rtu_server(tmp_path, mosquitto, null_modem):
    server_port, gateway_port = null_modem
    device = SimDevice(id=3, simdata=[SimData(0, values=[300 + r for r in range(10)], datatype=DataType.REGISTERS)])
    server = ModbusSerialServer(device, framer=FramerType.RTU, port=server_port, baudrate=19200)
    await server.serve_forever(background=True)
    try:
        config = make_config(
            tmp_path,
            mosquitto.port,
            buses=[{"id": "rs485", "url": gateway_port, "baudrate": 19200, "timeout_s": 0.5}],
            devices=[{"id": "meter-3", "bus": "rs485", "profile": "generic_holding", "unit_id": 3, "poll_s": 0.2}],
        )
        sub = Subscriber(mosquitto.host, mosquitto.port).start()
        try:
            async with running(config, build_components(config)) as gw:

                def last_values() -> dict:
                    msgs = sub.snapshot("ce/v1/site1/gw1/telemetry/meter-3")
                    return {r["key"]: r["value"] for m in msgs for r in m.json()["readings"]}

                got = await async_wait_for(lambda: len(last_values()) == 10 and last_values(), 15, "a block read")
                assert got == {f"r{r}": 300 + r for r in range(10)}
                assert gw.devices.get("meter-3").online is True
        finally:
            sub.stop()
    finally:
        await server.shutdown()
