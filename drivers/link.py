"""One Modbus connection (serial RTU, RTU over ``socket://``, or Modbus TCP) through pymodbus.

The link does single transactions and turns every library outcome into one of three: values, a
``NoAnswer`` (timeout, CRC error, garbage: the device did not answer usably) or a ``DeviceException``
(the device answered with a Modbus exception). Retries, silences and reconnects belong to the bus
scheduler, so pymodbus' own retries and reconnects are switched off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from drivers.config import BusConfig
from drivers.modbus import Table

# pymodbus logs every timeout as an error; the scheduler logs each device's failure and recovery once.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

NO_ANSWER_CODES = {0x0A, 0x0B}  # gateway path unavailable / target device failed to respond


class LinkError(Exception):
    pass


class NoAnswer(LinkError):
    """The device did not answer usably: timeout, CRC error, garbage, port gone."""


class DeviceException(LinkError):
    def __init__(self, code: int) -> None:
        super().__init__(f"Modbus exception {code:#04x}")
        self.code = code


class ModbusLink:
    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        if cfg.is_tcp:
            host, _, port = cfg.url[6:].rpartition(":")
            self._client: AsyncModbusTcpClient | AsyncModbusSerialClient = AsyncModbusTcpClient(
                host, port=int(port), timeout=cfg.timeout_s, retries=0, reconnect_delay=0
            )
        else:
            self._client = AsyncModbusSerialClient(
                cfg.url,
                baudrate=cfg.baudrate,
                parity=cfg.parity,
                stopbits=cfg.stopbits,
                timeout=cfg.timeout_s,
                retries=0,
                reconnect_delay=0,
            )
        self._client.set_max_no_responses(1_000_000_000)  # never let pymodbus drop the line on timeouts
        c = self._client
        self._readers = {
            Table.COIL: c.read_coils,
            Table.DISCRETE: c.read_discrete_inputs,
            Table.HOLDING: c.read_holding_registers,
            Table.INPUT: c.read_input_registers,
        }

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def connect(self) -> bool:
        try:
            return await self._client.connect()
        except (OSError, ModbusException, ValueError):
            return False

    def close(self) -> None:
        self._client.close()

    async def read(self, unit: int, table: Table, address: int, count: int) -> list[int]:
        rr = await self._execute(self._readers[table](address, count=count, device_id=unit))
        if table.is_bits:
            return [int(b) for b in rr.bits[:count]]
        if len(rr.registers) != count:
            raise NoAnswer(f"answer carries {len(rr.registers)} registers, asked for {count}")
        return list(rr.registers)

    async def write(self, unit: int, table: Table, address: int, value: int) -> None:
        if table is Table.COIL:
            await self._execute(self._client.write_coil(address, bool(value), device_id=unit))
        else:
            await self._execute(self._client.write_register(address, value, device_id=unit))

    async def _execute(self, request: Awaitable[ModbusPDU]) -> ModbusPDU:
        if not self._client.connected:
            raise NoAnswer("port is not open")
        try:
            rr = await request
            _raise_if_cancel_was_swallowed()
        except asyncio.CancelledError:
            raise
        except (ModbusException, OSError) as exc:
            raise NoAnswer(str(exc) or type(exc).__name__) from exc
        except Exception as exc:  # noqa: BLE001 - e.g. pymodbus touching a transport that vanished mid-request
            raise NoAnswer(f"{type(exc).__name__}: {exc}") from exc
        if rr is None:
            raise NoAnswer("no response")
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            if code in NO_ANSWER_CODES:
                raise NoAnswer(f"gateway reports no answer ({code:#04x})")
            raise DeviceException(code)
        return rr


def _raise_if_cancel_was_swallowed() -> None:
    """pymodbus awaits its answers with ``asyncio.wait_for``, which on Python 3.11 loses a cancellation that
    arrives as the answer does (CPython gh-86296, fixed in 3.12): the request returns normally and the bus task,
    told to stop, would poll on for ever (seen as a shutdown that hangs now and then). The task still counts
    the request (``cancelling()``), so honour it here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
