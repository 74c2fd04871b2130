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


N = GateConfig(id="main", camera="unused").n  # the default window: a face's first n frames are measured


@pytest.fixture
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(min_face_px=60, reuse_after=GateConfig(id="main", camera="unused").reuse_after)


def shifted(image: np.ndarray, dx: int) -> np.ndarray:
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, 0]]), (image.shape[1], image.shape[0]))


def evidence(analyzer: FaceAnalyzer, frames: list[np.ndarray]) -> list[Face]:
    out = []
    for f in frames:
        (face,) = analyzer.analyze(f)
        out.append(face)
    return out


def test_a_still_face_reuses_every_other_frame_after_its_first_window(analyzer: FaceAnalyzer, frame) -> None:
    faces = evidence(analyzer, [frame] * (N + 4))
    ids = [f.evidence for f in faces]
    assert len(set(ids[:N])) == N  # the first window: all measured
    assert ids[N] == ids[N - 1] and ids[N + 1] not in ids[: N + 1]  # then reused and measured in turn
    assert ids[N + 2] == ids[N + 1] and ids[N + 3] not in ids[: N + 3]
    assert np.array_equal(faces[N].encoding, faces[N - 1].encoding) and faces[N].live == faces[N - 1].live
    assert faces[N].quality is not None and faces[N].box == faces[N - 1].box  # box, landmarks, quality: its own


def test_a_face_that_moves_is_measured_again(analyzer: FaceAnalyzer, frame) -> None:
    faces = evidence(analyzer, [frame] * N + [shifted(frame, 8)] * 2)  # 8 px: ~10 % of the eye distance
    ids = [f.evidence for f in faces]
    assert len(set(ids[: N + 1])) == N + 1  # the moved face is measured, not reused
    assert ids[N + 1] == ids[N]  # the same track, still again: reused
    assert not np.array_equal(faces[N].encoding, faces[N - 1].encoding)


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
    3 results that no decision was taken on yet are in the window of 5 (the first 5 frames are all measured)."""
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
    assert at[True] == [2, 6]  # 3, 4 and 6 measured; 5 reuses 4 (no vote), 7 reuses 6 (spent), 8: two only
    store.close()
