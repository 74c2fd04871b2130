"""1:N matching: one probe against every enrolled embedding, in one vectorised pass, best and second-best person.

- ``euclidean`` (dlib): ``sqrt(|p|^2 + |e|^2 - 2 p.e)`` with the gallery's norms precomputed, as
  face_recognition's ``face_distance``.
- ``cosine`` (MobileFaceNet): the gallery is L2-normalised once; the distance is ``1 - p.e``.

A person enrolled from several photos has several rows; the nearest row counts for them. Besides the nearest
owner, ``nearest`` gives the distance to the nearest *other* owner: the decision rule needs the margin
between the two, because in a gallery of thousands a stranger is near someone almost every time, and a
resident clearly nearer to one person than to everyone else is what makes a match safe.

The dot products use ``einsum`` one probe at a time rather than a BLAS matrix product: a frame has one to
three faces, and on a busy 2-core gateway the multi-threaded BLAS product had a p95 ten times its median
(threads waiting for a core), where the single-threaded loop stays within 20 % of its median.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import numpy as np

from edge.gate.faces import ENCODING_DIM

Owner = TypeVar("Owner")
Metric = Literal["euclidean", "cosine"]
INF = float("inf")


@dataclass(slots=True, frozen=True)
class Match(Generic[Owner]):
    """The nearest enrolled owner (None when the gallery is empty), its distance, and the next other owner's."""

    owner: Owner | None
    distance: float
    second: float = INF  # distance of the nearest embedding of any other owner

    @property
    def margin(self) -> float:
        return self.second - self.distance

    def within(self, tolerance: float) -> bool:
        return self.owner is not None and self.distance <= tolerance


class Matcher(Generic[Owner]):
    def __init__(
        self,
        encodings: np.ndarray | Sequence[np.ndarray],
        owners: Sequence[Owner],
        *,
        metric: Metric = "euclidean",
        dim: int = ENCODING_DIM,
    ) -> None:
        gallery = np.asarray(encodings, dtype=np.float32).reshape(-1, dim)
        if len(gallery) != len(owners):
            raise ValueError(f"{len(gallery)} encodings but {len(owners)} owners")
        self.metric, self.dim = metric, dim
        if metric == "cosine":
            norms = np.linalg.norm(gallery, axis=1, keepdims=True)
            gallery = gallery / np.where(norms > 0, norms, 1.0)
        self._gallery = np.ascontiguousarray(gallery, dtype=np.float32)
        self._norms = np.einsum("ij,ij->i", self._gallery, self._gallery)
        self._owners = list(owners)
        index: dict[Owner, int] = {}
        self._owner_index = np.array([index.setdefault(o, len(index)) for o in self._owners], dtype=np.int32)

    def __len__(self) -> int:
        return len(self._owners)

    def _prepare(self, probes: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        p = np.asarray(probes, dtype=np.float32).reshape(-1, self.dim)
        if self.metric == "cosine":
            norms = np.linalg.norm(p, axis=1, keepdims=True)
            p = p / np.where(norms > 0, norms, 1.0)
        return p

    def distances(self, probes: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """(probes, gallery) matrix of distances in the matcher's metric."""
        p = self._prepare(probes)
        if not len(p):
            return np.zeros((0, len(self)), dtype=np.float32)
        dots = np.stack([np.einsum("ij,j->i", self._gallery, q) for q in p])
        if self.metric == "cosine":
            return 1.0 - dots
        sq = self._norms[None, :] + np.einsum("ij,ij->i", p, p)[:, None] - 2.0 * dots
        return np.sqrt(np.maximum(sq, 0.0))

    def nearest(self, probes: np.ndarray | Sequence[np.ndarray]) -> list[Match[Owner]]:
        """The nearest owner of each probe, and the distance of the nearest other owner."""
        p = self._prepare(probes)
        if not self._owners:
            return [Match(None, INF) for _ in range(len(p))]
        out = []
        for row in self.distances(p):
            best = int(np.argmin(row))
            others = np.where(self._owner_index == self._owner_index[best], np.float32(INF), row)
            out.append(Match(self._owners[best], float(row[best]), float(others.min())))
        return out
