"""CLI of the platform-side tools: ``edge watch``, the live terminal view a guard or installer runs against the
broker. (``edge keys`` and ``edge send-command`` are in edge/cli.py.) Nothing in the runtime imports this package."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
from pathlib import Path
from typing import Annotated, Any

import typer

PASSWORD_ENV = "EDGE_WATCH_PASSWORD"


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)


def watch(
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway YAML config (broker and topic ids)")],
    key: Annotated[Path | None, typer.Option(help="platform private key (PEM); needed to acknowledge alarms")] = None,
    by: Annotated[str, typer.Option(help="who acknowledges, as recorded in the alarm")] = "",
    user: Annotated[
        str | None,
        typer.Option(help="console user (web.users): adds the history view (H) and acts with that user's role"),
    ] = None,
    console: Annotated[
        str | None, typer.Option(help="console URL; default http://<web.host>:<web.port> of the config")
    ] = None,
    password_file: Annotated[
        Path | None, typer.Option(help=f"file with the console user's password (else ${PASSWORD_ENV}, else asked)")
    ] = None,
) -> None:
    """Live terminal view from the broker: alarms, device health, gate decisions; 'a' acknowledges; with --user
    also the alarm history ('H') from the console, and actions with that user's role."""
    from edge.cli import load_or_exit

    cfg = load_or_exit(config)
    if key is not None and not key.is_file():
        raise typer.BadParameter(f"{key}: no such file", param_hint="--key")
    who = by or f"watch:{getpass.getuser()}"
    login = None
    if user is not None:
        login = (console or console_url(cfg.web), user, _password(password_file, user))
    elif console is not None or password_file is not None:
        raise typer.BadParameter("--console and --password-file need --user (the console user)", param_hint="--user")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(cfg, key, who, login))


def console_url(web: Any) -> str:
    """The console of this config as reached from this machine (a wildcard listen address means loopback)."""
    host = "127.0.0.1" if web.host in ("0.0.0.0", "::", "") else web.host
    return f"http://{f'[{host}]' if ':' in host else host}:{web.port}"


def _password(path: Path | None, user: str) -> str:
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint="--password-file") from None
    return os.environ.get(PASSWORD_ENV) or getpass.getpass(f"console password for {user}: ")


async def _run(cfg: Any, key: Path | None, who: str, login: tuple[str, str, str] | None) -> None:
    from edge.platform.console_api import ConsoleApi, ConsoleError
    from edge.platform.watch import watch as run_watch

    if login is None:
        await run_watch(cfg, key_file=key, by=who)
        return
    url, user, password = login
    try:
        api = ConsoleApi(url, user, password)
        await api.open()
    except (ConsoleError, ValueError) as exc:
        typer.echo(f"edge watch: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        await run_watch(cfg, key_file=key, by=who, console=api)
    finally:
        await api.close()
