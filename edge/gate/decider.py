"""The decision core of one gate: faces of a frame in, access decisions out. Synchronous and clock-free.

``GateDecider.decide(t, now, faces, ref)`` matches the faces against the store's gallery of the gate's
embedding model (rebuilt only when the store changed), feeds the k-of-n tracker, checks the window's
liveness, and asks the store whether each agreed person may pass at ``now``. The rule, in order:

1. faces below the quality gates never get here (edge.gate.faces);
2. a face is a resident's when its distance is within the threshold and that resident is nearer than
   any other by the margin (1:N: the nearest of thousands is near by chance);
3. k of the last n frames agree on the same resident (or on "unknown"), with k distinct evidence (a face
   that reused the previous frame's embedding counts once: edge.gate.still);
4. liveness ``enforce``: the mean p(live) over those frames must reach ``live_threshold``, else the
   decision is ``access.spoof_attempt`` (denied, reason ``spoof``) whoever it looked like; ``warn``: the
   decision stands and ``spoof_suspected`` is set; ``off``: not measured;
5. the store authorises the resident (revoked, validity, gates, visitor passes).

The live gate (edge.gate.component) and ``edge gate replay`` both drive it; replay passes
``consume=False`` so a dry run never uses up a visitor pass, and may override the liveness mode.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from edge.core.types import Severity
from edge.gate.config import GateConfig
from edge.gate.decision import Agreement, DecisionTracker, Sighting
from edge.gate.faces import Face
from edge.gate.matcher import Matcher
from edge.gate.models import load_face_manifest
from edge.gate.store import Owner, OwnerKind, ResidentStore

Ref = TypeVar("Ref")


class AccessKind(enum.StrEnum):
    GRANTED = "access.granted"
    DENIED = "access.denied"
    STRANGER = "access.stranger"
    VISITOR = "access.visitor"
    SPOOF = "access.spoof_attempt"


SEVERITY = {
    AccessKind.GRANTED: Severity.INFO,
    AccessKind.VISITOR: Severity.INFO,
    AccessKind.DENIED: Severity.WARNING,
    AccessKind.STRANGER: Severity.WARNING,
    AccessKind.SPOOF: Severity.MAJOR,
}
SPOOF_REASON = "spoof"
LivenessMode = Literal["enforce", "warn", "off"]


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
    live: float | None = None  # combined p(live) of the window; None when liveness is off
    spoof_suspected: bool = False  # liveness failed but the mode is warn

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
            "live": round(self.live, 3) if self.live is not None else None,
            "spoof_suspected": self.spoof_suspected,
        }


class GateDecider(Generic[Ref]):
    def __init__(
        self, config: GateConfig, store: ResidentStore, *, consume: bool = True, liveness: LivenessMode | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.consume = consume
        self.liveness: LivenessMode = liveness or config.liveness
        self.threshold = config.threshold
        self.margin = config.match_margin
        self.spec = load_face_manifest().embedding(config.embedding)
        self.tracker: DecisionTracker[Owner, Ref] = DecisionTracker(
            k=config.k, n=config.n, cooldown_s=config.cooldown_s
        )
        self._revision: tuple[int, int] | None = None
        self._matcher: Matcher[Owner] = Matcher([], [], metric=self.spec.metric, dim=self.spec.dim)

    @property
    def matcher(self) -> Matcher[Owner]:
        revision = self.store.revision()
        if revision != self._revision:
            encodings, owners = self.store.gallery(self.spec.name, self.spec.dim)
            self._matcher = Matcher(encodings, owners, metric=self.spec.metric, dim=self.spec.dim)
            self._revision = revision
        return self._matcher

    def sightings(self, faces: list[Face]) -> list[Sighting[Owner]]:
        usable = [f for f in faces if f.height >= self.config.min_face_px]
        wrong = [f.model for f in usable if f.model != self.spec.name]
        if wrong:
            raise ValueError(f"gate {self.config.id}: faces embedded with {wrong[0]}, it matches {self.spec.name}")
        if not usable:
            return []
        matches = self.matcher.nearest([f.encoding for f in usable])
        return [
            Sighting(
                m.owner,
                m.distance,
                self.threshold,
                m.second,
                self.margin,
                f.live if self.liveness != "off" else None,
                f.evidence,
            )
            for m, f in zip(matches, usable, strict=True)
        ]

    def decide(self, t: float, now: float, faces: list[Face], ref: Ref) -> list[Decision[Ref]]:
        """One processed frame (``t`` in the tracker's time base, ``now`` wall-clock for validity)."""
        return [self._judge(a, now) for a in self.tracker.observe(t, self.sightings(faces), ref)]

    def _judge(self, agreement: Agreement[Owner, Ref], now: float) -> Decision[Ref]:
        owner = agreement.key
        live = agreement.live_score
        spoof = live is not None and live < self.config.live_threshold
        common = functools.partial(
            Decision,
            gate=self.config.id,
            distance=agreement.distance,
            t=agreement.t,
            frames=agreement.frames,
            best=agreement.best,
            live=live,
        )
        if spoof and self.liveness == "enforce":
            name = self.store.name_of(owner) if owner is not None else "unknown"
            return common(kind=AccessKind.SPOOF, owner=owner, name=name, reason=SPOOF_REASON)
        common = functools.partial(common, spoof_suspected=spoof)
        if owner is None:
            return common(kind=AccessKind.STRANGER, owner=None, name="unknown", reason="not enrolled")
        verdict = self.store.authorize(owner, self.config.id, now, consume=self.consume)
        if not verdict.allowed:
            kind = AccessKind.DENIED
        else:
            kind = AccessKind.VISITOR if owner.kind is OwnerKind.VISITOR else AccessKind.GRANTED
        return common(kind=kind, owner=owner, name=verdict.name, reason=verdict.reason)
