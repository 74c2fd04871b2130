"""The detector process itself (the child side of ``edge.lift.detector_process``): load the model once,
answer the frame slots of its cameras, in batches where the network takes them. Kept apart from the
gateway-side component so that the process imports only what it runs."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from drivers.detectors import ModelError, load_detector
from edge.lift.config import LiftConfig
from edge.lift.frame_slot import Found, FrameSlot, SlotRef
from edge.lift.process_setup import set_process_name, tune_malloc

log = logging.getLogger(__name__)

Flag = Any  # multiprocessing RawValue("b")
IDLE_PAUSE_S = 0.01  # between polls when nothing came for a while
BUSY_PAUSE_S = 0.002  # between polls right after a request
BUSY_FOR_S = 0.5


def detector_main(config_json: str, slots: Sequence[SlotRef], stop: Flag) -> None:
    """Entry point of the detector process: answer the slots until ``stop`` is set."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent = os.getppid()
    config = LiftConfig.model_validate_json(config_json)
    set_process_name(f"det-{config.model}")
    tune_malloc()
    attached = [FrameSlot.attach(s.name, s.max_width, s.max_height) for s in slots]
    try:
        try:
            detector = load_detector(
                config.model,
                manifest=config.manifest,
                model_dir=config.model_dir,
                backend=config.backend,
                threads=config.threads,
                max_batch=len(attached),
            )
        except ModelError as exc:
            for slot in attached:
                slot.fail(str(exc))
            while not stop.value and os.getppid() == parent:
                time.sleep(0.2)
            return
        for slot in attached:
            slot.set_ready()
        serve(detector, attached, stop, parent)
    finally:
        for slot in attached:
            slot.close()


def serve(detector: Any, slots: Sequence[FrameSlot], stop: Flag, parent: int) -> None:
    """Answer the slots until ``stop`` is set or the gateway (``parent``) is gone."""
    last = 0.0
    checked = time.monotonic()
    while not stop.value:
        if time.monotonic() - checked > 1.0:
            if os.getppid() != parent:
                return  # the gateway is gone (killed): do not outlive it
            checked = time.monotonic()
        waiting = [(slot, seq) for slot in slots if (seq := slot.pending())]
        if not waiting:
            time.sleep(BUSY_PAUSE_S if time.monotonic() - last < BUSY_FOR_S else IDLE_PAUSE_S)
            continue
        last = time.monotonic()
        taken = [(slot, seq, slot.take()) for slot, seq in waiting]
        groups: dict[tuple[float, float], list[tuple[FrameSlot, int, Any]]] = {}
        for slot, seq, (image, regions, score, iou) in taken:
            groups.setdefault((score, iou), []).append((slot, seq, (image, regions)))
        for (score, iou), items in groups.items():
            try:
                results = detector.detect_many([item for _, _, item in items], score_threshold=score, iou_threshold=iou)
            except (ModelError, ValueError) as exc:  # one bad frame must not stop the other cameras
                log.warning("detector %s: %s", detector.spec.name, exc)
                results = [[] for _ in items]
            for (slot, seq, _), found in zip(items, results, strict=True):
                slot.reply(seq, [Found(d.class_id, d.score, d.box) for d in found])
