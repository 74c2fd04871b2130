"""The detector process's inference threads: each with its own copy of the network, requests handed out
oldest first and once each, a stale answer dropped, another copy of the network loaded while every thread
stays busy. Real frame slots in shared memory, the real YOLOX-nano network, real threads."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.detectors import Detector, load_detector
from edge.config import ConfigError, parse_config
from edge.lift.detector_main import SCALE_BUSY, SCALE_WINDOW_S, Requests, Scaler, Worker, most_networks, serve
from edge.lift.frame_slot import DetectorUnavailable, Found, FrameSlot
from tests.lift.conftest import read_image
from tests.support import wait_for

pytestmark = pytest.mark.vision


@pytest.fixture
def slots() -> Iterator[list[FrameSlot]]:
    made = [FrameSlot.create(640, 1280) for _ in range(6)]
    try:
        yield made
    finally:
        for slot in made:
            slot.close()


def _frame(value: int) -> np.ndarray:
    return np.full((48, 64, 3), value, np.uint8)


def test_requests_are_handed_out_oldest_first_and_once_each(slots: list[FrameSlot]) -> None:
    requests = Requests(slots[:3])
    # the cameras ask in the order 2, 0, 1 (each writes its frame with the time it asked)
    for index in (2, 0, 1):
        slots[index].ask(_frame(10 * index + 1), None, 0.4, 0.45)
    first = requests.take(workers=1, max_batch=1)
    assert [r.index for r in first] == [2]
    assert int(first[0].image[0, 0, 0]) == 21
    # a second worker gets the next oldest, not the one being worked on
    second = requests.take(workers=2, max_batch=4)
    assert [r.index for r in second] == [0]  # its share: half of the two still waiting
    third = requests.take(workers=2, max_batch=4)
    assert [r.index for r in third] == [1]
    assert requests.take(workers=2, max_batch=4) == []  # nothing is handed out twice
    requests.answer(first[0], [Found(3, 0.9, (1.0, 2.0, 3.0, 4.0))])
    assert slots[2].answer(first[0].seq, timeout=0.1) == [Found(3, pytest.approx(0.9), (1.0, 2.0, 3.0, 4.0))]
    assert slots[0].pending() and slots[1].pending()  # the others still wait for their answers


def test_a_network_that_takes_batches_gets_its_share_of_the_waiting(slots: list[FrameSlot]) -> None:
    requests = Requests(slots)
    for index, slot in enumerate(slots):
        slot.ask(_frame(index), None, 0.4, 0.45)
    assert len(requests.take(workers=2, max_batch=8)) == 3  # 6 waiting, 2 workers: 3 each
    assert len(requests.take(workers=2, max_batch=2)) == 2  # never more than the network's batch
    assert len(requests.take(workers=1, max_batch=8)) == 1  # what is left


def test_an_answer_the_camera_gave_up_on_is_dropped(slots: list[FrameSlot]) -> None:
    slot = slots[0]
    requests = Requests([slot])
    old = slot.ask(_frame(1), None, 0.4, 0.45)
    (taken,) = requests.take(workers=1, max_batch=1)
    with pytest.raises(DetectorUnavailable):
        slot.answer(old, timeout=0.01)  # the camera gives up and sends its next frame
    new = slot.ask(_frame(2), None, 0.4, 0.45)
    requests.answer(taken, [Found(3, 0.9, (1.0, 2.0, 3.0, 4.0))])  # the late answer to the old frame
    assert slot.pending() == new  # still waiting: the old answer did not count as the new one's
    (again,) = requests.take(workers=1, max_batch=1)
    assert again.seq == new and int(again.image[0, 0, 0]) == 2
    requests.answer(again, [])
    assert slot.answer(new, timeout=0.1) == []


class _Workers(list[Worker]):
    def busy(self, seconds: float) -> None:
        for worker in self:
            worker.busy_s += seconds


def test_the_scaler_adds_a_network_only_while_every_one_is_busy() -> None:
    now = [0.0]
    scaler = Scaler(most=2, clock=lambda: now[0])
    workers = _Workers([Worker(1)])
    window = SCALE_WINDOW_S
    now[0] += window / 2
    workers.busy(window / 2)
    assert not scaler.wants_more(workers)  # not a whole window yet
    now[0] += window / 2
    workers.busy(window / 2 * (SCALE_BUSY - 0.2))
    assert not scaler.wants_more(workers)  # busy, but not enough of the window
    now[0] += window
    workers.busy(window * (SCALE_BUSY + 0.05))
    assert scaler.wants_more(workers)
    workers.append(Worker(2))
    scaler.restart_window(workers)
    now[0] += window
    workers.busy(window)
    assert not scaler.wants_more(workers)  # at most two
    fixed = Scaler(most=1, clock=lambda: now[0])
    now[0] += window
    workers[0].busy_s += window
    assert not fixed.wants_more(workers[:1])


class _Camera(threading.Thread):
    """A camera that asks again as soon as it has its answer, as fast as the detector answers."""

    def __init__(self, slot: FrameSlot, image: np.ndarray, halt: threading.Event) -> None:
        super().__init__(daemon=True)
        self.slot, self.image, self.halt = slot, image, halt
        self.answers: list[list[Found]] = []

    def run(self) -> None:
        while not self.halt.is_set():
            seq = self.slot.ask(self.image, None, 0.3, 0.45)
            try:
                self.answers.append(self.slot.answer(seq, timeout=10))
            except DetectorUnavailable:
                return


def test_a_busy_detector_loads_a_second_network_and_answers_every_camera_in_turn(
    slots: list[FrameSlot], model_dir: Path, lift_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    photo = read_image(lift_dir, "skimage_middlebury_motorcycle_left.png")
    image = cv2.resize(photo, (640, photo.shape[0] * 640 // photo.shape[1]))
    loads: list[Detector] = []

    def load() -> Detector:
        loads.append(load_detector("yolox_nano", model_dir=model_dir, max_batch=len(slots)))
        return loads[-1]

    expected = [Found(d.class_id, d.score, d.box) for d in load().detect(image, score_threshold=0.3)]
    assert any(f.class_id == 3 for f in expected)  # the motorcycle
    stop, networks = _Value(0), _Value(0)
    halt = threading.Event()
    cameras = [_Camera(slot, image, halt) for slot in slots]
    server = threading.Thread(
        target=serve, args=(loads[0], slots, stop, os.getppid()), kwargs={"load": load, "most": 2, "networks": networks}
    )
    caplog.set_level(logging.INFO, logger="edge.lift.detector_main")
    server.start()
    for camera in cameras:
        camera.start()
    try:
        wait_for(lambda: networks.value == 2, 60, what="a second copy of the network")
        then = [len(c.answers) for c in cameras]
        wait_for(lambda: all(len(c.answers) >= n + 10 for c, n in zip(cameras, then, strict=True)), 60, what="answers")
    finally:
        halt.set()
        for camera in cameras:
            camera.join(15)
        stop.value = 1
        server.join(15)
    assert not server.is_alive()
    assert len(loads) == 2  # the first copy and the one added; no more than ``most``
    assert "every inference thread (1) busy" in caplog.text
    counts = [len(c.answers) for c in cameras]
    assert min(counts) * 2 >= max(counts), counts  # oldest first: no camera waits behind the others
    for camera in cameras:  # both copies answer as the network alone does, every camera its own frame
        for found in camera.answers:
            assert [f.class_id for f in found] == [f.class_id for f in expected]
            assert np.allclose([f.box for f in found], [f.box for f in expected], atol=0.5)


class _Value:
    def __init__(self, value: int) -> None:
        self.value = value


def _one_lift(networks: str) -> str:
    return f"site_id: s\ngateway_id: g\nlifts:\n  - id: lift-1\n    camera_url: x.mp4\n    networks: {networks}\n"


@pytest.mark.parametrize("value", ["0", "17", "two", "true", "1.5"])
def test_a_bad_networks_setting_names_the_lift_and_what_it_takes(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_one_lift(value))
    (problem,) = (str(p) for p in info.value.problems)
    assert problem.startswith("lifts[0].networks: must be 'auto' or a number of copies from 1 to 16"), problem
    assert "(line 6)" in problem


def test_networks_auto_may_use_every_core_the_process_may_run_on() -> None:
    (auto,) = parse_config(_one_lift("auto")).lifts
    assert most_networks(auto) == len(os.sched_getaffinity(0))
    (two,) = parse_config(_one_lift("2")).lifts
    assert most_networks(two) == 2


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the injected death
def test_a_dead_inference_thread_ends_the_process_to_be_restarted(slots: list[FrameSlot], model_dir: Path) -> None:
    detector = load_detector("yolox_nano", model_dir=model_dir)

    def broken(blob: np.ndarray, extra: dict | None = None) -> dict:
        raise MemoryError("injected: the network's buffers could not be allocated")

    detector.backend.infer = broken  # type: ignore[method-assign]
    slots[0].ask(_frame(1), None, 0.4, 0.45)
    with pytest.raises(RuntimeError, match="inference thread 1 stopped"):
        serve(detector, slots, _Value(0), os.getppid())
    assert slots[0].pending()  # not answered with a made-up empty result
