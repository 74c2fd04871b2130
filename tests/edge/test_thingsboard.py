"""The ThingsBoard gateway API as uplink format, against a real pymodbus TCP server and mosquitto."""

from __future__ import annotations

import json
import time
import uuid

import aiomqtt
import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge.pipeline.signing import load_private_key, sign_command
from tests.edge.gwrun import running
from tests.support import Subscriber, async_wait_for, free_port, make_config


@pytest.fixture
async def modbus_server():
    port = free_port()
    devices = [
        SimDevice(
            id=unit, simdata=[SimData(0, values=[unit * 100 + r for r in range(10)], datatype=DataType.REGISTERS)]
        )
        for unit in (1, 2)
    ]
    server = ModbusTcpServer(devices, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    yield port
    await server.shutdown()


async def test_thingsboard_connect_telemetry_and_rpc(tmp_path, mosquitto, modbus_server, platform_keys):
    config = make_config(
        tmp_path,
        mosquitto.port,
        mqtt={"format": "thingsboard"},
        commands={"platform_public_key": {"file": str(platform_keys[1])}},
        buses=[{"id": "tcp", "url": f"tcp://127.0.0.1:{modbus_server}"}],
        devices=[
            {"id": f"dev{u:04d}", "bus": "tcp", "profile": "generic_holding", "unit_id": u, "poll_s": 0.2}
            for u in (1, 2)
        ],
    )
    from edge.components import build_components

    sub = Subscriber(mosquitto.host, mosquitto.port, ["v1/gateway/#"]).start()
    try:
        async with running(config, build_components(config)) as gw:

            def values(device: str) -> dict:
                for m in sub.snapshot("v1/gateway/telemetry"):
                    body = m.json()
                    if device in body:
                        return body[device][-1]["values"]
                return {}

            await async_wait_for(lambda: values("dev0001") and values("dev0002"), 15, "telemetry of both devices")
            assert values("dev0001") == {f"r{r}": 100 + r for r in range(10)}
            assert values("dev0002") == {f"r{r}": 200 + r for r in range(10)}
            connects = {m.json()["device"] for m in sub.snapshot("v1/gateway/connect")}
            assert connects == {"dev0001", "dev0002"}

            alarm = await gw.alarms.update("dev0001", "test", active=True)
            alarms = await async_wait_for(lambda: sub.snapshot("v1/gateway/alarm"), 10, "alarm")
            assert alarms[0].json()["status"] == "RAISED" and alarms[0].json()["device"] == "dev0001", alarms[0].json()

            now = time.time()
            command = sign_command(
                load_private_key(platform_keys[0]),
                {
                    "site_id": "site1",
                    "gateway_id": "gw1",
                    "request_id": str(uuid.uuid4()),
                    "target": "dev0001",
                    "action": "ack_alarm",
                    "args": {"alarm_id": alarm.alarm_id},
                    "issued_at": now,
                    "expires_at": now + 30,
                },
            )
            rpc = {"device": "dev0001", "data": {"id": 17, "method": "ack_alarm", "params": command}}
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as platform:
                await platform.publish("v1/gateway/rpc", json.dumps(rpc), qos=1)
            replies = await async_wait_for(
                lambda: [
                    m.json()
                    for m in sub.snapshot("v1/gateway/rpc")
                    if "id" in m.json() and m.json().get("data", {}).get("status") == "done"
                ],
                10,
                "RPC reply",
            )
            assert replies[0]["device"] == "dev0001" and replies[0]["id"] == 17
            assert gw.alarms.get(alarm.alarm_id).acknowledged_by == "platform"
    finally:
        sub.stop()
