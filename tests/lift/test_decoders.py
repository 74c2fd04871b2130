"""Both decoder families on real photos: the bicycle and the motorcycle are found where they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drivers.detectors import Detector
from drivers.detectors.nanodet import NanodetLayout, decode_nanodet
from drivers.detectors.nms import nms, select
from drivers.detectors.yolox import decode_yolox
from edge.lift.confirm import iou
from tests.lift.conftest import MODELS, read_image

pytestmark = pytest.mark.vision

# hand-drawn around the object in each photo (x1, y1, x2, y2)
BICYCLE = (120.0, 125.0, 570.0, 430.0)
MOTORCYCLE = (105.0, 55.0, 705.0, 446.0)
EMPTY_ROOMS = (
    "intel_room_empty_obo_f0020.jpg",
    "intel_room_empty_obo_f1375.jpg",
    "intel_fisheye_room_empty_people-gif_f22.jpg",
)


@pytest.mark.parametrize("model", MODELS)
def test_bicycle_found_with_its_box(detectors: dict[str, Detector], lift_dir: Path, model: str) -> None:
    found = detectors[model].detect(read_image(lift_dir, "darknet_dog.jpg"), score_threshold=0.3)
    bikes = [d for d in found if d.label == "bicycle"]
    assert len(bikes) == 1, found
    assert bikes[0].score > 0.5
    assert iou(bikes[0].box, BICYCLE) > 0.7, bikes[0]
    assert {"dog", "car"} <= {d.label for d in found}  # the rest of the scene is decoded too


@pytest.mark.parametrize("model", MODELS)
def test_motorcycle_found_with_its_box(detectors: dict[str, Detector], lift_dir: Path, model: str) -> None:
    found = detectors[model].detect(read_image(lift_dir, "skimage_middlebury_motorcycle_left.png"), score_threshold=0.5)
    motorbikes = [d for d in found if d.label == "motorbike"]
    assert len(motorbikes) == 1, found
    assert motorbikes[0].score > 0.75
    assert iou(motorbikes[0].box, MOTORCYCLE) > 0.75, motorbikes[0]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("photo", EMPTY_ROOMS)
def test_empty_rooms_yield_nothing(detectors: dict[str, Detector], lift_dir: Path, model: str, photo: str) -> None:
    detector = detectors[model]
    image = read_image(lift_dir, photo)
    assert detector.detect(image, score_threshold=0.4) == []
    ebike_ids = detector.spec.ebike_class_ids
    assert not [d for d in detector.detect(image, score_threshold=0.2) if d.class_id in ebike_ids]


@pytest.mark.parametrize("model", MODELS)
def test_person_is_a_person_not_an_ebike(detectors: dict[str, Detector], lift_dir: Path, model: str) -> None:
    detector = detectors[model]
    found = detector.detect(read_image(lift_dir, "intel_room_person_obo_f0300.jpg"), score_threshold=0.3)
    assert [d.label for d in found if d.score >= 0.5] == ["person"]
    assert not [d for d in found if d.class_id in detector.spec.ebike_class_ids]


@pytest.mark.parametrize("model", MODELS)
def test_region_detection_maps_back_to_the_frame(detectors: dict[str, Detector], lift_dir: Path, model: str) -> None:
    """The motorcycle pasted into a bigger empty room, found through a region at its true place."""
    room = read_image(lift_dir, "intel_room_empty_obo_f0020.jpg")
    bike = read_image(lift_dir, "skimage_middlebury_motorcycle_left.png")
    small = bike[::2, ::2]  # 371 x 250
    canvas = room.copy()
    x0, y0 = 300, 150
    canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    region = (250, 100, 480, 320)
    found = detectors[model].detect(canvas, score_threshold=0.5, regions=[region])
    motorbikes = [d for d in found if d.label == "motorbike"]
    expected = (x0 + MOTORCYCLE[0] / 2, y0 + MOTORCYCLE[1] / 2, x0 + MOTORCYCLE[2] / 2, y0 + MOTORCYCLE[3] / 2)
    assert motorbikes and iou(motorbikes[0].box, expected) > 0.7, found


# -- the pure pieces, from hand-made tensors -----------------------------------------------------------


def test_yolox_decoding_of_one_cell() -> None:
    width = height = 64  # strides 8/16/32 -> 64 + 16 + 4 cells
    rows = np.zeros((84, 5 + 3), np.float32)
    cell = 64 + 1 * 4 + 2  # stride 16, grid x = 2, y = 1
    rows[cell, :5] = [0.5, 0.25, np.log(2.0), np.log(1.0), 0.8]
    rows[cell, 5:] = [0.1, 0.9, 0.2]
    boxes, scores = decode_yolox(rows, width, height)
    cx, cy = (0.5 + 2) * 16, (0.25 + 1) * 16
    np.testing.assert_allclose(boxes[cell], [cx - 16, cy - 8, cx + 16, cy + 8], rtol=1e-5)
    np.testing.assert_allclose(scores[cell], [0.08, 0.72, 0.16], rtol=1e-5)


def test_nanodet_decoding_of_one_cell() -> None:
    layout = NanodetLayout(family="nanodet", strides=(8,), bins=4)
    cls = np.zeros((1, 16, 2), np.float32)  # 32 x 32 input, stride 8 -> 4 x 4 cells
    dist = np.full((1, 16, 16), -50.0, np.float32)
    cell = 1 * 4 + 2  # x = 2, y = 1: centre (20, 12)
    cls[0, cell] = [0.1, 0.7]
    dist[0, cell] = np.concatenate([np.eye(4)[k] * 100 for k in (1, 2, 3, 0)])  # bins: left 1, top 2, right 3, bottom 0
    boxes, scores = decode_nanodet([(cls, dist, 8)], 32, 32, bins=4)
    np.testing.assert_allclose(boxes[cell], [20 - 8, 12 - 16, 20 + 24, 12 + 0], atol=1e-3)
    np.testing.assert_allclose(scores[cell], [0.1, 0.7])
    assert layout.expected_shapes(32, 32, 2) == {"cls_pred_stride_8": (1, 16, 2), "dis_pred_stride_8": (1, 16, 16)}


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.3], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3]


def test_select_runs_nms_per_class_and_applies_the_threshold() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
    scores = np.array([[0.9, 0.0], [0.0, 0.8], [0.85, 0.0]], np.float32)  # person, bicycle, person again
    kept_boxes, kept_scores, ids = select(boxes, scores, score_threshold=0.5, iou_threshold=0.5)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(kept_scores, [0.9, 0.8])
    _, _, none = select(boxes, scores, score_threshold=0.95, iou_threshold=0.5)
    assert none.size == 0


# -- FastestDet (the third shipped model: 1 MB, weaker, stretched input) ------------------------------


@pytest.fixture(scope="module")
def fastestdet(model_dir: Path) -> Detector:
    from drivers.detectors import load_detector

    return load_detector("fastestdet", model_dir=model_dir)


def test_fastestdet_finds_the_bicycle_and_the_motorcycle(fastestdet: Detector, lift_dir: Path) -> None:
    bikes = [
        d
        for d in fastestdet.detect(read_image(lift_dir, "darknet_dog.jpg"), score_threshold=0.5)
        if d.label == "bicycle"
    ]
    assert len(bikes) == 1 and bikes[0].score > 0.6 and iou(bikes[0].box, BICYCLE) > 0.65, bikes
    found = fastestdet.detect(read_image(lift_dir, "skimage_middlebury_motorcycle_left.png"), score_threshold=0.5)
    motorbikes = [d for d in found if d.label == "motorbike"]
    assert len(motorbikes) == 1 and motorbikes[0].score > 0.75, found
    assert iou(motorbikes[0].box, MOTORCYCLE) > 0.85, motorbikes[0]


@pytest.mark.parametrize("photo", EMPTY_ROOMS)
def test_fastestdet_sees_no_ebike_in_empty_rooms(fastestdet: Detector, lift_dir: Path, photo: str) -> None:
    """It names furniture wrongly (a screen, scissors) but never a bicycle or motorbike there."""
    found = fastestdet.detect(read_image(lift_dir, photo), score_threshold=0.2)
    assert not [d for d in found if d.class_id in fastestdet.spec.ebike_class_ids], found


def test_fastestdet_person_is_a_person(fastestdet: Detector, lift_dir: Path) -> None:
    found = fastestdet.detect(read_image(lift_dir, "intel_room_person_obo_f0300.jpg"), score_threshold=0.3)
    assert found[0].label == "person" and found[0].score > 0.9
    assert iou(found[0].box, (381, 4, 544, 372)) > 0.8  # where YOLOX-nano and NanoDet-m both put the person
    assert not [d for d in found if d.class_id in fastestdet.spec.ebike_class_ids]
