"""CPU cost of one Modbus TCP transaction on the client side: pymodbus against a minimal asyncio protocol.

The project's Modbus TCP simulator runs in a child process on ``--connections`` loopback ports; this process
reads 10 holding registers over each connection back to back, once through ``AsyncModbusTcpClient`` and once
through a bare ``asyncio.Protocol`` that frames the same request by hand. Client CPU per transaction (user +
system, this process only) shows how much of a poll is the library and how much asyncio and loopback TCP.

    .venv/bin/python -m bench.modbus_tx --transactions 4000 --connections 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import socket
import struct
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient


def _serve(ports: list[int]) -> None:
    """The project's Modbus TCP simulator, one generic_holding device (r0..r9 = 0..9) per port."""
    from drivers.config import DeviceConfig
    from drivers.device import resolve_device
    from simulators.model import SimBus, SimDevice
    from simulators.tcp import TcpSimulator

    async def serve(port: int) -> None:
        spec = resolve_device(DeviceConfig(id="d", bus="b", profile="generic_holding", unit_id=1, channels=10))
        bus = SimBus([SimDevice(spec)])
        async with TcpSimulator(bus, port=port):
            for i in range(10):
                bus.devices["d"].set(f"r{i}", i)
            await asyncio.Event().wait()

    async def main() -> None:
        await asyncio.gather(*(serve(port) for port in ports))

    asyncio.run(main())


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class _BareClient(asyncio.Protocol):
    """Function 3 over MBAP, nothing else: the floor under any asyncio Modbus TCP client."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.answer: asyncio.Future[bytes] | None = None
        self.tid = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= 6:
            size = 6 + struct.unpack_from(">H", self.buffer, 4)[0]
            if len(self.buffer) >= size and self.answer is not None:
                frame, self.buffer = self.buffer[:size], self.buffer[size:]
                self.answer.set_result(frame)

    async def read(self, unit: int, address: int, count: int) -> tuple[int, ...]:
        assert self.transport is not None
        self.tid = (self.tid + 1) & 0xFFFF
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(struct.pack(">HHHBBHH", self.tid, 0, 6, unit, 3, address, count))
        frame = await self.answer
        return struct.unpack_from(f">{count}H", frame, 9)


async def _pymodbus(port: int, n: int) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    await client.connect()
    for _ in range(n):
        rr = await client.read_holding_registers(0, count=10, device_id=1)
        assert rr.registers == list(range(10))
    client.close()


async def _bare(port: int, n: int) -> None:
    transport, proto = await asyncio.get_running_loop().create_connection(_BareClient, "127.0.0.1", port)
    for _ in range(n):
        assert await proto.read(1, 0, 10) == tuple(range(10))
    transport.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _measure(client, ports: list[int], n: int) -> tuple[float, float]:  # noqa: ANN001
    cpu, wall = _cpu(), time.perf_counter()
    await asyncio.gather(*(client(port, n) for port in ports))
    total = n * len(ports)
    return (_cpu() - cpu) / total * 1e6, total / (time.perf_counter() - wall)


async def _wait_for_servers(ports: list[int]) -> None:
    for port in ports:
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        else:
            raise RuntimeError(f"the simulator did not open port {port}")


async def _run(args: argparse.Namespace, ports: list[int]) -> list[dict]:
    await _wait_for_servers(ports)
    rows = []
    for round_ in range(args.rounds):
        for name, client in (("pymodbus", _pymodbus), ("bare asyncio protocol", _bare)):
            us, rate = await _measure(client, ports, args.transactions)
            rows.append(
                {
                    "round": round_ + 1,
                    "client": name,
                    "cpu_us_per_transaction": round(us, 1),
                    "transactions_per_s": round(rate),
                }
            )
            print(f"round {round_ + 1}: {name:22s} {us:6.1f} us CPU per transaction, {rate:7.0f} transactions/s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=4000, help="per connection and client kind")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    ports = _free_ports(args.connections)
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        rows = asyncio.run(_run(args, ports))
        if args.json:
            Path(args.json).write_text(json.dumps({"connections": args.connections, "rows": rows}, indent=2))
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
