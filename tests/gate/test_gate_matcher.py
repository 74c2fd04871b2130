"""The vectorised matcher agrees with face_recognition's own distance, on real and synthetic encodings."""

from __future__ import annotations

import numpy as np
import pytest

from edge.gate.faces import face_recognition
from edge.gate.matcher import Matcher


def test_same_distances_as_face_recognition(enrolled) -> None:
    owners = [p for p, photos in enrolled.items() for _ in photos]
    gallery = np.array([e.encoding for photos in enrolled.values() for e in photos])
    matcher = Matcher(gallery, owners)
    probes = gallery[[0, 3, 5]] + 0.01
    ours = matcher.distances(probes)
    theirs = np.array([face_recognition().face_distance(gallery, p) for p in probes])
    np.testing.assert_allclose(ours, theirs, atol=1e-4)
    assert [m.owner for m in matcher.nearest(probes)] == [owners[0], owners[3], owners[5]]


def test_nearest_over_a_large_synthetic_gallery() -> None:
    rng = np.random.default_rng(7)
    gallery = rng.normal(0, 0.1, (20_000, 128))
    owners = [f"p{i}" for i in range(len(gallery))]
    matcher = Matcher(gallery, owners)
    picks = [17, 9_999, 19_999]
    matches = matcher.nearest(gallery[picks] + rng.normal(0, 0.001, (3, 128)))
    assert [m.owner for m in matches] == ["p17", "p9999", "p19999"]
    assert all(m.distance < 0.05 and m.within(0.5) for m in matches)


def test_empty_gallery_matches_nobody() -> None:
    (match,) = Matcher([], []).nearest(np.zeros((1, 128)))
    assert match.owner is None and match.distance == float("inf") and not match.within(0.6)


def test_owners_must_match_encodings() -> None:
    with pytest.raises(ValueError, match="2 encodings but 1 owners"):
        Matcher(np.zeros((2, 128)), ["a"])
