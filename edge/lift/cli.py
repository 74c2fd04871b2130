"""``edge lift ...`` commands: replay a recording through the lift pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

lift_app = typer.Typer(help="E-bike-in-lift detection: check a camera position and thresholds.", no_args_is_help=True)


@lift_app.command("replay")
def replay_command(
    video: Annotated[Path, typer.Argument(help="recording to run through the pipeline", exists=True, dir_okay=False)],
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway config file with a lifts section")],
    lift: Annotated[str | None, typer.Option(help="lift id (default: the only lift in the config)")] = None,
    model_dir: Annotated[Path | None, typer.Option(help="folder of the model files (overrides the config)")] = None,
    others: Annotated[bool, typer.Option("--others", help="also print detections that are not e-bikes")] = False,
    start: Annotated[float, typer.Option("--from", min=0, help="start at this second of the recording")] = 0.0,
    end: Annotated[float | None, typer.Option("--to", min=0, help="stop at this second of the recording")] = None,
) -> None:
    """Print one JSON line per e-bike sighting and per alarm change: time in the video, class, score, box, state."""
    from drivers.detectors import ModelError
    from edge.config import ConfigError, load_config
    from edge.lift.replay import replay

    try:
        gateway = load_config(config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    lifts = {item.id: item for item in gateway.lifts}
    if lift is None:
        if len(lifts) != 1:
            message = f"the config has {len(lifts)} lifts {sorted(lifts)}; pick one"
            raise typer.BadParameter(message, param_hint="--lift")
        chosen = next(iter(lifts.values()))
    elif lift in lifts:
        chosen = lifts[lift]
    else:
        raise typer.BadParameter(f"no lift {lift!r} in {config}; it has {sorted(lifts)}", param_hint="--lift")
    if model_dir is not None:
        chosen = chosen.model_copy(update={"model_dir": model_dir})
    try:
        for line in replay(video, chosen, others=others, start_s=start, end_s=end):
            typer.echo(json.dumps(line))
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    app.add_typer(lift_app, name="lift")
