"""E-bike-in-lift components: one per lift camera, plus the platform commands for all lifts.

Each ``LiftCamera`` reads its camera (a thread of a camera process, ``edge.lift.camera_host``), feeds the sightings and
a timer into the confirmation state machine (``edge.lift.confirm``) and carries out what it decides. The
network runs in one ``SharedDetector`` process per model (``edge.lift.detector_process``), shared by every
lift that uses that model; a ``LiftCamera`` built alone runs its own.

- door hold: ``ctx.io.write(door_hold.device, "set", {"channel", "on"})`` on the relay wired beside the
  door-open button; events ``lift.hold_started``, ``lift.hold_ended``, ``lift.hold_released_unconfirmed``;
- the alarm ``ebike_in_lift`` (device = lift id) through ``ctx.alarms.update`` with the best snapshot;
- the voice warning: another relay output, on while the alarm is up;
- the door-state input (``ctx.hub.readings``) makes the detector look at every frame while the door is open.

Platform commands ``hold_door`` {lift, seconds} and ``release_door`` {lift} are handled by ``LiftCommands``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from drivers.detectors import ModelError, load_manifest, model_file
from edge.core.args import Args, Number, Text
from edge.core.kinds import EBIKE_IN_LIFT
from edge.core.pipes import drain_pipe
from edge.core.runtime import Component, Context
from edge.core.types import Command, CommandError, CommandResult, CommandStatus, Event, Severity
from edge.lift.camera_host import CameraHost, CameraLink, with_capture_dir
from edge.lift.capture import read_request
from edge.lift.config import LiftConfig, RelayOutput
from edge.lift.confirm import Action, Phase, Sighting, State, step
from edge.lift.detector_process import DetectorKey, SharedDetector, detector_key
from edge.lift.pipeline import (
    CameraStatus,
    DetectorStatus,
    FrameReport,
    WorkerFailed,
    WorkerMessage,
    WorkerReady,
)

if TYPE_CHECKING:
    from edge.config import GatewayConfig

log = logging.getLogger(__name__)

ALARM_KIND = EBIKE_IN_LIFT
TICK_S = 0.25


class LiftCamera:
    def __init__(
        self,
        config: LiftConfig,
        detector: SharedDetector | None = None,
        host: CameraHost | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._own_detector = detector is None
        self.detector = detector if detector is not None else SharedDetector([config])
        self._own_host = host is None
        self.host = host if host is not None else CameraHost([config], {config.id: self.detector})
        self.name = f"lift:{config.id}"
        self.state = State()
        self.door_held = False
        self.door_open = False
        self.voice_on = False
        self.camera_online: bool | None = None
        self.failure: str | None = None
        self._clock = clock
        self._command_until = 0.0
        self._override = False  # release_door during an automatic hold, until that episode ends
        self._held_since = 0.0
        self._pulsed_at = 0.0
        self._lock = asyncio.Lock()
        self._worker: CameraLink | None = None
        self._frames: deque[float] = deque(maxlen=64)
        self.counts = {"frames": 0, "detector_runs": 0, "sightings": 0, "other_objects": 0}
        self._ctx: Context | None = None

    # -- running -------------------------------------------------------------------------------------

    @property
    def worker_pid(self) -> int | None:
        """Process id of the running camera process (shared with the lifts of its ``camera_process``)."""
        return self._worker.pid if self._worker is not None else None

    def bind(self, ctx: Context) -> None:
        """Attach to the gateway's context (``run`` does it; tests drive ``advance`` directly)."""
        self._ctx = ctx
        ctx.devices.declare(self.config.id, area=self.config.area, profile="lift-camera")

    async def run(self, ctx: Context) -> None:
        self.bind(ctx)
        try:
            async with asyncio.TaskGroup() as tg:
                if self._own_detector:
                    tg.create_task(self.detector.run(ctx), name=f"{self.name} detector")
                if self._own_host:
                    tg.create_task(self.host.run(ctx), name=f"{self.name} camera process")
                tg.create_task(self._ticker(), name=f"{self.name} ticker")
                tg.create_task(self._watch_capture(), name=f"{self.name} capture request")
                tg.create_task(self._camera_loop(ctx), name=f"{self.name} camera")
                if self.config.door_state is not None:
                    tg.create_task(self._watch_door(ctx), name=f"{self.name} door state")
        finally:
            if self.door_held or self.voice_on:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._shutdown_outputs())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            await self.advance(self._clock(), None)

    @property
    def capture_dir(self) -> Path | None:
        if self._ctx is None:
            return self.config.capture.dir
        return with_capture_dir(self.config, self._ctx.data_dir).capture.dir

    async def _watch_capture(self) -> None:
        """Carry an `edge lift capture` request (a file) to the camera process."""
        while True:
            folder = self.capture_dir
            until = await asyncio.to_thread(read_request, folder, self.config.id) if folder else 0.0
            if self._worker is not None:
                self._worker.flags.capture_until.value = until
            await asyncio.sleep(1.0)

    async def _watch_door(self, ctx: Context) -> None:
        spec = self.config.door_state
        assert spec is not None
        queue = ctx.hub.readings(spec.device, spec.key)
        while True:
            reading = await queue.get()
            self.door_open = bool(reading.value) == spec.open_when
            self._update_force()

    async def _camera_loop(self, ctx: Context) -> None:
        generation = 0
        while True:
            generation, link = await self.host.link(self.config.id, generation)
            reason = await self._run_link(ctx, link)
            if self.failure is not None:
                await ctx.devices.set_availability(self.config.id, False, reason=self.failure)
                log.error("lift %s: %s; the camera pipeline stays stopped", self.config.id, self.failure)
                await asyncio.Event().wait()  # a config problem: commands and timers keep working
            await self._set_camera(False, reason)

    async def _run_link(self, ctx: Context, link: CameraLink) -> str:
        """Read this lift's messages from one camera process until it ends (or the lift cannot work)."""
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[WorkerMessage | None] = asyncio.Queue()
        self._worker = link
        fd: int | None = None
        try:
            self._update_force()
            fd = link.conn.fileno()
            loop.add_reader(fd, drain_pipe, link.conn, inbox, loop, fd)
            while True:
                msg = await inbox.get()
                if msg is None:
                    return "the camera process exited"
                if isinstance(msg, FrameReport):
                    await self._on_report(ctx, msg)
                elif isinstance(msg, CameraStatus):
                    await self._set_camera(msg.online, msg.reason)
                elif isinstance(msg, DetectorStatus):
                    await self._set_camera(msg.available, msg.reason)
                elif isinstance(msg, WorkerReady):
                    log.info("lift %s: camera process ready (%s, %s)", self.config.id, msg.model, msg.backend)
                elif isinstance(msg, WorkerFailed):
                    if msg.fatal:
                        self.failure = msg.reason
                        return msg.reason
                    await self._set_camera(False, msg.reason)  # the camera process starts it again
        finally:
            if fd is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(fd)
            self._worker = None

    async def _set_camera(self, online: bool, reason: str) -> None:
        if self._ctx is None or online == self.camera_online:
            return
        self.camera_online = online
        log.log(logging.INFO if online else logging.WARNING, "lift %s camera: %s", self.config.id, reason)
        await self._ctx.devices.set_availability(self.config.id, online, reason=reason)

    async def _on_report(self, ctx: Context, report: FrameReport) -> None:
        self._frames.append(report.t)
        self.counts["frames"] += 1
        self.counts["detector_runs"] += report.ran_detector
        self.counts["sightings"] += len(report.sightings)
        self.counts["other_objects"] += len(report.others)
        if len(self._frames) >= 2 and self._frames[-1] > self._frames[0]:
            fps = (len(self._frames) - 1) / (self._frames[-1] - self._frames[0])
            ctx.metrics.camera_fps.labels(camera=self.config.id).set(round(fps, 2))
        sightings = [Sighting(d.label, d.score, d.box, report.snapshot) for d in report.sightings]
        await self.advance(report.t, sightings)

    def _update_force(self) -> None:
        if self._worker is not None:
            self._worker.force.value = int(self.door_open or self.state.phase is not Phase.IDLE)
            self._worker.flags.door_open.value = int(self.door_open)

    # -- decisions -----------------------------------------------------------------------------------

    async def advance(self, t: float, sightings: list[Sighting] | None) -> None:
        """One step of the state machine (a frame, or a timer tick when ``sightings`` is None)."""
        async with self._lock:
            before = self.state
            self.state, actions = step(before, t, sightings or [], self.config.confirm)
            for action in actions:
                await self._carry_out(action, before)
            if self.state.phase is Phase.IDLE:
                self._override = False
            if Action.RELEASE_UNCONFIRMED in actions:
                reason = "unconfirmed"
            elif Action.END in actions:
                reason = "ebike_left"
            else:
                reason = "command_expired"
            await self._sync_door(t, reason)
            await self._renew_pulse(t)
            self._update_force()

    async def _carry_out(self, action: Action, before: State) -> None:
        ctx = self._ctx
        assert ctx is not None
        lift = self.config.id
        if action is Action.RELEASE_UNCONFIRMED:
            best = before.best
            await ctx.emit(
                Event(
                    "lift.hold_released_unconfirmed",
                    lift,
                    Severity.INFO,
                    details={
                        "sightings": before.sightings,
                        "window_s": self.config.confirm.window_s,
                        "ignore_s": self.config.confirm.ignore_s,
                        **(_describe(best) if best else {}),
                    },
                )
            )
        elif action is Action.CONFIRM:
            best = self.state.best
            assert best is not None
            await ctx.alarms.update(
                lift,
                ALARM_KIND,
                active=True,
                severity=self.config.severity,
                details={"sightings": self.state.sightings, **_describe(best)},
                snapshot=best.snapshot,
            )
            await self._set_voice(True)
        elif action is Action.END:
            await ctx.alarms.update(lift, ALARM_KIND, active=False)
            await self._set_voice(False)

    async def _sync_door(self, now: float, release_reason: str) -> None:
        """Drive the door-hold output from the automatic hold and the command hold."""
        automatic = self.state.phase is not Phase.IDLE and not self._override
        by_command = self._command_until > now
        wanted = automatic or by_command
        if wanted == self.door_held:
            return
        await self._write_door(wanted, now)
        ctx = self._ctx
        assert ctx is not None
        self.door_held = wanted
        if wanted:
            self._held_since = now
            reason = self.state.phase.value if automatic else "command"
            await ctx.emit(Event("lift.hold_started", self.config.id, Severity.INFO, details={"reason": reason}))
        elif release_reason != "unconfirmed":  # that release has its own event
            held = round(now - self._held_since, 3)
            await ctx.emit(
                Event(
                    "lift.hold_ended", self.config.id, Severity.INFO, details={"reason": release_reason, "held_s": held}
                )
            )

    async def _set_voice(self, on: bool) -> None:
        if on != self.voice_on:
            await self._write_output(self.config.voice, on, "voice warning")
            self.voice_on = on

    async def _write_door(self, on: bool, now: float) -> None:
        pulse = self.config.hold_pulse_s
        if on and pulse is not None:
            self._pulsed_at = now
            await self._write_output(self.config.door_hold, on, "door hold", action="pulse", seconds=pulse)
        else:
            await self._write_output(self.config.door_hold, on, "door hold")

    async def _renew_pulse(self, now: float) -> None:
        pulse = self.config.hold_pulse_s
        if self.door_held and pulse is not None and now - self._pulsed_at >= pulse / 2:
            await self._write_door(True, now)

    async def _write_output(
        self, output: RelayOutput | None, on: bool, what: str, *, action: str = "set", seconds: float = 0.0
    ) -> None:
        if output is None or self._ctx is None:
            return
        args: dict[str, object] = {"channel": output.channel}
        args.update({"seconds": seconds} if action == "pulse" else {"on": on})
        try:
            await self._ctx.io.write(output.device, action, args)
        except Exception as exc:  # the relay driver's own error types; the decision stands, the log says why
            log.warning(
                "lift %s: %s %s failed on %s: %s", self.config.id, what, "on" if on else "off", output.device, exc
            )

    async def _shutdown_outputs(self) -> None:
        await self._write_output(self.config.door_hold, False, "door hold")
        await self._write_output(self.config.voice, False, "voice warning")
        self.door_held = self.voice_on = False

    # -- commands ------------------------------------------------------------------------------------

    async def hold_for(self, seconds: float) -> float:
        async with self._lock:
            now = self._clock()
            self._command_until = max(self._command_until, now + seconds)
            self._override = False
            await self._sync_door(now, "command")
            return self._command_until - now

    async def release(self) -> None:
        async with self._lock:
            now = self._clock()
            self._command_until = 0.0
            if self.state.phase is not Phase.IDLE:
                self._override = True
            await self._sync_door(now, "command")


def _describe(best: Sighting) -> dict[str, object]:
    return {"class": best.label, "score": round(best.score, 3), "box": [round(v, 1) for v in best.box]}


class ReleaseDoorArgs(Args):
    """``release_door``: end a door hold."""

    lift: Text | None = Field(default=None, description="lift id (default: the command's target)")


class HoldDoorArgs(ReleaseDoorArgs):
    """``hold_door``: keep the lift door open (up to the lift's ``max_command_hold_s``)."""

    seconds: Number = Field(gt=0, description="how long to hold the door")


class LiftCommands:
    """``hold_door`` {lift, seconds} and ``release_door`` {lift} for every configured lift."""

    name = "lift:commands"

    def __init__(self, lifts: dict[str, LiftCamera]) -> None:
        self.lifts = lifts

    async def run(self, ctx: Context) -> None:
        ctx.commands.register("hold_door", self.hold_door, args=HoldDoorArgs)
        ctx.commands.register("release_door", self.release_door, args=ReleaseDoorArgs)
        await asyncio.Event().wait()

    def _lift(self, cmd: Command) -> LiftCamera:
        lift_id = cmd.params.lift or cmd.target
        lift = self.lifts.get(lift_id)
        if lift is None:
            raise CommandError(f"unknown lift {lift_id!r}; configured: {sorted(self.lifts)}")
        if lift.config.door_hold is None:
            raise CommandError(f"lift {lift_id!r} has no door_hold output configured")
        return lift

    async def hold_door(self, cmd: Command) -> CommandResult:
        lift = self._lift(cmd)
        seconds = cmd.params.seconds
        limit = lift.config.max_command_hold_s
        if seconds > limit:  # the lift's own limit: worded as the dispatcher words every bad argument
            raise CommandError(f"args.seconds: Input should be less than or equal to {limit:g}")
        remaining = await lift.hold_for(seconds)
        return CommandResult(cmd.request_id, CommandStatus.DONE, data={"lift": lift.config.id, "held_s": remaining})

    async def release_door(self, cmd: Command) -> CommandResult:
        lift = self._lift(cmd)
        await lift.release()
        return CommandResult(cmd.request_id, CommandStatus.DONE, data={"lift": lift.config.id})


def check_models(config: GatewayConfig) -> None:
    """Fail fast at start: every lift's model is in the manifest and its file is there, unaltered."""
    for lift in config.lifts:
        try:
            model_file(load_manifest(lift.manifest).get(lift.model), lift.model_dir)
        except ModelError as exc:
            raise ModelError(f"lifts[{lift.id}]: {exc}") from exc


def check_references(config: GatewayConfig) -> None:
    """Lift ids are unique and every relay / input a lift names is a configured device."""
    seen: set[str] = set()
    devices = {d.id for d in config.devices}
    for lift in config.lifts:
        if lift.id in seen:
            raise ValueError(f"lifts: lift id {lift.id!r} is used twice")
        seen.add(lift.id)
        for what, ref in (("door_hold", lift.door_hold), ("door_state", lift.door_state), ("voice", lift.voice)):
            if ref is not None and ref.device not in devices:
                raise ValueError(f"lifts[{lift.id}].{what}: device {ref.device!r} is not configured under devices")


def build_components(config: GatewayConfig) -> list[Component]:
    if not config.lifts:
        return []
    check_references(config)
    check_models(config)
    groups: dict[DetectorKey, list[LiftConfig]] = {}
    for lift in config.lifts:
        groups.setdefault(detector_key(lift), []).append(lift)
    detectors = [SharedDetector(lifts) for lifts in groups.values()]
    by_lift = {lift_id: d for d in detectors for lift_id in d.lift_ids}
    processes: dict[str, list[LiftConfig]] = {}
    for lift in config.lifts:
        processes.setdefault(lift.camera_process, []).append(lift)
    hosts = [CameraHost(lifts, {lift.id: by_lift[lift.id] for lift in lifts}) for lifts in processes.values()]
    host_of = {lift.id: host for host in hosts for lift in host.lifts}
    cameras = {lift.id: LiftCamera(lift, by_lift[lift.id], host_of[lift.id]) for lift in config.lifts}
    return [*detectors, *hosts, LiftCommands(cameras), *cameras.values()]
