"""The gates of a gateway as one component: shared resident store, one vision process and one door per gate.

``build_components(config)`` gives one ``GateService`` when gates are configured. It opens the resident
store (``<data_dir>/residents.db``), registers the platform commands once for all gates (``unlock``,
``enrol_resident``, ``remove_resident``, ``issue_visitor_pass``, ``revoke_visitor_pass``; a command names
its gate by ``target`` or ``args.gate``), and runs each gate as a named task.

A gate decides locally: its vision process sends faces, ``GateDecider`` decides, the door is pulsed, the
decision goes into the access log and out as an event through the durable outbox, so with the uplink down
the gate works on and the log reaches the platform after reconnection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.core.runtime import Component, Context
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Event, Severity
from edge.gate.commands import (
    EnrolResidentArgs,
    IssueVisitorPassArgs,
    RemoveResidentArgs,
    RevokeVisitorPassArgs,
    UnlockArgs,
)
from edge.gate.config import STORE_FILE, GateConfig
from edge.gate.decider import SEVERITY, AccessKind, Decision, GateDecider
from edge.gate.door import Door, UnlockError
from edge.gate.enrol import Enrolled, Enroller, EnrolmentError
from edge.gate.models import FaceModelError, load_face_manifest
from edge.gate.pass_book import PassBook
from edge.gate.qr_decider import QrDecider
from edge.gate.store import Owner, ResidentStore, StoreError
from edge.gate.worker import CameraStatus, FrameResult, VisionWorker, WorkerExit, WorkerSettings
from edge.pipeline.signing import load_public_key

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)
SNAPSHOT_FRESH_S = 10.0  # a snapshot older than this does not show who forced the door


@dataclass(slots=True, frozen=True)
class FrameInfo:
    """What a decision remembers of its best frame."""

    index: int
    ts: float
    snapshot: bytes | None


_enroller: Enroller | None = None


def enrol_photos(photos: list[tuple[str, bytes]]) -> list[Enrolled]:
    """Photos to encodings (runs in the enrolment process; raises EnrolmentError naming the photo)."""
    global _enroller
    if _enroller is None:
        _enroller = Enroller()
    return [_enroller.enrol_bytes(data, source) for source, data in photos]


class Gate:
    """One gate: vision process in, decisions (faces and QR passes), door, access log and events out."""

    def __init__(
        self, config: GateConfig, store: ResidentStore, *, site: str = "", public_key: Ed25519PublicKey | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.door = Door(config.id, config.door, picture=self.recent_snapshot)
        self.decider: GateDecider[FrameInfo] = GateDecider(config, store)
        self.qr: QrDecider[FrameInfo] = QrDecider(
            gate=config.id, site=site, public_key=public_key, book=PassBook(store.db), cooldown_s=config.cooldown_s
        )
        self.worker = VisionWorker(WorkerSettings.of(config))
        self.frames = 0
        self.last_latency_s: float | None = None
        self._last_spoof_event = float("-inf")
        self._spoofs_suppressed = 0
        self._snapshot: tuple[float, bytes] | None = None  # (monotonic time, JPEG) of the last frame with one

    def recent_snapshot(self) -> bytes | None:
        """The camera's last snapshot if it is at most SNAPSHOT_FRESH_S old (the forced-door alarm's picture)."""
        if self._snapshot is None or time.monotonic() - self._snapshot[0] > SNAPSHOT_FRESH_S:
            return None
        return self._snapshot[1]

    async def run(self, ctx: Context) -> None:
        ctx.devices.declare(self.config.id, area=self.config.area, profile="face-gate")
        missing = [r.name for r in self.store.residents() if self.config.embedding not in r.models]
        if missing:
            log.warning(
                "gate %s: %d resident(s) have no %s embedding and will not be recognised (%s): run "
                "`edge residents reencode --embedding %s` or enrol them again",
                self.config.id,
                len(missing),
                self.config.embedding,
                ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""),
                self.config.embedding,
            )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.door.watch(ctx), name=f"gate:{self.config.id}:door")
            tg.create_task(self._vision(ctx), name=f"gate:{self.config.id}:vision")

    async def _vision(self, ctx: Context) -> None:
        fps = ctx.metrics.camera_fps.labels(self.config.id)
        window_start, window_frames = time.monotonic(), 0
        async for message in self.worker.messages():
            if isinstance(message, CameraStatus):
                await ctx.devices.set_availability(self.config.id, message.online, reason=message.reason)
                continue
            if isinstance(message, WorkerExit):
                continue
            self.frames += 1
            window_frames += 1
            if (elapsed := time.monotonic() - window_start) >= 5.0:
                fps.set(window_frames / elapsed)
                window_start, window_frames = time.monotonic(), 0
            await self.on_frame(ctx, message)

    async def on_frame(self, ctx: Context, result: FrameResult) -> list[Decision[FrameInfo]]:
        ref = FrameInfo(result.index, result.ts, result.snapshot)
        if result.snapshot:
            self._snapshot = (time.monotonic(), result.snapshot)
        now = time.time()
        decisions = self.decider.decide(result.ts, now, result.faces, ref)
        if result.qr:
            decisions += self.qr.decide(result.ts, now, result.qr, ref)
        for decision in decisions:
            self.last_latency_s = time.time() - result.ts
            await self.act(ctx, decision)
        return decisions

    async def act(self, ctx: Context, decision: Decision[FrameInfo]) -> None:
        details = decision.details()
        details["latency_ms"] = round((self.last_latency_s or 0.0) * 1000, 1)
        if decision.allowed:
            details["unlock"] = await self._unlock(ctx)
        event = Event(
            kind=decision.kind.value,
            device=self.config.id,
            severity=SEVERITY[decision.kind],
            details=details,
            snapshot_jpeg=decision.best.snapshot if self.config.snapshot else None,
        )
        self._log(event, decision.owner, decision.name, decision.distance, decision.reason)
        ctx.metrics.gate_decisions.labels(self.config.id, decision.result).inc()
        log.info(
            "gate %s: %s %s (distance %.3f, %s)",
            self.config.id,
            decision.kind.value,
            decision.name,
            decision.distance,
            decision.reason,
        )
        if decision.kind is AccessKind.SPOOF:
            await self._spoof_event(ctx, event)
            return
        await ctx.emit(event)
        if decision.spoof_suspected:  # liveness warn: let in, but say so
            spoof = Event(
                kind=AccessKind.SPOOF.value,
                device=self.config.id,
                severity=SEVERITY[AccessKind.SPOOF],
                details={**details, "reason": "spoof (liveness warn: decided as if live)"},
                snapshot_jpeg=event.snapshot_jpeg,
            )
            await self._spoof_event(ctx, spoof)

    async def _spoof_event(self, ctx: Context, event: Event) -> None:
        """access.spoof_attempt, at most one per ``spoof_event_interval_s`` (the rest are in the access log)."""
        now = time.monotonic()
        if now - self._last_spoof_event < self.config.spoof_event_interval_s:
            self._spoofs_suppressed += 1
            return
        event.details["suppressed_since_last"] = self._spoofs_suppressed
        self._last_spoof_event, self._spoofs_suppressed = now, 0
        await ctx.emit(event)

    async def _unlock(self, ctx: Context) -> str:
        if self.config.door.relay_device is None:
            return "no lock configured"  # a gate that only watches and logs
        try:
            await self.door.unlock(ctx)
        except UnlockError as exc:
            log.error("gate %s: unlock failed: %s", self.config.id, exc)
            return f"failed: {exc}"
        return "pulsed"

    async def remote_unlock(self, ctx: Context, command: Command, by: str, why: str | None = None) -> None:
        await self.door.unlock(ctx)  # UnlockError -> the command fails with its reason
        reason = "remote unlock" + (f": {why}" if why else "") + f" (request {command.request_id})"
        details = {
            "gate": self.config.id,
            "person": by,
            "person_id": None,
            "person_kind": "remote",
            "distance": None,
            "result": "granted",
            "reason": reason,
            "unlock": "pulsed",
        }
        event = Event(kind=AccessKind.GRANTED.value, device=self.config.id, severity=Severity.INFO, details=details)
        self._log(event, None, by, None, reason)
        ctx.metrics.gate_decisions.labels(self.config.id, "granted").inc()
        await ctx.emit(event)

    def _log(self, event: Event, owner: Owner | None, name: str, distance: float | None, reason: str) -> None:
        self.store.log_access(
            ts=event.ts,
            gate=self.config.id,
            kind=event.kind,
            result=event.details["result"],
            owner=owner,
            name=name,
            distance=distance if distance is None or distance != float("inf") else None,
            reason=reason,
            event_id=event.id,
        )


class GateService:
    """Every gate of the gateway, their shared store, and the gate commands."""

    name = "gates"

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.store: ResidentStore | None = None
        self.gates: dict[str, Gate] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._ctx: Context | None = None

    async def run(self, ctx: Context) -> None:
        self._ctx = ctx
        self.store = ResidentStore(ctx.data_dir / STORE_FILE)
        key = self._platform_key()
        self.gates = {g.id: Gate(g, self.store, site=self.config.site_id, public_key=key) for g in self.config.gates}
        for action, handler, args in (
            ("unlock", self.unlock, UnlockArgs),
            ("enrol_resident", self.enrol_resident, EnrolResidentArgs),
            ("remove_resident", self.remove_resident, RemoveResidentArgs),
            ("issue_visitor_pass", self.issue_visitor_pass, IssueVisitorPassArgs),
            ("revoke_visitor_pass", self.revoke_visitor_pass, RevokeVisitorPassArgs),
        ):
            ctx.commands.register(action, handler, args=args)
        try:
            async with asyncio.TaskGroup() as tg:
                for gate in self.gates.values():
                    tg.create_task(gate.run(ctx), name=f"gate:{gate.config.id}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self.store.close()

    def _platform_key(self) -> Ed25519PublicKey | None:
        secret = self.config.commands.platform_public_key
        if secret is None:
            if any(g.qr_passes for g in self.config.gates):
                log.warning("gates: no commands.platform_public_key: visitor QR passes are refused")
            return None
        try:
            return load_public_key(secret.reveal())
        except ValueError as exc:
            log.error("gates: platform key unusable (%s): visitor QR passes are refused", exc)
            return None

    # -- commands -------------------------------------------------------------------------------
    def _gate_of(self, command: Command, named: str | None) -> Gate:
        gate_id = named or command.target
        if gate_id in self.gates:
            return self.gates[gate_id]
        if named is None and len(self.gates) == 1 and command.target == self.config.gateway_id:
            return next(iter(self.gates.values()))
        raise CommandError(f"unknown gate {gate_id!r}; gates here: {', '.join(self.gates) or 'none'}")

    def _store(self) -> ResidentStore:
        if self.store is None:
            raise CommandError("the gate service is not running")
        return self.store

    async def _encode(self, photos: list[tuple[str, bytes]]) -> list[Enrolled]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, enrol_photos, photos)
        except EnrolmentError as exc:
            raise CommandError(str(exc)) from None

    @staticmethod
    def _done(command: Command, data: dict[str, Any]) -> CommandResult:
        return CommandResult(command.request_id, CommandStatus.DONE, data=data)

    async def unlock(self, command: Command) -> CommandResult:
        args: UnlockArgs = command.params
        gate = self._gate_of(command, args.gate)
        assert self._ctx is not None
        try:
            await gate.remote_unlock(self._ctx, command, args.by or command.issuer, args.reason)
        except UnlockError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, {"gate": gate.config.id, "seconds": gate.config.door.unlock_s})

    async def enrol_resident(self, command: Command) -> CommandResult:
        args: EnrolResidentArgs = command.params
        unknown = [g for g in args.gates if g != "*" and g not in self.gates]
        if unknown:
            raise CommandError(f"args.gates: unknown gate(s) {', '.join(unknown)}")
        enrolled = await self._encode(args.photo_bytes())
        try:
            resident = self._store().add_resident(
                args.name,
                enrolled,
                gates=args.gates,
                valid_from=args.valid_from,
                valid_until=args.valid_until,
                keep_photos=args.keep_photos,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, resident.to_dict())

    async def remove_resident(self, command: Command) -> CommandResult:
        args: RemoveResidentArgs = command.params
        store = self._store()
        try:
            remove = store.revoke_resident if args.revoke_only else store.remove_resident
            resident = remove(args.resident)
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, {"resident_id": resident.id, "name": resident.name, "removed": not args.revoke_only})

    async def issue_visitor_pass(self, command: Command) -> CommandResult:
        args: IssueVisitorPassArgs = command.params
        unknown = [g for g in args.gates if g != "*" and g not in self.gates]
        if unknown:
            raise CommandError(f"args.gates: unknown gate(s) {', '.join(unknown)}")
        enrolled = await self._encode(args.photo_bytes())
        try:
            vpass = self._store().issue_visitor_pass(
                args.name,
                enrolled,
                gates=args.gates,
                valid_from=args.valid_from,
                valid_until=args.valid_until,
                max_uses=args.max_uses,
                keep_photos=args.keep_photos,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, vpass.to_dict())

    async def revoke_visitor_pass(self, command: Command) -> CommandResult:
        """Revoke a face visitor pass of the store, or a signed QR pass (recorded even if never seen here)."""
        args: RevokeVisitorPassArgs = command.params
        store = self._store()
        revoked_at = PassBook(store.db).revoke(args.pass_id)
        try:
            vpass = store.revoke_visitor_pass(args.pass_id)
        except StoreError:
            return self._done(command, {"id": args.pass_id, "kind": "qr", "revoked_at": revoked_at})
        return self._done(command, {**vpass.to_dict(), "kind": "face"})


def check_references(config: GatewayConfig) -> None:
    """Gate ids are unique and no device's; the relay and contact a gate names are configured devices."""
    devices = {d.id for d in config.devices}
    seen: set[str] = set()
    for gate in config.gates:
        if gate.id in seen:
            raise ValueError(f"gates: gate id {gate.id!r} is used twice")
        if gate.id in devices:
            raise ValueError(f"gates: gate id {gate.id!r} is also a device id (a gate's events use its id as device)")
        seen.add(gate.id)
        for what, ref in (("relay_device", gate.door.relay_device), ("contact_device", gate.door.contact_device)):
            if ref is not None and ref not in devices:
                raise ValueError(f"gates[{gate.id}].door.{what}: device {ref!r} is not configured under devices")


def check_models(config: GatewayConfig) -> None:
    """Every model file a gate needs is there and has its manifest's sha256 (else the vision process would only
    fail once spawned, and keep restarting)."""
    manifest = load_face_manifest()
    for gate in config.gates:
        model_dir = Path(gate.model_dir) if gate.model_dir else None
        specs = [manifest.detector(gate.detector), manifest.embedding(gate.embedding)]
        if gate.liveness != "off":
            specs.append(manifest.liveness_model())
        for spec in specs:
            if spec.file is not None:
                try:
                    spec.path(model_dir)
                except FaceModelError as exc:
                    raise ValueError(f"gates[{gate.id}]: {exc}") from None


def build_components(config: GatewayConfig) -> list[Component]:
    check_references(config)
    check_models(config)
    return [GateService(config)] if config.gates else []
