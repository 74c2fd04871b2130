"""Config models for buses and devices (owned by the drivers package; composed in edge/config.py)."""

from __future__ import annotations

from pydantic import Field

from edge.configbase import Strict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class BusConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="bus id, referenced by devices")
    url: str = Field(description="serial port (/dev/ttyUSB0), socket://host:port, or tcp://host:port (Modbus TCP)")


class DeviceConfig(Strict):
    id: str = Field(pattern=ID_PATTERN, description="device id, unique in the gateway; a topic level")
    bus: str = Field(description="id of the bus the device is on")
    profile: str = Field(description="device profile name (drivers/profiles/<name>.yaml)")
    unit_id: int = Field(ge=1, le=247, description="Modbus unit id, 1-247")
    area: str | None = Field(default=None, description="site area shown in the console, e.g. 'block 3'")
