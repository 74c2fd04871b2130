"""``edge scan`` says why a port does not open, in the operating system's words."""

from __future__ import annotations

import os
import pty

from typer.testing import CliRunner

from drivers.scan import why_not_open
from edge.cli import app
from tests.support import free_port


def test_a_missing_serial_port_is_named_as_missing() -> None:
    assert "no such serial port" in why_not_open("/dev/ttyUSB99")


def test_a_port_without_permission_says_so(tmp_path) -> None:
    if os.geteuid() == 0:
        # root may open anything: check the message with a port nobody can open instead (a refused TCP port)
        assert "refused" in why_not_open(f"socket://127.0.0.1:{free_port()}").lower()
        return
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    os.chmod(path, 0o000)
    try:
        assert "permission denied" in why_not_open(path)
    finally:
        os.close(master)
        os.close(slave)


def test_edge_scan_prints_the_reason() -> None:
    result = CliRunner().invoke(app, ["scan", "/dev/ttyUSB99", "--units", "1"])
    assert result.exit_code == 1
    assert "cannot open /dev/ttyUSB99: no such serial port" in result.output
