"""CLI of the live views: ``edge watch`` (terminal) and ``edge web hash-password`` (console users)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

web_app = typer.Typer(no_args_is_help=True, help="The guard-room web console.")


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
    app.add_typer(web_app, name="web")


def watch(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="gateway YAML config (broker and topic ids)")
    ],
    key: Annotated[
        Path | None, typer.Option(help="platform private key (PEM); needed to acknowledge alarms")
    ] = None,
    by: Annotated[str, typer.Option(help="who acknowledges, as recorded in the alarm")] = "",
) -> None:
    """Live terminal view from the broker: alarms, device health, gate decisions; 'a' acknowledges."""
    from edge.cli import load_or_exit
    from edge.watch import watch as run_watch

    cfg = load_or_exit(config)
    if key is not None and not key.is_file():
        raise typer.BadParameter(f"{key}: no such file", param_hint="--key")
    who = by or f"watch:{getpass.getuser()}"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_watch(cfg, key_file=key, by=who))


@web_app.command("hash-password")
def hash_password_cmd(
    stdin: Annotated[bool, typer.Option("--stdin", help="read the password from standard input")] = False,
) -> None:
    """Print an argon2id hash for web.users[].password_hash (the password is asked for, not echoed)."""
    from edge.web.passwords import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            typer.echo("the passwords differ", err=True)
            raise typer.Exit(1)
    if not password:
        typer.echo("the password is empty", err=True)
        raise typer.Exit(1)
    typer.echo(hash_password(password))
    if not stdin and os.isatty(1):
        typer.echo("put it in the config as web.users[].password_hash", err=True)
