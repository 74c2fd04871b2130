"""CLI of the platform-side tools: ``edge watch``, the live terminal view a guard or installer runs against the
broker. (``edge keys`` and ``edge send-command`` are in edge/cli.py.) Nothing in the runtime imports this package."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway YAML config (broker and topic ids)")],
    key: Annotated[Path | None, typer.Option(help="platform private key (PEM); needed to acknowledge alarms")] = None,
    by: Annotated[str, typer.Option(help="who acknowledges, as recorded in the alarm")] = "",
) -> None:
    """Live terminal view from the broker: alarms, device health, gate decisions; 'a' acknowledges."""
    from edge.cli import load_or_exit
    from edge.platform.watch import watch as run_watch

    cfg = load_or_exit(config)
    if key is not None and not key.is_file():
        raise typer.BadParameter(f"{key}: no such file", param_hint="--key")
    who = by or f"watch:{getpass.getuser()}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_watch(cfg, key_file=key, by=who))
