"""The motion gate on real frames, and the regions it sends to the detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.lift.config import MotionConfig
from edge.lift.motion import MotionGate, regions_for
from simulators.lift_camera import LiftScene
from tests.lift.conftest import read_image

pytestmark = pytest.mark.vision


@pytest.fixture
def scene(lift_dir: Path) -> LiftScene:
    return LiftScene.from_photos(
        lift_dir / "intel_room_empty_obo_f0020.jpg",
        lift_dir / "skimage_middlebury_motorcycle_left.png",
        fps=10,
        before_s=1,
        cross_s=2,
        after_s=1,
    )


def _inside(inner: tuple[int, ...], outer: tuple[int, ...], slack: int = 8) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def test_still_room_has_no_motion(lift_dir: Path) -> None:
    gate = MotionGate(MotionConfig())
    room = cv2.resize(read_image(lift_dir, "intel_room_empty_obo_f0020.jpg"), (640, 360))
    first = gate.update(room)
    assert first.recalibrated and first.boxes == ()
    for _ in range(5):
        assert gate.update(room).boxes == ()


def test_moving_photo_is_boxed_where_it_is(scene: LiftScene) -> None:
    gate = MotionGate(MotionConfig())
    gate.update(scene.image(0))
    index = scene.first_ebike_frame
    motion = gate.update(scene.image(index))
    assert not motion.recalibrated and motion.boxes
    x, y, w, h = max(motion.boxes, key=lambda b: b[2] * b[3])
    assert _inside(scene.ebike_box(index), (x, y, x + w, y + h))  # the whole photo is inside the motion box


def test_light_change_recalibrates_instead_of_moving(lift_dir: Path) -> None:
    gate = MotionGate(MotionConfig())
    room = cv2.resize(read_image(lift_dir, "intel_room_empty_obo_f0020.jpg"), (640, 360))
    gate.update(room)
    brighter = cv2.convertScaleAbs(room, alpha=1.0, beta=70)
    lights_on = gate.update(brighter)
    assert lights_on.recalibrated and lights_on.boxes == () and lights_on.changed > 0.45
    assert gate.update(brighter).boxes == ()  # the new light is the background now


def test_small_noise_is_not_motion(lift_dir: Path) -> None:
    gate = MotionGate(MotionConfig())
    room = cv2.resize(read_image(lift_dir, "intel_room_empty_obo_f0020.jpg"), (640, 360))
    gate.update(room)
    rng = np.random.default_rng(1)
    noisy = np.clip(room.astype(np.int16) + rng.integers(-6, 7, room.shape), 0, 255).astype(np.uint8)
    assert gate.update(noisy).boxes == ()


def test_region_is_input_sized_around_the_motion_and_inside_the_frame() -> None:
    [region] = regions_for([(500, 200, 60, 80)], input_size=(320, 320), frame_size=(640, 360), max_regions=3)
    x, y, w, h = region
    assert (w, h) == (320, 320)
    assert x <= 500 and x + w >= 560 and y <= 200 and y + h >= 280
    assert x + w <= 640 and y + h <= 360


def test_region_grows_for_big_objects_but_stays_in_the_frame() -> None:
    [region] = regions_for([(100, 20, 420, 330)], input_size=(320, 320), frame_size=(640, 360), max_regions=3)
    x, y, w, h = region
    assert w > 420 and h == 360 and x >= 0 and x + w <= 640


def test_nearby_boxes_share_one_region_and_far_ones_do_not() -> None:
    near = regions_for(
        [(100, 100, 40, 40), (180, 150, 40, 40)], input_size=(320, 320), frame_size=(1280, 720), max_regions=3
    )
    assert len(near) == 1
    far = regions_for(
        [(10, 10, 40, 40), (1200, 600, 40, 40)], input_size=(320, 320), frame_size=(1280, 720), max_regions=3
    )
    assert len(far) == 2


def test_too_many_regions_scan_the_whole_frame() -> None:
    boxes = [(x, y, 20, 20) for x in (0, 400, 800, 1200) for y in (0, 600)]
    assert regions_for(boxes, input_size=(320, 320), frame_size=(1280, 720), max_regions=3) == [(0, 0, 1280, 720)]
    assert regions_for([], input_size=(320, 320), frame_size=(1280, 720), max_regions=3) == []
