"""``edge residents add|remove|list`` and ``edge gate replay``: the gate's command line.

The store is ``<data_dir>/residents.db`` of the gateway config (``--config``), or a file given with
``--store``; the running gateway sees changes made here on its next decision.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.gate.store import ResidentStore
from rich.table import Table

from edge.gate.config import STORE_FILE, GateConfig

residents_app = typer.Typer(no_args_is_help=True, help="Residents of the face-recognition gates.")
gate_app = typer.Typer(no_args_is_help=True, help="Face-recognition gates.")
console = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="gateway YAML config (store in its data_dir)")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="resident store file, instead of --config")]


def register(app: typer.Typer) -> None:
    app.add_typer(residents_app, name="residents")
    app.add_typer(gate_app, name="gate")


def _load_config(path: Path) -> GatewayConfig:
    from edge.cli import load_or_exit

    return load_or_exit(path)


def _open_store(config: Path | None, store: Path | None) -> ResidentStore:
    from edge.gate.store import ResidentStore

    if store is not None:
        return ResidentStore(store)
    if config is None:
        raise typer.BadParameter("give --config (the gateway config) or --store (a store file)")
    path = _load_config(config).data_dir / STORE_FILE
    return ResidentStore(path)


def _epoch(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date or time (2026-12-31 or 2026-12-31T18:00)",
                                 param_hint=option) from None


@residents_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="the resident's name")],
    photos: Annotated[list[Path], typer.Argument(help="photos of the resident, one face each")],
    gate: Annotated[list[str] | None, typer.Option("--gate", "-g", help="gate id (repeat); default all")] = None,
    valid_from: Annotated[str | None, typer.Option(help="ISO date/time the access starts")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO date/time the access ends")] = None,
    keep_photos: Annotated[bool, typer.Option(help="store the photos too, not only the encodings")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Enrol a resident from photos (each must show exactly one face)."""
    from edge.gate.enrol import Enroller, EnrolmentError

    start, end = _epoch(valid_from, "--valid-from"), _epoch(valid_until, "--valid-until")
    db = _open_store(config, store)
    enroller = Enroller()
    enrolled, problems = [], []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True, disable=len(photos) < 3) as progress:
        task = progress.add_task(f"encoding {name}", total=len(photos))
        for photo in photos:
            try:
                enrolled.append(enroller.enrol_file(photo))
            except EnrolmentError as exc:
                problems.append(str(exc))
            progress.advance(task)
    if problems:
        for problem in problems:
            err.print(f"[red]error[/]: {problem}", highlight=False)
        err.print(f"{name} not enrolled: {len(problems)} of {len(photos)} photo(s) unusable")
        raise typer.Exit(1)
    try:
        resident = db.add_resident(name, enrolled, gates=gate or ["*"], valid_from=start, valid_until=end,
                                   keep_photos=keep_photos)
    except ValueError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    console.print(f"enrolled {resident.name} ({resident.id}) from {len(enrolled)} photo(s), "
                  f"gates: {', '.join(resident.gates)}")


@residents_app.command("import")
def import_folder(
    folder: Annotated[Path, typer.Argument(help="one sub-folder of photos per resident, named after them")],
    gate: Annotated[list[str] | None, typer.Option("--gate", "-g", help="gate id (repeat); default all")] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Enrol every resident of a folder (residents/<name>/*.jpg); people already enrolled by name are skipped."""
    from edge.gate.enrol import Enroller, EnrolmentError

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder}: not a folder", param_hint="FOLDER")
    people = {d.name: sorted(p for p in d.iterdir() if p.is_file()) for d in sorted(folder.iterdir()) if d.is_dir()}
    if not people:
        raise typer.BadParameter(f"{folder}: no sub-folders (one per resident)", param_hint="FOLDER")
    db = _open_store(config, store)
    known = {r.name.casefold() for r in db.residents()}
    todo = {name: photos for name, photos in people.items() if name.casefold() not in known}
    enroller = Enroller()
    failed = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("encoding photos", total=sum(len(p) for p in todo.values()))
        for name, photos in todo.items():
            enrolled, problems = [], []
            for photo in photos:
                try:
                    enrolled.append(enroller.enrol_file(photo))
                except EnrolmentError as exc:
                    problems.append(str(exc))
                progress.advance(task)
            if problems or not enrolled:
                failed += 1
                for problem in problems or [f"{folder / name}: no photos"]:
                    err.print(f"[red]error[/]: {problem}", highlight=False)
                continue
            resident = db.add_resident(name, enrolled, gates=gate or ["*"])
            console.print(f"enrolled {resident.name} ({resident.id}) from {len(enrolled)} photo(s)")
    skipped = len(people) - len(todo)
    console.print(f"{len(todo) - failed} enrolled, {skipped} already there, {failed} failed")
    if failed:
        raise typer.Exit(1)


@residents_app.command("remove")
def remove(
    resident: Annotated[str, typer.Argument(help="resident id, or a name only one resident has")],
    revoke_only: Annotated[bool, typer.Option(help="keep the record: the person is recognised and denied")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Remove a resident and their encodings (or only revoke their access)."""
    from edge.gate.store import StoreError

    db = _open_store(config, store)
    try:
        gone = db.revoke_resident(resident) if revoke_only else db.remove_resident(resident)
    except StoreError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    console.print(f"{'revoked' if revoke_only else 'removed'} {gone.name} ({gone.id})")


@residents_app.command("list")
def list_residents(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Residents, their gates, validity and number of encodings."""
    residents = _open_store(config, store).residents()
    if as_json:
        print(json.dumps([r.to_dict() for r in residents], indent=2))
        return

    def day(ts: float | None) -> str:
        return datetime.fromtimestamp(ts).isoformat(timespec="minutes") if ts else "-"

    table = Table("id", "name", "gates", "valid from", "valid until", "encodings", "status")
    for r in residents:
        table.add_row(r.id, r.name, ", ".join(r.gates), day(r.valid_from), day(r.valid_until), str(r.encodings),
                      "revoked" if r.revoked_at else "active")
    console.print(table)


@gate_app.command("log")
def access_log(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="how many of the latest decisions")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The latest access decisions of every gate, newest first."""
    rows = _open_store(config, store).access_log(limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("time", "gate", "decision", "person", "distance", "reason")
    for r in rows:
        distance = f"{r['distance']:.3f}" if r["distance"] is not None else "-"
        table.add_row(datetime.fromtimestamp(r["ts"]).isoformat(sep=" ", timespec="seconds"), r["gate"],
                      r["kind"].removeprefix("access."), r["name"] or "unknown", distance, r["reason"] or "")
    console.print(table)


@gate_app.command("replay")
def replay_cmd(
    video: Annotated[Path, typer.Argument(help="a recording of the gate camera")],
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway YAML config with the gate")],
    gate: Annotated[str | None, typer.Option(help="gate id (default: the first gate of the config)")] = None,
    every: Annotated[int, typer.Option(min=1, help="analyse every N-th frame")] = 1,
    store: StoreOpt = None,
) -> None:
    """Run the gate pipeline on a recording; one JSON line per decision (dry run: nothing is unlocked)."""
    from drivers.camera import CameraError
    from edge.gate.replay import decision_line, replay
    from edge.gate.store import ResidentStore

    cfg = _load_config(config)
    if not video.is_file():
        raise typer.BadParameter(f"{video}: no such file", param_hint="VIDEO")
    gates: list[GateConfig] = list(cfg.gates)
    if not gates:
        err.print(f"[red]error[/]: {config} configures no gates")
        raise typer.Exit(2)
    chosen = next((g for g in gates if g.id == gate), None) if gate else gates[0]
    if chosen is None:
        err.print(f"[red]error[/]: no gate {gate!r} in {config}; gates: {', '.join(g.id for g in gates)}")
        raise typer.Exit(2)
    db = ResidentStore(store if store is not None else cfg.data_dir / STORE_FILE)
    try:
        for decision in replay(video, chosen, db, every=every):
            print(json.dumps(decision_line(decision)), flush=True)
    except CameraError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    finally:
        db.close()
        sys.stdout.flush()
