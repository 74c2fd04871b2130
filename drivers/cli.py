"""`edge sim` and `edge scan`: the drivers' commands for installers and demos."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("sim")(sim)
    app.command("scan")(scan)


def sim(
    scenario: Annotated[str, typer.Argument(help="scenario name (simulators/scenarios/) or YAML path")] = "",
    speed: Annotated[float | None, typer.Option(help="time compression (default: the scenario's)")] = None,
    tcp: Annotated[bool, typer.Option("--tcp", help="Modbus TCP on loopback instead of RTU on a pty")] = False,
    socket: Annotated[bool, typer.Option("--socket", help="RTU over a TCP socket (socket://)")] = False,
    config_out: Annotated[Path | None, typer.Option(help="write the buses/devices sections for the gateway")] = None,
    gateway: Annotated[Path | None, typer.Option(help="gateway config: run the gateway in-process beside it")] = None,
    hold: Annotated[bool, typer.Option("--hold", help="keep the devices running after the last step")] = False,
    list_: Annotated[bool, typer.Option("--list", help="list the scenarios and exit")] = False,
) -> None:
    """Run a simulator scenario: simulated devices on a pty (or TCP) bus, acted on in time."""
    from simulators.scenario import ScenarioRun, list_scenarios, load_scenario

    if list_ or not scenario:
        for name in list_scenarios():
            console.print(f"[bold]{name}[/]: {load_scenario(name).description.strip()}")
        raise typer.Exit(0)
    try:
        loaded = load_scenario(scenario)
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if tcp or socket:
        loaded = loaded.model_copy(update={"transport": "tcp" if tcp else "socket"})
    gateway_text = gateway.read_text() if gateway is not None else ""

    def log(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    async def go() -> None:
        run = ScenarioRun(loaded, log=log, speed=speed)
        async with run.started():
            sections = run.gateway_sections()
            console.print(
                f"[bold]{loaded.name}[/] on {run.url} ({loaded.transport}"
                f"{f', {loaded.baudrate} baud' if loaded.transport != 'tcp' else ''}), speed {run.speed:g}x"
            )
            if config_out is not None:
                config_out.write_text(yaml.safe_dump(sections, sort_keys=False))
                console.print(f"gateway sections written to {config_out}")
            gw_task = None
            if gateway is not None:
                gw_task = asyncio.create_task(_run_gateway(gateway, gateway_text, sections), name="gateway")
            else:
                console.print(yaml.safe_dump(sections, sort_keys=False), highlight=False)
            try:
                await run.play()
                if hold or gw_task is not None:
                    console.print("devices keep running; Ctrl-C to stop")
                    await (gw_task if gw_task is not None else asyncio.Event().wait())
            finally:
                if gw_task is not None and not gw_task.done():
                    gw_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await gw_task

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM ends it like Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())


async def _run_gateway(path: Path, text: str, sections: dict[str, Any]) -> None:
    from edge.app import run_gateway
    from edge.config import ConfigError, parse_config

    data = yaml.safe_load(text) or {}
    data["buses"] = [b for b in data.get("buses", []) if b.get("id") != sections["buses"][0]["id"]]
    data["buses"] += sections["buses"]
    ids = {d["id"] for d in sections["devices"]}
    data["devices"] = [d for d in data.get("devices", []) if d.get("id") not in ids] + sections["devices"]
    try:
        config = parse_config(yaml.safe_dump(data), source=str(path), base_dir=path.parent)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/]")
        raise
    await run_gateway(config)


def scan(
    port: Annotated[str, typer.Argument(help="serial port, socket://host:port or tcp://host:port")],
    baud: Annotated[int, typer.Option(help="baud rate")] = 9600,
    parity: Annotated[str, typer.Option(help="N, E or O")] = "N",
    stopbits: Annotated[int, typer.Option(help="1 or 2")] = 1,
    units: Annotated[str, typer.Option(help="unit ids to try, e.g. 1-247 or 1-20,80")] = "1-247",
    timeout: Annotated[float, typer.Option(help="answer timeout per request, seconds")] = 0.1,
) -> None:
    """Find the devices on a bus: which unit ids answer and which profile each looks like."""
    from pydantic import ValidationError

    from drivers.config import BusConfig
    from drivers.scan import Scanner, parse_units

    if TYPE_CHECKING:
        from drivers.scan import Found

    try:
        unit_ids = parse_units(units)
        cfg = BusConfig(id="scan", url=port, baudrate=baud, parity=parity.upper(), stopbits=stopbits, timeout_s=timeout)
    except (ValueError, ValidationError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None

    async def go() -> list[Found]:
        async with Scanner(cfg) as scanner:
            with Progress(
                TextColumn("[bold]scanning {task.fields[port]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("unit {task.fields[unit]}"),
                TextColumn("{task.fields[found]} found"),
                TimeRemainingColumn(),
                console=err,
            ) as progress:
                task = progress.add_task("scan", total=len(unit_ids), port=port, unit="-", found=0)
                count = 0

                def step(unit: int, found: object) -> None:
                    nonlocal count
                    count += found is not None
                    progress.update(task, advance=1, unit=unit, found=count)

                return await scanner.scan(unit_ids, step)

    try:
        found = asyncio.run(go())
    except OSError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    table = RichTable(title=f"devices on {port} at {baud} baud")
    table.add_column("unit id", justify="right")
    table.add_column("looks like")
    for f in found:
        table.add_row(str(f.unit), ", ".join(f.profiles) or "unknown (answers, matches no profile)")
    console.print(table)
    if not found:
        err.print("no unit answered: check wiring (A/B), baud rate, parity and termination")
        raise typer.Exit(1)
