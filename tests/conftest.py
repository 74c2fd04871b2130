"""Shared fixtures: a real mosquitto on a free loopback port, the shared test data, a subscriber, keys."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Broker, free_port

ROOT = Path(__file__).resolve().parent.parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _shared_root() -> Path:
    return Path(os.environ.get("EDGE_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared test data (faces, lift images, models); EDGE_SHARED overrides ../shared."""
    root = _shared_root()
    if not root.is_dir():
        message = f"shared test data not found at {root} (set EDGE_SHARED to the folder with faces/, lift/, models/)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


def shared_file(shared_dir: Path, relative: str) -> Path:
    path = shared_dir / relative
    if not path.exists():
        pytest.fail(f"shared test data is missing {relative} (looked in {shared_dir})")
    return path


def start_mosquitto(port: int, workdir: Path, extra: str = "") -> subprocess.Popen:
    if not Path(MOSQUITTO).exists():
        pytest.fail(f"mosquitto not found at {MOSQUITTO}: `make test` installs it (apt-get install mosquitto)")
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {workdir}/\npersistence_file mosquitto-{port}.db\n"
        f"max_queued_messages 1000000\nmax_inflight_messages 0\n"
        # as root, mosquitto would switch to its own user and could not read the test's files
        f"{'user root' if os.geteuid() == 0 else ''}\n{extra}"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"mosquitto did not listen on {port} within 10 s")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A real broker on a free loopback port; ``broker.stop()`` / ``broker.start()`` simulate an outage."""
    broker = Broker(free_port(), tmp_path, start_mosquitto)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def platform_keys(tmp_path: Path) -> tuple[Path, Path]:
    from edge.signing import generate_keypair

    private, public = tmp_path / "platform.key", tmp_path / "platform.pub"
    generate_keypair(private, public)
    return private, public
