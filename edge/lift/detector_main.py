"""The detector process itself (the child side of ``edge.lift.detector_process``): load the model, answer
the frame slots of its cameras, oldest request first, in batches where the network takes them. Kept apart
from the gateway-side component so that the process imports only what it runs.

A network runs one inference at a time (OpenCV DNN's ``Net`` is not thread-safe), so the process holds
one copy of the network per inference thread (a ``Worker``). It starts with one; with ``networks: auto``
it adds one, up to the cores the process may use, while every worker stays busy (``Scaler``), so a
compound with many cameras gets the second core and a small one does not pay for a second network. The
workers take requests from ``Requests``, which hands each waiting request to one worker, oldest first, so
no camera waits behind the others' frames for long.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from drivers.detectors import Detector, ModelError, load_detector
from edge.lift.config import LiftConfig
from edge.lift.frame_slot import Found, FrameSlot, SlotRef
from edge.lift.process_setup import set_process_name, tune_malloc

log = logging.getLogger(__name__)

Flag = Any  # multiprocessing RawValue("b")
Count = Any  # multiprocessing RawValue("i")
IDLE_PAUSE_S = 0.01  # between polls when nothing came for a while
BUSY_PAUSE_S = 0.002  # between polls right after a request
BUSY_FOR_S = 0.5
SCALE_WINDOW_S = 2.0  # busy over this long ...
SCALE_BUSY = 0.85  # ... at least this share of the time, every worker: add a worker


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def most_networks(config: LiftConfig) -> int:
    """How many copies of the network (inference threads) the detector process may hold."""
    return usable_cores() if config.networks == "auto" else config.networks


def open_detector(config: LiftConfig, *, max_batch: int = 1) -> Detector:
    """The lift's model as its config names it (sha256 and outputs checked)."""
    return load_detector(
        config.model,
        manifest=config.manifest,
        model_dir=config.model_dir,
        backend=config.backend,
        threads=config.threads,
        max_batch=max_batch,
    )


def detector_main(config_json: str, slots: Sequence[SlotRef], stop: Flag, networks: Count) -> None:
    """Entry point of the detector process: answer the slots until ``stop`` is set; ``networks`` tells the
    gateway how many copies of the network answer."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent = os.getppid()
    config = LiftConfig.model_validate_json(config_json)
    set_process_name(f"det-{config.model}")
    tune_malloc()
    attached = [FrameSlot.attach(s.name, s.max_width, s.max_height) for s in slots]

    def load() -> Detector:
        return open_detector(config, max_batch=len(attached))

    try:
        try:
            first = load()
        except ModelError as exc:
            for slot in attached:
                slot.fail(str(exc))
            while not stop.value and os.getppid() == parent:
                time.sleep(0.2)
            return
        for slot in attached:
            slot.set_ready()
        serve(first, attached, stop, parent, load=load, most=most_networks(config), networks=networks)
    finally:
        for slot in attached:
            slot.close()


@dataclass(frozen=True, slots=True)
class Request:
    index: int  # of the slot
    seq: int
    image: Any
    regions: list[tuple[int, int, int, int]] | None
    score: float
    iou: float


class Requests:
    """The slots' waiting requests, each handed to one worker, oldest first (by when the camera asked)."""

    def __init__(self, slots: Sequence[FrameSlot]) -> None:
        self.slots = list(slots)
        self._lock = threading.Lock()
        self._taken: set[tuple[int, int]] = set()  # (slot index, seq) being worked on
        self.last_request = 0.0

    def take(self, workers: int, max_batch: int) -> list[Request]:
        """The oldest waiting requests for one worker: its share of them (the waiting ones spread over
        ``workers``), at most ``max_batch``; [] if none waits."""
        with self._lock:
            waiting = []
            for index, slot in enumerate(self.slots):
                seq = slot.pending()
                if seq and (index, seq) not in self._taken:
                    waiting.append((slot.asked_ns(), index, seq))
            if not waiting:
                return []
            self.last_request = time.monotonic()
            waiting.sort()
            share = min(max_batch, max(1, math.ceil(len(waiting) / workers)))
            chosen = []
            for _, index, seq in waiting[:share]:
                self._taken.add((index, seq))
                image, regions, score, iou = self.slots[index].take()
                chosen.append(Request(index, seq, image, regions, score, iou))
            return chosen

    def answer(self, request: Request, found: list[Found]) -> None:
        """Write the answer, unless the camera has asked again meanwhile (it gave up on this one)."""
        with self._lock:
            slot = self.slots[request.index]
            if slot.pending() == request.seq:
                slot.reply(request.seq, found)
            self._taken.discard((request.index, request.seq))

    def idle_pause(self) -> float:
        return BUSY_PAUSE_S if time.monotonic() - self.last_request < BUSY_FOR_S else IDLE_PAUSE_S


@dataclass(slots=True)
class Worker:
    """One inference thread with its own copy of the network."""

    number: int
    detector: Any = None
    busy_s: float = 0.0  # time spent inferring so far
    thread: threading.Thread | None = None

    def run(self, requests: Requests, workers: Callable[[], int], stop: threading.Event) -> None:
        while not stop.is_set():
            batch = requests.take(workers(), self.detector.max_batch)
            if not batch:
                time.sleep(requests.idle_pause())
                continue
            start = time.monotonic()
            for group in _by_thresholds(batch):
                for request, found in zip(group, self._detect(group), strict=True):
                    requests.answer(request, found)
            self.busy_s += time.monotonic() - start

    def _detect(self, group: list[Request]) -> list[list[Found]]:
        score, iou = group[0].score, group[0].iou
        try:
            results = self.detector.detect_many(
                [(r.image, r.regions) for r in group], score_threshold=score, iou_threshold=iou
            )
        except (ModelError, ValueError) as exc:  # one bad frame must not stop the other cameras
            log.warning("detector %s: %s", self.detector.spec.name, exc)
            return [[] for _ in group]
        return [[Found(d.class_id, d.score, d.box) for d in found] for found in results]


def _by_thresholds(batch: list[Request]) -> list[list[Request]]:
    groups: dict[tuple[float, float], list[Request]] = {}
    for request in batch:
        groups.setdefault((request.score, request.iou), []).append(request)
    return list(groups.values())


class Scaler:
    """Adds a worker while every worker has been busy for ``SCALE_WINDOW_S``, up to ``most``."""

    def __init__(self, most: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.most = most
        self._clock = clock
        self._since = clock()
        self._busy_then = 0.0

    def wants_more(self, workers: Sequence[Worker]) -> bool:
        now = self._clock()
        if len(workers) >= self.most or now - self._since < SCALE_WINDOW_S:
            return False
        busy = sum(w.busy_s for w in workers)
        share = (busy - self._busy_then) / ((now - self._since) * len(workers))
        self._since, self._busy_then = now, busy
        return share >= SCALE_BUSY

    def restart_window(self, workers: Sequence[Worker]) -> None:
        """Measure afresh (after a worker was added)."""
        self._since, self._busy_then = self._clock(), sum(w.busy_s for w in workers)


def serve(
    detector: Any,
    slots: Sequence[FrameSlot],
    stop: Flag,
    parent: int,
    *,
    load: Callable[[], Any] | None = None,
    most: int = 1,
    networks: Count = None,
) -> None:
    """Answer the slots until ``stop`` is set or the gateway (``parent``) is gone; with ``load``, add
    networks (up to ``most``) while the ones there are stay busy, and count them in ``networks``."""
    requests = Requests(slots)
    halt = threading.Event()
    workers: list[Worker] = []
    scaler = Scaler(most if load is not None else 1)

    def start(worker: Worker) -> None:
        workers.append(worker)
        if networks is not None:
            networks.value = len(workers)
        worker.thread = threading.Thread(
            target=worker.run, args=(requests, lambda: len(workers), halt), name=f"infer-{worker.number}", daemon=True
        )
        worker.thread.start()

    start(Worker(1, detector))
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-network")
    loading: Future[Any] | None = None
    try:
        while not stop.value:
            time.sleep(0.25)
            if os.getppid() != parent:
                return  # the gateway is gone (killed): do not outlive it
            _check_alive(workers)
            if loading is None:
                if load is not None and scaler.wants_more(workers):
                    log.info(
                        "detector %s: every inference thread (%d) busy; loading another copy of the network",
                        detector.spec.name,
                        len(workers),
                    )
                    loading = loader.submit(load)
            elif loading.done():
                try:
                    start(Worker(len(workers) + 1, loading.result()))
                    log.info("detector %s: inference thread %d started", detector.spec.name, len(workers))
                except ModelError as exc:  # the first copy loaded, so this is unlikely: go on with what there is
                    log.warning(
                        "detector %s: another copy of the network could not be loaded: %s", detector.spec.name, exc
                    )
                    scaler.most = len(workers)
                loading = None
                scaler.restart_window(workers)
    finally:
        halt.set()
        loader.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            if worker.thread is not None:
                worker.thread.join(5)


def _check_alive(workers: Sequence[Worker]) -> None:
    """An inference thread that died (a bug: its traceback is in the log) ends the process, which the
    gateway then starts again, rather than leave its cameras unanswered."""
    for worker in workers:
        if worker.thread is not None and not worker.thread.is_alive():
            raise RuntimeError(f"inference thread {worker.number} stopped; the detector process ends to be restarted")
