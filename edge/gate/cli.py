"""``edge residents add|remove|list`` and ``edge gate replay``: the gate's command line.

The store is ``<data_dir>/residents.db`` of the gateway config (``--config``), or a file given with
``--store``; the running gateway sees changes made here on its next decision.
"""

from __future__ import annotations

import enum
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from edge.gate.config import STORE_FILE, GateConfig

if TYPE_CHECKING:
    from edge.config import GatewayConfig
    from edge.gate.decider import LivenessMode
    from edge.gate.store import ResidentStore


class LivenessChoice(enum.StrEnum):
    enforce = "enforce"
    warn = "warn"
    off = "off"


residents_app = typer.Typer(no_args_is_help=True, help="Residents of the face-recognition gates.")
gate_app = typer.Typer(no_args_is_help=True, help="Face-recognition gates.")
console = Console()
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="gateway YAML config (store in its data_dir)")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="resident store file, instead of --config")]


visitor_app = typer.Typer(no_args_is_help=True, help="Signed visitor QR passes (platform side).")


def register(app: typer.Typer) -> None:
    app.add_typer(residents_app, name="residents")
    app.add_typer(gate_app, name="gate")
    app.add_typer(visitor_app, name="visitor-pass")


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
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or time (2026-12-31 or 2026-12-31T18:00)", param_hint=option
        ) from None


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
        resident = db.add_resident(
            name, enrolled, gates=gate or ["*"], valid_from=start, valid_until=end, keep_photos=keep_photos
        )
    except ValueError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"enrolled {resident.name} ({resident.id}) from {len(enrolled)} photo(s), gates: {', '.join(resident.gates)}"
    )


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

    table = Table("id", "name", "gates", "valid from", "valid until", "photos", "models", "status")
    for r in residents:
        table.add_row(
            r.id,
            r.name,
            ", ".join(r.gates),
            day(r.valid_from),
            day(r.valid_until),
            str(r.encodings),
            ", ".join(r.models),
            "revoked" if r.revoked_at else "active",
        )
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
        table.add_row(
            datetime.fromtimestamp(r["ts"]).isoformat(sep=" ", timespec="seconds"),
            r["gate"],
            r["kind"].removeprefix("access."),
            r["name"] or "unknown",
            distance,
            r["reason"] or "",
        )
    console.print(table)


@gate_app.command("replay")
def replay_cmd(
    video: Annotated[Path, typer.Argument(help="a recording of the gate camera")],
    config: Annotated[Path, typer.Option("--config", "-c", help="gateway YAML config with the gate")],
    gate: Annotated[str | None, typer.Option(help="gate id (default: the first gate of the config)")] = None,
    every: Annotated[int, typer.Option(min=1, help="analyse every N-th frame")] = 1,
    liveness: Annotated[
        LivenessChoice | None,
        typer.Option(help="override the gate's liveness mode for this replay (a recording of photos is not live)"),
    ] = None,
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
        mode: LivenessMode | None = liveness.value if liveness is not None else None
        for decision in replay(video, chosen, db, every=every, liveness=mode):
            print(json.dumps(decision_line(decision)), flush=True)
    except CameraError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    finally:
        db.close()
        sys.stdout.flush()


def _progress() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err, transient=True)


@gate_app.command("calibrate")
def calibrate_cmd(
    folder: Annotated[Path, typer.Argument(help="one sub-folder of photos per person")],
    embedding: Annotated[str, typer.Option(help="embedding of models/faces.yaml")] = "mobilefacenet",
    detector: Annotated[str, typer.Option(help="detector of models/faces.yaml")] = "yunet",
    config: Annotated[Path | None, typer.Option("--config", "-c", help="use the models of this config's gate")] = None,
    gate: Annotated[str | None, typer.Option(help="with --config: the gate (default: the first)")] = None,
    target_far: Annotated[float, typer.Option(min=1e-9, max=0.5, help="false accept rate to calibrate for")] = 1e-4,
    det: Annotated[Path, typer.Option(help="where to write the DET curve (PNG)")] = Path("det.png"),
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary on stdout")] = False,
) -> None:
    """Genuine/impostor distances, FAR and FRR per threshold, and the threshold for a target FAR, on a photo folder."""
    from edge.gate.calibrate import calibrate, det_png, embed_folder, histogram, people_of
    from edge.gate.models import FaceModelError, load_face_manifest

    if config is not None:
        gates = list(_load_config(config).gates)
        chosen = next((g for g in gates if g.id == gate), None) if gate else (gates[0] if gates else None)
        if chosen is None:
            err.print(f"[red]error[/]: no gate {gate or ''} in {config}")
            raise typer.Exit(2)
        embedding, detector = chosen.embedding, chosen.detector
    try:
        spec = load_face_manifest().embedding(embedding)
        load_face_manifest().detector(detector)
        people = people_of(folder)
    except (FaceModelError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with _progress() as progress:
        task = progress.add_task(f"{detector} + {embedding}", total=sum(len(p) for p in people.values()))
        embedded, skipped = embed_folder(
            people, detector=detector, embedding=embedding, advance=lambda: progress.advance(task)
        )
    for problem in skipped:
        err.print(f"[yellow]skipped[/]: {problem}", highlight=False)
    try:
        result = calibrate(embedded, spec.metric, target_far, skipped)
    except ValueError as exc:
        err.print(f"[red]error[/]: {exc}")
        raise typer.Exit(1) from None
    title = f"{detector} + {embedding} on {folder.name}: {len(people)} people, {len(embedded)} photos"
    det_png(result, det, title)
    s, c = result.scores, result.chosen
    summary = {
        "model": embedding,
        "detector": detector,
        "metric": spec.metric,
        "people": len(people),
        "photos": len(embedded),
        "skipped": len(skipped),
        "genuine_pairs": len(s.genuine),
        "impostor_pairs": len(s.impostor),
        "target_far": target_far,
        "threshold": round(c.threshold, 4),
        "far": c.far,
        "frr": round(c.frr, 4),
        "far_resolution": result.resolution,
        "limited_by_data": result.limited_by_data,
        "manifest_threshold": spec.threshold,
        "det_png": str(det),
        "table": [{"threshold": o.threshold, "far": o.far, "frr": round(o.frr, 4)} for o in result.table],
    }
    if as_json:
        print(json.dumps(summary))
        return
    console.print(title, highlight=False)
    edges = np.linspace(min(s.genuine.min(), s.impostor.min()), max(s.genuine.max(), s.impostor.max()), 13)
    for label, values in (("genuine", s.genuine), ("impostor", s.impostor)):
        console.print(f"{label} distances ({len(values)} pairs, median {np.median(values):.3f}):", highlight=False)
        for line in histogram(values, edges):
            console.print("  " + line, highlight=False)
    table = Table("threshold", "FAR", "FRR")
    for o in result.table:
        table.add_row(f"{o.threshold:.3f}", f"{o.far:.2e}", f"{o.frr:.3f}")
    console.print(table)
    note = (
        (
            f" (the data can show no FAR below {result.resolution:.1e}: this is the threshold that let no impostor "
            "pair in; add people to calibrate finer)"
        )
        if result.limited_by_data
        else ""
    )
    console.print(
        f"threshold for FAR <= {target_far:g}: {c.threshold:.4f} (FAR {c.far:.2e}, FRR {c.frr:.3f})"
        f"{note}; models/faces.yaml default {spec.threshold}",
        highlight=False,
    )
    console.print(f"DET curve: {det}", highlight=False)


@residents_app.command("reencode")
def reencode(
    embedding: Annotated[str, typer.Option(help="embedding of models/faces.yaml to add")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Add an embedding model's embeddings from the kept photos (residents enrolled with --keep-photos)."""
    from edge.gate.enrol import Enroller, EnrolmentError, decode_photo
    from edge.gate.models import FaceModelError

    try:
        enroller = Enroller([embedding])
    except FaceModelError as exc:
        raise typer.BadParameter(str(exc), param_hint="--embedding") from None
    db = _open_store(config, store)
    todo = db.kept_photos(embedding)
    done, failed = 0, 0
    with _progress() as progress:
        task = progress.add_task(f"embedding with {embedding}", total=len(todo))
        for owner, sample, source, jpeg in todo:
            try:
                enrolled = enroller.enrol_image(decode_photo(jpeg, source), source)
                db.add_embedding(owner, sample, source, embedding, enrolled.encodings[embedding])
                done += 1
            except EnrolmentError as exc:
                err.print(f"[red]error[/]: {exc}", highlight=False)
                failed += 1
            progress.advance(task)
    missing = [r.name for r in db.residents() if embedding not in r.models]
    console.print(
        f"{done} photo(s) embedded with {embedding}, {failed} failed; "
        f"{len(missing)} resident(s) without it" + (f" (enrol again: {', '.join(missing)})" if missing else "")
    )
    if failed:
        raise typer.Exit(1)


@visitor_app.command("issue")
def issue_pass(
    key: Annotated[Path, typer.Option("--key", help="the platform's Ed25519 private key (PEM)")],
    site: Annotated[str, typer.Option(help="site id the pass is for")],
    gate: Annotated[list[str], typer.Option("--gate", "-g", help="gate id it opens (repeat; '*' for all)")],
    valid_until: Annotated[str, typer.Option(help="ISO date/time the pass ends")],
    valid_from: Annotated[str | None, typer.Option(help="ISO date/time the pass starts (default: now)")] = None,
    uses: Annotated[int, typer.Option(min=1, max=1000, help="how many times it opens a gate")] = 1,
    name: Annotated[str | None, typer.Option(help="the visitor's name (shown in the access log)")] = None,
    pass_id: Annotated[str | None, typer.Option("--id", help="pass id (default: random)")] = None,
    png: Annotated[Path, typer.Option(help="where to write the QR code as PNG")] = Path("visitor-pass.png"),
) -> None:
    """Sign a visitor pass, print its QR code in the terminal and write it as a PNG (to send to the visitor)."""
    import time
    import uuid

    import segno
    from pydantic import ValidationError

    from edge.gate.visitor_qr import PassClaims, issue_text
    from edge.pipeline.signing import SignatureError, load_private_key

    try:
        private = load_private_key(key)
    except (OSError, ValueError, SignatureError) as exc:
        raise typer.BadParameter(f"{key}: {exc}", param_hint="--key") from None
    start = _epoch(valid_from, "--valid-from") or time.time()
    end = _epoch(valid_until, "--valid-until")
    try:
        claims = PassClaims(
            id=pass_id or uuid.uuid4().hex[:16],
            site=site,
            gates=gate,
            nbf=int(start),
            exp=int(end or 0),
            uses=uses,
            name=name,
        )
        text = issue_text(private, claims)
    except (ValidationError, ValueError) as exc:
        raise typer.BadParameter(str(exc).replace("\n", "; ")) from None
    qr = segno.make_qr(text, error="m")
    qr.terminal(compact=True)
    qr.save(str(png), scale=6, border=4)
    err.print(
        f"pass {claims.id}: site {site}, gates {', '.join(gate)}, {uses} use(s), "
        f"{datetime.fromtimestamp(claims.nbf).isoformat(timespec='minutes')} to "
        f"{datetime.fromtimestamp(claims.exp).isoformat(timespec='minutes')}; QR version {qr.version}, "
        f"{len(text)} characters; PNG {png}",
        highlight=False,
    )
