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
from typing import TYPE_CHECKING, Any

from edge.core.runtime import Component, Context
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Event, Severity
from edge.gate.commands import (
    EnrolResidentArgs,
    IssueVisitorPassArgs,
    RemoveResidentArgs,
    RevokeVisitorPassArgs,
    UnlockArgs,
    parse_args,
)
from edge.gate.config import STORE_FILE, GateConfig
from edge.gate.decider import SEVERITY, AccessKind, Decision, GateDecider
from edge.gate.door import Door, UnlockError
from edge.gate.enrol import Enrolled, Enroller, EnrolmentError
from edge.gate.store import Owner, ResidentStore, StoreError
from edge.gate.worker import CameraStatus, FrameResult, VisionWorker, WorkerExit, WorkerSettings

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)



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
    """One gate: vision process in, decisions, door, access log and events out."""

    def __init__(self, config: GateConfig, store: ResidentStore) -> None:
        self.config = config
        self.store = store
        self.door = Door(config.id, config.door)
        self.decider: GateDecider[FrameInfo] = GateDecider(config, store)
        self.worker = VisionWorker(WorkerSettings.of(config))
        self.frames = 0
        self.last_latency_s: float | None = None

    async def run(self, ctx: Context) -> None:
        ctx.devices.declare(self.config.id, area=self.config.area, profile="face-gate")
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
        decisions = self.decider.decide(result.ts, time.time(), result.faces, ref)
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
            kind=decision.kind.value, device=self.config.id, severity=SEVERITY[decision.kind], details=details,
            snapshot_jpeg=decision.best.snapshot if self.config.snapshot else None,
        )
        self._log(event, decision.owner, decision.name, decision.distance, decision.reason)
        ctx.metrics.gate_decisions.labels(self.config.id, decision.result).inc()
        log.info("gate %s: %s %s (distance %.3f, %s)", self.config.id, decision.kind.value, decision.name,
                 decision.distance, decision.reason)
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

    async def remote_unlock(self, ctx: Context, command: Command, by: str) -> None:
        await self.door.unlock(ctx)  # UnlockError -> the command fails with its reason
        reason = f"remote unlock (request {command.request_id})"
        details = {"gate": self.config.id, "person": by, "person_id": None, "person_kind": "remote",
                   "distance": None, "result": "granted", "reason": reason, "unlock": "pulsed"}
        event = Event(kind=AccessKind.GRANTED.value, device=self.config.id, severity=Severity.INFO, details=details)
        self._log(event, None, by, None, reason)
        ctx.metrics.gate_decisions.labels(self.config.id, "granted").inc()
        await ctx.emit(event)

    def _log(self, event: Event, owner: Owner | None, name: str, distance: float | None, reason: str) -> None:
        self.store.log_access(
            ts=event.ts, gate=self.config.id, kind=event.kind, result=event.details["result"], owner=owner,
            name=name, distance=distance if distance is None or distance != float("inf") else None,
            reason=reason, event_id=event.id,
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
        self.gates = {g.id: Gate(g, self.store) for g in self.config.gates}
        for action, handler in (
            ("unlock", self.unlock), ("enrol_resident", self.enrol_resident),
            ("remove_resident", self.remove_resident), ("issue_visitor_pass", self.issue_visitor_pass),
            ("revoke_visitor_pass", self.revoke_visitor_pass),
        ):
            ctx.commands.register(action, handler)
        try:
            async with asyncio.TaskGroup() as tg:
                for gate in self.gates.values():
                    tg.create_task(gate.run(ctx), name=f"gate:{gate.config.id}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self.store.close()

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
        args = parse_args(UnlockArgs, command.args)
        gate = self._gate_of(command, args.gate)
        assert self._ctx is not None
        try:
            await gate.remote_unlock(self._ctx, command, args.by or command.issuer)
        except UnlockError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, {"gate": gate.config.id, "seconds": gate.config.door.unlock_s})

    async def enrol_resident(self, command: Command) -> CommandResult:
        args = parse_args(EnrolResidentArgs, command.args)
        unknown = [g for g in args.gates if g != "*" and g not in self.gates]
        if unknown:
            raise CommandError(f"args.gates: unknown gate(s) {', '.join(unknown)}")
        enrolled = await self._encode(args.photo_bytes())
        try:
            resident = self._store().add_resident(
                args.name, enrolled, gates=args.gates, valid_from=args.valid_from, valid_until=args.valid_until,
                keep_photos=args.keep_photos,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, resident.to_dict())

    async def remove_resident(self, command: Command) -> CommandResult:
        args = parse_args(RemoveResidentArgs, command.args)
        store = self._store()
        try:
            remove = store.revoke_resident if args.revoke_only else store.remove_resident
            resident = remove(args.resident)
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, {"resident_id": resident.id, "name": resident.name,
                                    "removed": not args.revoke_only})

    async def issue_visitor_pass(self, command: Command) -> CommandResult:
        args = parse_args(IssueVisitorPassArgs, command.args)
        unknown = [g for g in args.gates if g != "*" and g not in self.gates]
        if unknown:
            raise CommandError(f"args.gates: unknown gate(s) {', '.join(unknown)}")
        enrolled = await self._encode(args.photo_bytes())
        try:
            vpass = self._store().issue_visitor_pass(
                args.name, enrolled, gates=args.gates, valid_from=args.valid_from, valid_until=args.valid_until,
                max_uses=args.max_uses, keep_photos=args.keep_photos,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, vpass.to_dict())

    async def revoke_visitor_pass(self, command: Command) -> CommandResult:
        args = parse_args(RevokeVisitorPassArgs, command.args)
        try:
            vpass = self._store().revoke_visitor_pass(args.pass_id)
        except StoreError as exc:
            raise CommandError(str(exc)) from None
        return self._done(command, vpass.to_dict())


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


def build_components(config: GatewayConfig) -> list[Component]:
    check_references(config)
    return [GateService(config)] if config.gates else []
