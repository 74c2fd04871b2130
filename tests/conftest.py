"""Shared fixtures: a real mosquitto on a free loopback port, the shared test data, a subscriber, keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators import broker
from tests.support import Broker, free_port

ROOT = Path(__file__).resolve().parent.parent


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
    try:
        return broker.start_mosquitto(port, workdir, extra)
    except broker.BrokerError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    """A real broker on a free loopback port; ``broker.stop()`` / ``broker.start()`` simulate an outage."""
    broker = Broker(free_port(), tmp_path, start_mosquitto)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def platform_keys(tmp_path: Path) -> tuple[Path, Path]:
    from edge.pipeline.signing import generate_keypair

    private, public = tmp_path / "platform.key", tmp_path / "platform.pub"
    generate_keypair(private, public)
    return private, public
