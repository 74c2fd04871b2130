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


def test_second_best_is_the_nearest_other_owner_not_another_photo_of_the_same() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0, 0.1, (3, 128))  # the scale of real embeddings (norm about 1)
    # owner a has two photos close together, b and c are further away
    gallery = np.stack([base[0], base[0] + 0.01, base[1], base[2]])
    for metric in ("euclidean", "cosine"):
        matcher = Matcher(gallery, ["a", "a", "b", "c"], metric=metric)
        (match,) = matcher.nearest([base[0] + 0.001])
        d = matcher.distances([base[0] + 0.001])[0]
        assert match.owner == "a" and match.distance == pytest.approx(min(d[0], d[1]), abs=1e-4)
        assert match.second == pytest.approx(min(d[2], d[3]), abs=1e-4) and match.margin > 0.2
    (alone,) = Matcher(gallery[:2], ["a", "a"], metric="cosine").nearest([base[0]])
    assert alone.owner == "a" and alone.second == float("inf")


def test_cosine_distances_are_one_minus_cosine() -> None:
    rng = np.random.default_rng(4)
    gallery, probe = rng.normal(0, 1, (50, 128)), rng.normal(0, 1, 128)
    expected = 1 - gallery @ probe / (np.linalg.norm(gallery, axis=1) * np.linalg.norm(probe))
    np.testing.assert_allclose(
        Matcher(gallery, list(range(50)), metric="cosine").distances([probe])[0], expected, atol=1e-5
    )
