"""The ``edge`` command line (typer): run the gateway, check a config, show status, sign commands.

Each area adds its own commands through ``register(app)`` in its cli module (sim and scan from drivers,
residents and gate replay from edge.gate, lift replay from edge.lift, watch from edge.web).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from edge.config import ConfigError, GatewayConfig, load_config, reference_problems

# rich_markup_mode=None: click's plain help, which does not print a "<bool>" type beside every flag (typer 0.29's
# rich help does, --help included)
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="compound-edge: the on-site gateway.", rich_markup_mode=None
)
keys_app = typer.Typer(
    no_args_is_help=True, help="Platform signing keys (for tests, demos and installers).", rich_markup_mode=None
)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)

STATUS_NOT_RUNNING = 3  # like systemctl status: the unit is not active
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="gateway YAML config")]


def load_or_exit(path: Path) -> GatewayConfig:
    try:
        config = load_config(path)
        problems = reference_problems(config)
        if problems:
            raise ConfigError(str(path), problems)
        return config
    except ConfigError as exc:
        err.print(f"[bold red]{exc.source}[/]: {len(exc.problems)} problem(s)", soft_wrap=True)
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.command("check-config")
def check_config(file: Annotated[Path, typer.Argument(help="gateway YAML config")]) -> None:
    """Validate a config file; print every problem with its place in the file."""
    config = load_or_exit(file)
    console.print(
        f"{file}: ok: site {config.site_id}, gateway {config.gateway_id}, {len(config.buses)} bus(es), "
        f"{len(config.devices)} device(s), {len(config.gates)} gate(s), {len(config.lifts)} lift camera(s)"
    )


@app.command()
def run(
    config: ConfigOption,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the gateway until SIGTERM / SIGINT."""
    from edge.app import run_gateway

    cfg = load_or_exit(config)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_gateway(cfg))


@app.command()
def status(
    config: ConfigOption,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Outbox depth, broker connection and devices of the gateway running with this config."""
    from edge.app import STATE_FILE
    from edge.pipeline.outbox import read_depth

    cfg = load_or_exit(config)
    state_path = cfg.data_dir / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    depth, oldest = read_depth(cfg.outbox_path) if cfg.outbox_path.exists() else (0, None)
    running = state is not None and state.get("running", False) and time.time() - state["ts"] < 10
    out = {
        "running": running,
        "outbox_depth": depth,
        "outbox_oldest_age_s": round(time.time() - oldest, 1) if oldest else None,
        "broker": state["broker"] if state else None,
        "devices": state["devices"] if state else [],
        "alarms": state["alarms"] if state else [],
        "uplink": state.get("uplink") if state else None,
    }
    if as_json:
        print(json.dumps(out, indent=2))
        raise typer.Exit(0 if running else STATUS_NOT_RUNNING)
    if not running:
        when = f"; it last wrote its state {time.time() - state['ts']:.0f} s ago" if state else ""
        err.print(f"gateway {cfg.site_id}/{cfg.gateway_id} is not running (no fresh {state_path}{when})")
        age = f", oldest {out['outbox_oldest_age_s']} s" if oldest else ""
        err.print(f"outbox: {depth} message(s) waiting{age}")
        raise typer.Exit(STATUS_NOT_RUNNING)
    broker = out["broker"] or {}
    console.print(f"gateway {cfg.site_id}/{cfg.gateway_id}: {'running' if running else 'not running'}")
    console.print(
        f"broker {cfg.mqtt.host}:{cfg.mqtt.port}: "
        f"{'connected' if broker.get('connected') else 'disconnected'} {broker.get('last_error') or ''}"
    )
    console.print(f"outbox: {depth} message(s)" + (f", oldest {out['outbox_oldest_age_s']} s" if oldest else ""))
    table = Table("device", "area", "online", "last seen")
    for d in out["devices"]:
        seen = f"{time.time() - d['last_seen']:.0f} s ago" if d.get("last_seen") else "-"
        table.add_row(d["id"], d.get("area") or "", str(d.get("online")), seen)
    console.print(table)
    for a in out["alarms"]:
        cleared = ", cleared, waits for an acknowledgement" if a.get("cleared") and a["state"] == "raised" else ""
        console.print(f"alarm {a['severity']} {a['kind']} on {a['device']} ({a['state']}{cleared})")
    uplink = out["uplink"] or {}
    for r in uplink.get("refused", []):
        console.print(f"broker refuses {r['topic']}: {r['reason']} ({r['waiting']} message(s) kept in the outbox)")
    if uplink.get("commands_refused"):
        console.print(f"commands unavailable: {uplink['commands_refused']}")


@keys_app.command("generate")
def keys_generate(
    private: Annotated[Path, typer.Argument(help="where to write the private key (PEM, mode 600)")],
    public: Annotated[Path, typer.Argument(help="where to write the public key (PEM) for the gateway config")],
) -> None:
    """Generate an Ed25519 key pair: the platform keeps the private key, the gateway gets the public one."""
    from edge.pipeline.signing import generate_keypair

    generate_keypair(private, public)
    console.print(f"wrote {private} and {public}")


@app.command("send-command")
def send_command(
    config: ConfigOption,
    action: Annotated[str, typer.Argument(help="e.g. unlock, ack_alarm, hold_door")],
    key: Annotated[Path, typer.Option(help="platform private key (PEM)")],
    target: Annotated[str, typer.Option(help="device, gate or lift the command is for")] = "",
    args: Annotated[str, typer.Option(help="JSON object of arguments")] = "{}",
    ttl: Annotated[float, typer.Option(help="seconds until the command expires")] = 60.0,
    wait: Annotated[float, typer.Option(help="seconds to wait for the final result")] = 10.0,
) -> None:
    """Sign a command as the platform would, send it over the broker and print the gateway's answers."""
    from edge.platform.client import PlatformClient

    cfg = load_or_exit(config)
    try:
        arguments = json.loads(args)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--args") from None
    if not isinstance(arguments, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--args")

    async def go() -> int:
        async with PlatformClient(cfg, key) as platform:
            request_id = str(uuid.uuid4())
            await platform.send(action, target=target or cfg.gateway_id, args=arguments, ttl=ttl, request_id=request_id)
            async for result in platform.results(request_id, timeout=wait):
                print(json.dumps(result))
                if result["status"] != "accepted":
                    return 0 if result["status"] == "done" else 1
        err.print("no final result before the timeout")
        return 1

    raise typer.Exit(asyncio.run(go()))


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="where the demo keeps its files")] = Path("var/demo"),
    broker_port: Annotated[int, typer.Option(help="mosquitto port (another free one if taken)")] = 18830,
    web_port: Annotated[int, typer.Option(help="web console port (another free one if taken)")] = 8080,
    watch: Annotated[bool | None, typer.Option("--watch/--lines", help="terminal view or one line per event")] = None,
    duration: Annotated[float, typer.Option(help="stop after this many seconds (0: at Ctrl-C)")] = 0.0,
    fall_floor: Annotated[int, typer.Option(min=1, max=10, help="floor of block 3 the flower pot falls from")] = 7,
) -> None:
    """A whole simulated compound with live alerts: broker, devices, cameras, gateway, console (make demo)."""
    from simulators.demo import DemoOptions
    from simulators.demo import main as run_demo

    run_demo(
        DemoOptions(
            workdir=workdir.resolve(),
            broker_port=broker_port,
            web_port=web_port,
            watch=watch,
            duration=duration,
            fall_floor=fall_floor,
        )
    )


def _register_areas() -> None:
    from edge import areas

    for register in areas.registrars():
        register(app)


_register_areas()


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
