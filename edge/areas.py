"""The explicit list of CLI areas: each adds its commands to the ``edge`` app."""

from __future__ import annotations

from collections.abc import Callable

import typer

Registrar = Callable[[typer.Typer], None]


def registrars() -> list[Registrar]:
    from drivers.cli import register as drivers
    from edge.falls.cli import register as falls
    from edge.gate.cli import register as gate
    from edge.lift.cli import register as lift
    from edge.platform.cli import register as platform
    from edge.web.cli import register as web

    return [drivers, gate, lift, falls, web, platform]
