"""The analyser: searching around the faces of the last frame finds the same faces as the whole frame."""

from __future__ import annotations

import itertools

import numpy as np

from drivers.camera import CameraSource
from edge.gate.faces import FaceAnalyzer


def test_tracking_finds_the_same_faces_with_cheaper_searches(clip) -> None:
    with CameraSource(clip) as camera:
        frames = [f.image for f in itertools.islice(iter(camera.read, None), 90, 130)]  # the stranger in view
    hog = {"detector": "hog", "embedding": "dlib", "liveness": False}  # tracking is for HOG (YuNet is cheap)
    full = FaceAnalyzer(track=False, **hog)
    tracked = FaceAnalyzer(track=True, full_every=5, **hog)
    for frame in frames:
        a, b = full.analyze(frame), tracked.analyze(frame)
        assert len(a) == len(b)
        for fa, fb in zip(a, b, strict=True):
            assert max(abs(x - y) for x, y in zip(fa.box, fb.box, strict=True)) <= fa.height // 4
            # a few pixels of box jitter move an encoding by ~0.1; different people are > 0.6 apart
            assert np.linalg.norm(fa.encoding - fb.encoding) < 0.25
    assert tracked.roi_detections >= len(frames) // 2
    assert tracked.full_detections >= len(frames) // 5  # the whole frame at least every 5 frames


def test_a_second_person_stepping_in_is_found_within_full_every(probes) -> None:
    """A face tracked alone, then a photo with two people: both are found within ``full_every`` frames."""
    import cv2

    from tests.gate.conftest import fit

    one = next(p for p in probes if p.name == "obama1.jpg")
    two = next(p for p in probes if p.name == "obama_and_biden.jpg")
    analyzer = FaceAnalyzer(track=True, full_every=3, detector="hog", embedding="dlib", liveness=False)
    image_one, image_two = (fit(cv2.imread(str(p.path))) for p in (one, two))

    def canvas(img: np.ndarray) -> np.ndarray:
        return cv2.copyMakeBorder(img, 0, 1400 - img.shape[0], 0, 2000 - img.shape[1], cv2.BORDER_CONSTANT)

    assert len(analyzer.analyze(canvas(image_one))) == 1
    counts = [len(analyzer.analyze(canvas(image_two))) for _ in range(3)]
    assert counts[-1] == len(two.faces) >= 2


def test_hog_faces_align_for_mobilefacenet_too(probes, enrolled) -> None:
    """HOG gives dlib's eye corners and nose; the mouth corners are estimated: enough to match MobileFaceNet."""
    import cv2

    from tests.gate.conftest import fit

    obama = next(p for p in probes if p.name == "obama1.jpg")
    (face,) = FaceAnalyzer(detector="hog", embedding="mobilefacenet", liveness=False).analyze(
        fit(cv2.imread(str(obama.path)))
    )
    assert face.landmarks.shape == (5, 2) and face.model == "mobilefacenet"
    same = min(1 - float(face.encoding @ e.encodings["mobilefacenet"]) for e in enrolled["obama"])
    other = min(1 - float(face.encoding @ e.encodings["mobilefacenet"]) for e in enrolled["biden"])
    assert same < 0.5 < other
