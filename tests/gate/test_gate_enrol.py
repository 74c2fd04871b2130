"""Enrolment from photos: real faces in, clear errors for everything that is not one face."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.gate.enrol import EnrolmentError
from tests.conftest import shared_file


def test_a_portrait_gives_one_embedding_per_model(enrolled) -> None:
    for person, photos in enrolled.items():
        for e in photos:
            assert set(e.encodings) == {"mobilefacenet", "dlib"}, person
            for vector in e.encodings.values():
                assert vector.shape == (128,) and np.isfinite(vector).all(), person
            assert e.face_px > 80 and e.jpeg.startswith(b"\xff\xd8"), person
    # two photos of one person are closer to each other than to anyone else, in each model's metric
    obama, biden = enrolled["obama"], enrolled["biden"]
    same = np.linalg.norm(obama[0].encodings["dlib"] - obama[1].encodings["dlib"])
    other = np.linalg.norm(obama[0].encodings["dlib"] - biden[0].encodings["dlib"])
    assert same < 0.5 < other
    cos_same = 1 - float(obama[0].encodings["mobilefacenet"] @ obama[1].encodings["mobilefacenet"])
    cos_other = 1 - float(obama[0].encodings["mobilefacenet"] @ biden[0].encodings["mobilefacenet"])
    assert cos_same < 0.5 < cos_other


def test_corrupt_image_is_refused(enroller, faces_dir: Path, tmp_path: Path) -> None:
    good = shared_file(faces_dir.parent, "faces/residents/obama/obama.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[:200])
    with pytest.raises(EnrolmentError, match=r"truncated\.jpg: not a readable image"):
        enroller.enrol_file(truncated)
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 20)
    with pytest.raises(EnrolmentError, match=r"garbage\.jpg: not a readable image"):
        enroller.enrol_file(garbage)
    with pytest.raises(EnrolmentError, match="empty file"):
        enroller.enrol_bytes(b"", "empty.jpg")
    with pytest.raises(EnrolmentError, match=r"missing\.jpg: cannot read"):
        enroller.enrol_file(tmp_path / "missing.jpg")


def test_photo_without_a_face_is_refused(enroller, tmp_path: Path) -> None:
    wall = np.full((480, 640, 3), 180, dtype=np.uint8)
    cv2.rectangle(wall, (100, 100), (300, 400), (40, 90, 200), -1)
    ok, jpeg = cv2.imencode(".jpg", wall)
    assert ok
    with pytest.raises(EnrolmentError, match=r"wall\.jpg: no face found"):
        enroller.enrol_bytes(jpeg.tobytes(), "wall.jpg")


def test_photo_with_two_faces_is_refused(enroller, faces_dir: Path) -> None:
    group = shared_file(faces_dir.parent, "faces/probes/kit_with_rose.jpg")
    with pytest.raises(EnrolmentError, match=r"kit_with_rose\.jpg: 2 faces found; .* exactly one person"):
        enroller.enrol_file(group)
