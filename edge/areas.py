"""The explicit list of CLI areas: each adds its commands to the ``edge`` app."""

from __future__ import annotations

from collections.abc import Callable

import typer

Registrar = Callable[[typer.Typer], None]


def registrars() -> list[Registrar]:
    return []
