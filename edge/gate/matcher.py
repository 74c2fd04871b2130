"""Matching face encodings against every enrolled encoding in one vectorised distance computation.

Distances are Euclidean, as face_recognition's ``face_distance``, computed as
``sqrt(|p|^2 + |e|^2 - 2 p.e)`` in float32 against the whole gallery at once, with the gallery's norms
precomputed: 100,000 enrolled encodings cost about 2 ms a face (docs/BENCHMARKS.md).

The dot products use ``einsum`` one probe at a time rather than a BLAS matrix product: a frame has one to
three faces, and on a busy 2-core gateway the multi-threaded BLAS product had a p95 ten times its median
(threads waiting for a core), where the single-threaded loop stays within 20 % of its median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from edge.gate.faces import ENCODING_DIM

Owner = TypeVar("Owner")


@dataclass(slots=True, frozen=True)
class Match(Generic[Owner]):
    """The nearest enrolled encoding: its owner (None when the gallery is empty) and the distance."""

    owner: Owner | None
    distance: float

    def within(self, tolerance: float) -> bool:
        return self.owner is not None and self.distance <= tolerance


class Matcher(Generic[Owner]):
    def __init__(self, encodings: np.ndarray | Sequence[np.ndarray], owners: Sequence[Owner]) -> None:
        gallery = np.asarray(encodings, dtype=np.float32).reshape(-1, ENCODING_DIM)
        if len(gallery) != len(owners):
            raise ValueError(f"{len(gallery)} encodings but {len(owners)} owners")
        self._gallery = np.ascontiguousarray(gallery)
        self._norms = np.einsum("ij,ij->i", self._gallery, self._gallery)
        self._owners = list(owners)

    def __len__(self) -> int:
        return len(self._owners)

    def distances(self, probes: np.ndarray) -> np.ndarray:
        """(probes, gallery) matrix of Euclidean distances."""
        p = np.asarray(probes, dtype=np.float32).reshape(-1, ENCODING_DIM)
        dots = np.stack([np.einsum("ij,j->i", self._gallery, q) for q in p]) if len(p) else np.zeros((0, len(self)))
        sq = self._norms[None, :] + np.einsum("ij,ij->i", p, p)[:, None] - 2.0 * dots
        distances: np.ndarray = np.sqrt(np.maximum(sq, 0.0))
        return distances

    def nearest(self, probes: np.ndarray | Sequence[np.ndarray]) -> list[Match[Owner]]:
        """The nearest enrolled encoding of each probe."""
        p = np.asarray(probes, dtype=np.float32).reshape(-1, ENCODING_DIM)
        if not self._owners:
            return [Match(None, float("inf")) for _ in range(len(p))]
        d = self.distances(p)
        best = np.argmin(d, axis=1)
        return [Match(self._owners[i], float(d[row, i])) for row, i in enumerate(best)]
