"""The lift camera process: several lift cameras, one thread each, in one process (multiprocessing spawn).

A camera thread captures, gates motion and asks the detector process of its model (``SharedDetector``)
through its frame slot; OpenCV's decoding and image work release the interpreter lock, so the threads run
side by side, and OpenCV, NumPy and the interpreter are in memory once rather than once per camera (about
70 MB of RSS each). A camera that fails (its stream, a recording that ended) is restarted on its thread with
back-off; one that cannot work (its model) stays stopped; neither touches the other cameras. If the whole
process dies, ``CameraHost`` (the gateway component) starts it again with fresh links, and each
``LiftCamera`` picks up its new link. Lifts share a camera process when they name the same
``camera_process`` (default: all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from edge.core.runtime import Context
from edge.lift.camera_process import CameraSpec, host_main
from edge.lift.config import LiftConfig
from edge.lift.detector_process import SharedDetector
from edge.lift.pipeline import CameraFlags, Flag
from edge.lift.process_setup import start_without_main

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CameraLink:
    """The gateway's end of one lift's link with the current camera process."""

    conn: Connection
    flags: CameraFlags
    host: CameraHost

    @property
    def pid(self) -> int | None:
        return self.host.pid

    @property
    def force(self) -> Flag:
        return self.flags.force


def with_capture_dir(lift: LiftConfig, data_dir: Path) -> LiftConfig:
    """The lift's config as its camera gets it: the capture folder filled in."""
    if lift.capture.dir is not None:
        return lift
    return lift.model_copy(update={"capture": lift.capture.model_copy(update={"dir": data_dir / "lift-capture"})})


class CameraHost:
    """A camera process for some lifts (a gateway component): starts it, restarts it when it dies."""

    def __init__(self, lifts: Sequence[LiftConfig], detectors: dict[str, SharedDetector]) -> None:
        if not lifts:
            raise ValueError("a camera process needs at least one lift")
        self.lifts = list(lifts)
        self.name = f"lift-cameras:{self.lifts[0].camera_process}"
        self.detectors = detectors
        self.process: mp.process.BaseProcess | None = None
        self.restarts = 0
        self.generation = 0
        self._links: dict[str, CameraLink] = {}
        self._changed = asyncio.Condition()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.is_alive() else None

    async def link(self, lift_id: str, seen_generation: int) -> tuple[int, CameraLink]:
        """The link of ``lift_id`` in the first camera process newer than ``seen_generation``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.generation > seen_generation and lift_id in self._links)
            return self.generation, self._links[lift_id]

    async def run(self, ctx: Context) -> None:
        delay = 0.5
        while True:
            started = time.monotonic()
            code = await self._run_once(ctx.data_dir)
            self.restarts += 1
            log.error("%s: the camera process exited (code %s); restarting in %.1f s", self.name, code, delay)
            await asyncio.sleep(delay)
            delay = 0.5 if time.monotonic() - started > 60 else min(delay * 2, 10.0)

    async def _run_once(self, data_dir: Path) -> int | None:
        for detector in {id(d): d for d in self.detectors.values()}.values():
            await detector.ready.wait()
        ctx = mp.get_context("spawn")
        stop = ctx.RawValue("b", 0)
        specs, links, children = [], {}, []
        for lift in self.lifts:
            parent, child = ctx.Pipe(duplex=False)
            flags = CameraFlags(ctx)
            slot = self.detectors[lift.id].slot_ref(lift.id)
            specs.append(CameraSpec(with_capture_dir(lift, data_dir).model_dump_json(), slot, child, flags))
            links[lift.id] = CameraLink(parent, flags, self)
            children.append(child)
        process = ctx.Process(
            target=host_main, args=(f"cams-{self.lifts[0].camera_process}", specs, stop), name=self.name, daemon=True
        )
        self.process = process
        try:
            await asyncio.to_thread(start_without_main, process)
            for child in children:
                child.close()  # only the camera process writes: EOF here once it exits
            async with self._changed:
                self._links = links
                self.generation += 1
                self._changed.notify_all()
            loop = asyncio.get_running_loop()
            ended = asyncio.Event()
            loop.add_reader(process.sentinel, ended.set)
            try:
                await ended.wait()
            finally:
                loop.remove_reader(process.sentinel)
            await asyncio.to_thread(process.join, 1)
            return process.exitcode
        finally:
            if process.is_alive():
                stop.value = 1
                await asyncio.shield(asyncio.to_thread(_stop_process, process))
            for link in links.values():
                with contextlib.suppress(OSError):
                    link.conn.close()
            self.process = None


def _stop_process(process: mp.process.BaseProcess) -> None:
    process.join(5)
    if process.is_alive():
        process.terminate()
        process.join(2)
