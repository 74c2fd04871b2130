"""The lift camera process itself (the child side of ``edge.lift.camera_host``): one supervising thread per
lift camera. Kept apart from the gateway-side component so that the process imports only what it runs."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import cv2

from edge.lift.config import LiftConfig
from edge.lift.frame_slot import SlotRef
from edge.lift.pipeline import CameraFlags, Flag, run_camera
from edge.lift.process_setup import set_process_name, tune_malloc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """What the camera process gets for one lift (picklable at spawn)."""

    config_json: str
    slot: SlotRef
    conn: Connection
    flags: CameraFlags


def host_main(name: str, cameras: Sequence[CameraSpec], stop: Flag) -> None:
    """Entry point of the camera process: one supervising thread per camera until ``stop``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    set_process_name(name)
    tune_malloc()
    cv2.setNumThreads(1)  # resize, blur and JPEG on the camera's own thread: no pool, no per-thread heaps
    threads = [
        threading.Thread(target=_supervise, args=(spec, stop), name=f"camera {i}", daemon=True)
        for i, spec in enumerate(cameras)
    ]
    for thread in threads:
        thread.start()
    parent = os.getppid()
    while not stop.value:  # cameras that cannot work (their model) end their threads; the process stays
        if os.getppid() != parent:
            stop.value = 1  # the gateway is gone (killed): the cameras stop, the process ends
            break
        time.sleep(0.2)
    for thread in threads:
        thread.join(5)


def _supervise(spec: CameraSpec, stop: Flag) -> None:
    config = LiftConfig.model_validate_json(spec.config_json)
    delay = 1.0
    while not (stop.value or spec.flags.stop.value):
        started = time.monotonic()
        try:
            if run_camera(config, spec.slot, spec.conn, spec.flags, stop):
                return  # a model problem: the gateway keeps the lift stopped
        except Exception:  # one camera's bug must not end the other cameras' threads
            log.exception("lift %s camera thread failed; restarting it", config.id)
        delay = 1.0 if time.monotonic() - started > 60 else min(delay * 2, config.reconnect_max_s)
        until = time.monotonic() + delay
        while time.monotonic() < until and not (stop.value or spec.flags.stop.value):
            time.sleep(0.05)
