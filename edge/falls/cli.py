"""``edge fall ...`` commands: mark a facade once (calibrate) and check a camera on a recording (replay)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

fall_app = typer.Typer(
    help="Falling-object (facade) cameras: calibrate a facade, replay a recording.", no_args_is_help=True
)


def _pairs(text: str) -> tuple[tuple[float, float], ...]:
    try:
        points = tuple(tuple(float(v) for v in item.split(",")) for item in text.replace(";", " ").split())
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected four 'x,y' points", param_hint="--corners") from None
    if len(points) != 4 or any(len(p) != 2 for p in points):
        raise typer.BadParameter(
            f"{text!r}: expected four 'x,y' points (top-left top-right bottom-right bottom-left)",
            param_hint="--corners",
        )
    return points  # type: ignore[return-value]


@fall_app.command("calibrate")
def calibrate_command(
    out: Annotated[Path, typer.Argument(help="calibration file to write (YAML); the config's calibration: names it")],
    corners: Annotated[
        str,
        typer.Option(
            help="facade corners in the still, pixels: 'x,y x,y x,y x,y' top-left, top-right, bottom-right, bottom-left"
        ),
    ],
    floors: Annotated[int, typer.Option(min=1, max=200, help="floors between the top and bottom edges")],
    columns: Annotated[int, typer.Option(min=1, max=200, help="window columns between the left and right edges")],
    still: Annotated[
        Path | None,
        typer.Option(help="a still of the camera (its size is the corners' frame)", exists=True, dir_okay=False),
    ] = None,
    image_size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT of the still, if --still is not given")] = None,
    first_floor: Annotated[int, typer.Option(help="number of the floor at the bottom edge")] = 1,
    floor_height: Annotated[float, typer.Option(min=1.5, max=10, help="height of one floor, metres")] = 3.0,
    preview: Annotated[Path | None, typer.Option(help="write the still with the floor grid drawn, to check it")] = None,
) -> None:
    """Mark the facade once: where its corners are, how many floors and window columns it has."""
    import cv2
    from pydantic import ValidationError

    from edge.falls.calibration import Calibration, CalibrationError, CalibrationFile, save_calibration

    points = _pairs(corners)
    image = None
    if still is not None:
        image = cv2.imread(str(still), cv2.IMREAD_COLOR)
        if image is None:
            raise typer.BadParameter(f"{still}: not an image OpenCV can read", param_hint="--still")
        size = (image.shape[1], image.shape[0])
    elif image_size is not None:
        try:
            width, height = (int(v) for v in image_size.lower().split("x"))
        except ValueError:
            raise typer.BadParameter(f"{image_size!r}: expected WIDTHxHEIGHT", param_hint="--image-size") from None
        size = (width, height)
    else:
        raise typer.BadParameter("give --still or --image-size (the frame the corners were read from)")
    try:
        spec = CalibrationFile(
            image_size=size,
            corners=points,
            floors=floors,
            columns=columns,
            first_floor=first_floor,
            floor_height_m=floor_height,
        )
        save_calibration(spec, out)
    except (ValidationError, CalibrationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}: {floors} floors from floor {first_floor}, {columns} columns")
    if preview is not None:
        if image is None:
            raise typer.BadParameter("--preview needs --still", param_hint="--preview")
        cv2.imwrite(str(preview), Calibration(spec).draw_grid(image))
        typer.echo(f"grid drawn on the still: {preview}")


@fall_app.command("replay")
def replay_command(
    video: Annotated[Path, typer.Argument(help="recording to run through the analysis", exists=True, dir_okay=False)],
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway config file with a falls section")],
    camera: Annotated[str | None, typer.Option(help="camera id (default: the only one in the config)")] = None,
    calibration: Annotated[Path | None, typer.Option(help="calibration file (overrides the config's)")] = None,
    start: Annotated[float, typer.Option("--from", min=0, help="start at this second of the recording")] = 0.0,
    end: Annotated[float | None, typer.Option("--to", min=0, help="stop at this second of the recording")] = None,
    annotate: Annotated[Path | None, typer.Option(help="also write the recording with tracks drawn (MP4)")] = None,
) -> None:
    """Print one JSON line per fall: t (seconds into the recording at the track's start), the track, the
    estimated origin and the score; and a line when the camera shakes (analysis paused) and is steady again."""
    from edge.config import ConfigError, load_config
    from edge.falls.calibration import CalibrationError, load_calibration
    from edge.falls.replay import replay

    try:
        gateway = load_config(config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config") from None
    cameras = {item.id: item for item in gateway.falls}
    if camera is None:
        if len(cameras) != 1:
            raise typer.BadParameter(
                f"the config has {len(cameras)} fall cameras {sorted(cameras)}; pick one", param_hint="--camera"
            )
        chosen = next(iter(cameras.values()))
    elif camera in cameras:
        chosen = cameras[camera]
    else:
        raise typer.BadParameter(
            f"no fall camera {camera!r} in {config}; it has {sorted(cameras)}", param_hint="--camera"
        )
    source = calibration or chosen.calibration
    try:
        grid = load_calibration(source) if source is not None else None
    except CalibrationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if grid is None:
        typer.echo(
            f"note: camera {chosen.id} has no calibration: falls are detected, but floors and columns "
            "cannot be named (edge fall calibrate)",
            err=True,
        )
    for line in replay(video, chosen, grid, start_s=start, end_s=end, annotate=annotate):
        typer.echo(json.dumps(line))


def register(app: typer.Typer) -> None:
    app.add_typer(fall_app, name="fall")
