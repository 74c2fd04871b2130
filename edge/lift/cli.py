"""``edge lift ...`` commands: replay a recording through the lift pipeline, evaluate detectors on a folder of
one's own lift pictures, capture such pictures on a running gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.lift.config import LiftConfig

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
    from edge.lift.replay import replay

    chosen = _chosen_lift(config, lift, model_dir)
    try:
        for line in replay(video, chosen, others=others, start_s=start, end_s=end):
            typer.echo(json.dumps(line))
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _chosen_lift(config: Path, lift: str | None, model_dir: Path | None) -> LiftConfig:
    return _gateway_and_lift(config, lift, model_dir)[1]


def _gateway_and_lift(config: Path, lift: str | None, model_dir: Path | None) -> tuple[GatewayConfig, LiftConfig]:
    from edge.config import ConfigError, load_config

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
    return gateway, chosen


@lift_app.command("evaluate")
def evaluate_command(
    folder: Annotated[
        Path,
        typer.Argument(
            help="folder with positives/ and negatives/ (pictures, recordings, picture folders; optional YOLO labels)"
        ),
    ],
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway config file with a lifts section")],
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="model to evaluate (repeatable; default the lift's model)")
    ] = None,
    lift: Annotated[str | None, typer.Option(help="lift id (default: the only lift in the config)")] = None,
    model_dir: Annotated[Path | None, typer.Option(help="folder of the model files (overrides the config)")] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.05,
            max=0.95,
            help="score threshold of the figures and the report (default the lift's score_threshold)",
        ),
    ] = None,
    target_recall: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="frame recall the suggested threshold must reach")
    ] = 0.9,
    report: Annotated[Path, typer.Option(help="HTML report with the misses and false alarms drawn")] = Path(
        "lift-evaluation.html"
    ),
    ebike_label: Annotated[
        list[str] | None,
        typer.Option(help="label class name (classes.txt) that is an e-bike, besides the model's e-bike classes"),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            min=0,
            max=64,
            help="inference threads (0: every core; the latency per frame is then lower than a live camera's)",
        ),
    ] = 0,
) -> None:
    """Per model: recall and precision per frame and per episode, false alarms per hour of negatives, score
    distribution, latency per frame and the threshold for a target recall; writes an HTML report."""
    from drivers.detectors import ModelError, load_detector
    from edge.lift.dataset import DatasetError, find_episodes, read_classes
    from edge.lift.eval_report import write_report
    from edge.lift.evaluate import Evaluator, summary_lines

    chosen = _chosen_lift(config, lift, model_dir)
    tau = threshold if threshold is not None else chosen.score_threshold
    try:
        episodes = find_episodes(folder)
        classes = read_classes(folder)
        evaluator = Evaluator(chosen, episodes, classes, report_threshold=tau, extra_ebike_labels=ebike_label or ())
        results = []
        for name in model or [chosen.model]:
            detector = load_detector(
                name, manifest=chosen.manifest, model_dir=chosen.model_dir, backend=chosen.backend, threads=threads
            )
            evaluation = evaluator.run(detector)
            for line in summary_lines(evaluation, chosen, tau, target_recall):
                typer.echo(line)
            results.append(evaluation)
    except (DatasetError, ModelError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    written = write_report(report, folder, chosen, results, tau, target_recall)
    typer.echo(f"report: {written}")


@lift_app.command("capture")
def capture_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="the running gateway's config file")],
    lift: Annotated[str | None, typer.Option(help="lift id (default: the only lift in the config)")] = None,
    minutes: Annotated[float, typer.Option(min=0.1, max=7 * 24 * 60, help="capture for this long")] = 60.0,
    stop: Annotated[bool, typer.Option("--stop", help="stop capturing now")] = False,
    status: Annotated[bool, typer.Option("--status", help="list what was captured, change nothing")] = False,
) -> None:
    """On a running gateway: keep the frames around motion while the door is open (for labelling and
    `edge lift evaluate`), bounded by lifts[].capture.max_mb."""
    import time

    from edge.lift.capture import episodes, read_request, write_request

    gateway, chosen = _gateway_and_lift(config, lift, None)
    folder = chosen.capture.dir or gateway.data_dir / "lift-capture"
    if not status:
        until = 0.0 if stop else time.time() + minutes * 60
        try:
            write_request(folder, chosen.id, until)
        except OSError as exc:
            typer.echo(f"error: cannot write the capture request under {folder}: {exc}", err=True)
            raise typer.Exit(2) from None
        if stop:
            typer.echo(f"lift {chosen.id}: capture stops within a second")
        else:
            typer.echo(
                f"lift {chosen.id}: capturing until {time.strftime('%Y-%m-%d %H:%M', time.localtime(until))} "
                f"while the door is open, into {folder / chosen.id} (at most {chosen.capture.max_mb:g} MB)"
            )
    else:
        until = read_request(folder, chosen.id)
        state = (
            f"capturing until {time.strftime('%Y-%m-%d %H:%M', time.localtime(until))}"
            if until > time.time()
            else "not capturing"
        )
        typer.echo(f"lift {chosen.id}: {state}")
    found = episodes(folder / chosen.id)
    total = sum(e.bytes for e in found)
    frames = sum(e.frames for e in found)
    typer.echo(f"{len(found)} episodes, {frames} frames, {total / 1e6:.1f} MB in {folder / chosen.id}")
    for item in found[-10:]:
        typer.echo(f"  {item.path.name}: {item.frames} frames, {item.bytes / 1e6:.2f} MB")


def register(app: typer.Typer) -> None:
    app.add_typer(lift_app, name="lift")
