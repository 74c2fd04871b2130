"""One detector process per model, shared by every lift camera that uses it (as NVRs such as Frigate do).

Camera processes capture and gate motion; when a frame needs the detector they put it into their frame
slot (``edge.lift.frame_slot``) and wait for the answer. The detector process holds the network once,
polls every slot of its cameras, runs what is waiting together (one batch where the network takes a batch,
``Detector.detect_many``) and answers each slot. ``SharedDetector`` is the gateway component that owns the
slots and runs the process, restarting it when it dies; the cameras keep running meanwhile (their frames
are not analysed for that moment and they say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import time
from collections.abc import Sequence
from typing import Any

from edge.core.runtime import Context
from edge.lift.config import LiftConfig
from edge.lift.detector_main import detector_main
from edge.lift.frame_slot import FrameSlot, SlotRef
from edge.lift.process_setup import start_without_main

log = logging.getLogger(__name__)

Flag = Any  # multiprocessing RawValue("b")


DetectorKey = tuple[str, str, str, str, int, int | str]


def detector_key(lift: LiftConfig) -> DetectorKey:
    """Lifts with the same key share one detector process."""
    return (lift.model, str(lift.manifest or ""), str(lift.model_dir or ""), lift.backend, lift.threads, lift.networks)


def slot_size(lift: LiftConfig) -> tuple[int, int]:
    """The largest frame a lift's camera process sends: decode_width wide, up to twice as tall."""
    return lift.decode_width, lift.decode_width * 2


class SharedDetector:
    """The detector process of one model and the frame slots of the lifts that use it (a gateway component)."""

    def __init__(self, lifts: Sequence[LiftConfig]) -> None:
        if not lifts:
            raise ValueError("a shared detector needs at least one lift")
        self.config = lifts[0]
        self.name = f"lift-detector:{self.config.model}"
        self.lift_ids = [lift.id for lift in lifts]
        self._sizes = {lift.id: slot_size(lift) for lift in lifts}
        self.slots: dict[str, FrameSlot] = {}
        self.ready = asyncio.Event()
        self.process: mp.process.BaseProcess | None = None
        self.restarts = 0
        self._stop: Flag = None
        self._networks: Any = None

    @property
    def networks(self) -> int:
        """How many copies of the network answer in the detector process now (0: not running)."""
        return int(self._networks.value) if self._networks is not None and self.pid else 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.is_alive() else None

    def slot_ref(self, lift_id: str) -> SlotRef:
        slot = self.slots[lift_id]
        return SlotRef(lift_id, slot.name, slot.max_width, slot.max_height)

    def open_slots(self) -> None:
        if not self.slots:
            self.slots = {lift: FrameSlot.create(*self._sizes[lift]) for lift in self.lift_ids}
        self.ready.set()

    async def run(self, ctx: Context | None = None) -> None:
        self.open_slots()
        delay = 0.5
        try:
            while True:
                started = time.monotonic()
                code = await self._run_once()
                self.restarts += 1
                log.error("%s: the detector process exited (code %s); restarting in %.1f s", self.name, code, delay)
                await asyncio.sleep(delay)
                delay = 0.5 if time.monotonic() - started > 60 else min(delay * 2, 10.0)
        finally:
            for slot in self.slots.values():
                with contextlib.suppress(Exception):
                    slot.close()
            self.slots = {}
            self.ready.clear()

    async def _run_once(self) -> int | None:
        ctx = mp.get_context("spawn")
        stop, networks = ctx.RawValue("b", 0), ctx.RawValue("i", 0)
        refs = [self.slot_ref(lift) for lift in self.lift_ids]
        process = ctx.Process(
            target=detector_main,
            args=(self.config.model_dump_json(), refs, stop, networks),
            name=self.name,
            daemon=True,
        )
        self._stop, self._networks, self.process = stop, networks, process
        await asyncio.to_thread(start_without_main, process)
        try:
            loop = asyncio.get_running_loop()
            ended = asyncio.Event()
            loop.add_reader(process.sentinel, ended.set)
            try:
                await ended.wait()
            finally:
                loop.remove_reader(process.sentinel)
            process.join(1)
            return process.exitcode
        finally:
            if process.is_alive():
                stop.value = 1
                await asyncio.shield(asyncio.to_thread(_stop_process, process))
            self.process = None


def _stop_process(process: mp.process.BaseProcess) -> None:
    process.join(5)
    if process.is_alive():
        process.terminate()
        process.join(2)
