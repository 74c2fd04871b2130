"""Still faces (edge.gate.still): what is reused, when it is not, and that decisions still rest on k measurements."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.gate.config import GateConfig
from edge.gate.decider import GateDecider
from edge.gate.faces import Face, FaceAnalyzer
from edge.gate.still import still, thumbnail
from edge.gate.store import ResidentStore
from simulators.mjpeg import letterbox
from tests.conftest import shared_file

SIZE = (640, 360)


@pytest.fixture(scope="module")
def frame(faces_dir: Path) -> np.ndarray:
    """A camera frame with one resident's face (obama1.jpg), about 150 px tall."""
    return letterbox(cv2.imread(str(shared_file(faces_dir.parent, "faces/probes/obama1.jpg"))), SIZE)


@pytest.fixture
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(min_face_px=60, reuse_after=3)  # the gate's k


def shifted(image: np.ndarray, dx: int) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, 0]]), (image.shape[1], image.shape[0]))


def evidence(analyzer: FaceAnalyzer, frames: list[np.ndarray]) -> list[Face]:
    out = []
    for f in frames:
        (face,) = analyzer.analyze(f)
        out.append(face)
    return out


def test_a_still_face_reuses_every_other_frame_after_k_fresh_ones(analyzer: FaceAnalyzer, frame) -> None:
    faces = evidence(analyzer, [frame] * 7)
    ids = [f.evidence for f in faces]
    # fresh, fresh, fresh (the first decision's k), then reused and fresh in turn
    assert len(set(ids[:3])) == 3 and ids[3] == ids[2] and ids[4] not in ids[:4] and ids[5] == ids[4]
    assert ids[6] not in ids[:6]
    assert np.array_equal(faces[3].encoding, faces[2].encoding) and faces[3].live == faces[2].live
    assert faces[3].quality is not None and faces[3].box == faces[2].box  # box, landmarks, quality: its own frame


def test_a_face_that_moves_is_measured_again(analyzer: FaceAnalyzer, frame) -> None:
    faces = evidence(analyzer, [frame] * 3 + [shifted(frame, 8)] * 2)  # 8 px: ~10 % of the eye distance
    ids = [f.evidence for f in faces]
    assert len(set(ids[:4])) == 4  # the moved face is measured, not reused
    assert ids[4] == ids[3]  # the same track, still again: reused
    assert not np.array_equal(faces[3].encoding, faces[2].encoding)


def test_another_picture_in_the_same_place_is_not_the_same_face(analyzer: FaceAnalyzer, frame) -> None:
    detection = analyzer.detector.detect(frame)[0]
    top, right, bottom, left = detection.box
    other = frame.copy()
    other[top:bottom, left:right] = cv2.flip(frame[top:bottom, left:right], 1)  # same box, other pixels
    fresh = analyzer.still.computed(None, detection, thumbnail(frame, detection.box), np.zeros(128), 0.9)
    assert still(fresh, detection, thumbnail(frame, detection.box))
    assert not still(fresh, detection, thumbnail(other, detection.box))
    darker = (frame * 0.7).astype(np.uint8)  # a phone screen in front of the face, say
    assert not still(fresh, detection, thumbnail(darker, detection.box))


def test_no_reuse_unless_configured(frame) -> None:
    analyzer = FaceAnalyzer(min_face_px=60, reuse_after=None)
    ids = [f.evidence for f in evidence(analyzer, [frame] * 6)]
    assert len(set(ids)) == 6 and analyzer.still.reused == 0


def test_decisions_on_a_still_face_rest_on_k_measurements_each(tmp_path: Path, enrolled, frame) -> None:
    """Cool-down 0: the same face decided again and again. Without reuse every 3 frames; with reuse only when
    3 results that no decision was taken on yet are in the window of 5."""
    store = ResidentStore(tmp_path / "residents.db")
    store.add_resident("obama", enrolled["obama"], gates=["main"])
    at: dict[bool, list[int]] = {}
    for reuse in (False, True):
        config = GateConfig(id="main", camera="unused", cooldown_s=0, liveness="off", reuse_still_faces=reuse)
        analyzer = FaceAnalyzer(min_face_px=60, liveness=False, reuse_after=config.reuse_after)
        decider: GateDecider[int] = GateDecider(config, store, consume=False)
        decisions = [d for i in range(9) for d in decider.decide(i * 0.1, time.time(), analyzer.analyze(frame), i)]
        assert {d.name for d in decisions} == {"obama"} and all(d.frames == 3 for d in decisions)
        at[reuse] = [round(d.t * 10) for d in decisions]
    assert at[False] == [2, 5, 8]
    assert at[True] == [2, 8]  # frames 4, 6, 8 are fresh (3 reuses frame 2's result, spent; 5, 7 reuse)
    store.close()
