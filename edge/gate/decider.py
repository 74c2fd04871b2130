"""The decision core of one gate: faces of a frame in, access decisions out. Synchronous and clock-free.

``GateDecider.decide(t, now, faces, ref)`` matches the faces against the store's gallery (rebuilt only when
the store changed), feeds the k-of-n tracker, and asks the store whether each agreed person may pass
at ``now``. The live gate (edge.gate.component) and ``edge gate replay`` both drive it; replay passes
``consume=False`` so a dry run never uses up a visitor pass.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from edge.core.types import Severity
from edge.gate.config import GateConfig
from edge.gate.decision import Agreement, DecisionTracker, Sighting
from edge.gate.faces import Face
from edge.gate.matcher import Matcher
from edge.gate.store import Owner, OwnerKind, ResidentStore

Ref = TypeVar("Ref")


class AccessKind(enum.StrEnum):
    GRANTED = "access.granted"
    DENIED = "access.denied"
    STRANGER = "access.stranger"
    VISITOR = "access.visitor"


SEVERITY = {
    AccessKind.GRANTED: Severity.INFO,
    AccessKind.VISITOR: Severity.INFO,
    AccessKind.DENIED: Severity.WARNING,
    AccessKind.STRANGER: Severity.WARNING,
}


@dataclass(slots=True, frozen=True)
class Decision(Generic[Ref]):
    gate: str
    kind: AccessKind
    owner: Owner | None
    name: str  # "unknown" for a stranger
    distance: float
    reason: str
    t: float  # the time base of the caller: seconds into a recording, or wall-clock time
    frames: int
    best: Ref

    @property
    def allowed(self) -> bool:
        return self.kind in (AccessKind.GRANTED, AccessKind.VISITOR)

    @property
    def result(self) -> str:
        return "granted" if self.allowed else "denied"

    def details(self) -> dict[str, Any]:
        """The event details: gate, person or unknown, distance, result, and why."""
        return {
            "gate": self.gate,
            "person": self.name,
            "person_id": self.owner.id if self.owner else None,
            "person_kind": self.owner.kind.value if self.owner else None,
            "distance": round(self.distance, 4) if self.distance != float("inf") else None,
            "result": self.result,
            "reason": self.reason,
            "frames": self.frames,
        }


class GateDecider(Generic[Ref]):
    def __init__(self, config: GateConfig, store: ResidentStore, *, consume: bool = True) -> None:
        self.config = config
        self.store = store
        self.consume = consume
        self.tracker: DecisionTracker[Owner, Ref] = DecisionTracker(
            k=config.k, n=config.n, cooldown_s=config.cooldown_s
        )
        self._revision: tuple[int, int] | None = None
        self._matcher: Matcher[Owner] = Matcher([], [])

    @property
    def matcher(self) -> Matcher[Owner]:
        revision = self.store.revision()
        if revision != self._revision:
            encodings, owners = self.store.gallery()
            self._matcher, self._revision = Matcher(encodings, owners), revision
        return self._matcher

    def sightings(self, faces: list[Face]) -> list[Sighting[Owner]]:
        usable = [f for f in faces if f.height >= self.config.min_face_px]
        if not usable:
            return []
        matches = self.matcher.nearest([f.encoding for f in usable])
        return [Sighting(m.owner, m.distance, self.config.tolerance) for m in matches]

    def decide(self, t: float, now: float, faces: list[Face], ref: Ref) -> list[Decision[Ref]]:
        """One processed frame (``t`` in the tracker's time base, ``now`` wall-clock for validity)."""
        return [self._judge(a, now) for a in self.tracker.observe(t, self.sightings(faces), ref)]

    def _judge(self, agreement: Agreement[Owner, Ref], now: float) -> Decision[Ref]:
        owner = agreement.key
        common = functools.partial(Decision, gate=self.config.id, distance=agreement.distance, t=agreement.t,
                                   frames=agreement.frames, best=agreement.best)
        if owner is None:
            return common(kind=AccessKind.STRANGER, owner=None, name="unknown", reason="not enrolled")
        verdict = self.store.authorize(owner, self.config.id, now, consume=self.consume)
        if not verdict.allowed:
            kind = AccessKind.DENIED
        else:
            kind = AccessKind.VISITOR if owner.kind is OwnerKind.VISITOR else AccessKind.GRANTED
        return common(kind=kind, owner=owner, name=verdict.name, reason=verdict.reason)
