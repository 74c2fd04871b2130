"""A local mosquitto on a loopback port, for the demo, the benchmarks and the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_mosquitto(port: int, workdir: Path, extra: str = "", *, persistence: bool = True) -> subprocess.Popen[bytes]:
    """Start mosquitto on 127.0.0.1:``port`` with its files in ``workdir``; returns once it listens."""
    if not Path(MOSQUITTO).exists():
        raise BrokerError(f"mosquitto not found at {MOSQUITTO}: `make` installs it (apt-get install mosquitto)")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / f"mosquitto-{port}.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "max_queued_messages 1000000",
        "max_inflight_messages 0",
    ]
    if persistence:
        lines += ["persistence true", f"persistence_location {workdir}/", f"persistence_file mosquitto-{port}.db"]
    if os.geteuid() == 0:
        lines.append("user root")  # as root, mosquitto would switch to its own user and lose access to workdir
    conf.write_text("\n".join(lines) + "\n" + extra)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BrokerError(f"mosquitto did not listen on {port} within 10 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
