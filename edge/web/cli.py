"""CLI of the guard-room web console: ``edge web hash-password`` (console users)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

web_app = typer.Typer(no_args_is_help=True, help="The guard-room web console.")


def register(app: typer.Typer) -> None:
    app.add_typer(web_app, name="web")


@web_app.command("hash-password")
def hash_password_cmd(
    stdin: Annotated[bool, typer.Option("--stdin", help="read the password from standard input")] = False,
) -> None:
    """Print a scrypt hash for web.users[].password_hash (the password is asked for, not echoed)."""
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
