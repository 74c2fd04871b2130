from __future__ import annotations

import pytest

from tests.support import free_port


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: the gateway's uplink stays down."""
    return free_port()
