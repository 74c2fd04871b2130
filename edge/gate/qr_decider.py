"""QR visitor passes at one gate: the texts read in a frame in, access decisions out (synchronous, clock-free).

A signed pass needs no agreement over frames (the signature is the proof, a misread fails it), so the first
frame that decodes it decides; after that the same pass is not decided again until it has been out of
view for the gate's ``cooldown_s`` (a visitor holding up a phone for three seconds uses it once). QR codes
that are not passes (a poster's URL) are ignored. Refusals carry one reason each: malformed, forged,
another site, another gate, not yet valid, expired, revoked, used up; and "no platform key" when the
gateway has none configured to verify with.
"""

from __future__ import annotations

import functools
from typing import Generic, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.gate.decider import AccessKind, Decision
from edge.gate.pass_book import PassBook
from edge.gate.store import Owner, OwnerKind
from edge.gate.visitor_qr import PassRefused, looks_like_pass, verify_text

Ref = TypeVar("Ref")
NO_DISTANCE = float("inf")


class QrDecider(Generic[Ref]):
    def __init__(
        self,
        *,
        gate: str,
        site: str,
        public_key: Ed25519PublicKey | None,
        book: PassBook,
        cooldown_s: float,
        consume: bool = True,
    ) -> None:
        self.gate, self.site, self.public_key, self.book = gate, site, public_key, book
        self.cooldown_s, self.consume = cooldown_s, consume
        self._seen: dict[str, float] = {}  # text -> last time seen since its decision

    def decide(self, t: float, now: float, texts: tuple[str, ...], ref: Ref) -> list[Decision[Ref]]:
        self._seen = {text: last for text, last in self._seen.items() if t - last < self.cooldown_s}
        decisions = []
        for text in dict.fromkeys(texts):
            if not looks_like_pass(text):
                continue
            if text in self._seen:
                self._seen[text] = t
                continue
            self._seen[text] = t
            decisions.append(self._judge(text, t, now, ref))
        return decisions

    def _judge(self, text: str, t: float, now: float, ref: Ref) -> Decision[Ref]:
        common = functools.partial(Decision, gate=self.gate, distance=NO_DISTANCE, t=t, frames=1, best=ref)
        if self.public_key is None:
            return common(kind=AccessKind.DENIED, owner=None, name="visitor pass", reason="no platform key")
        try:
            verified = verify_text(text, self.public_key, site=self.site, gate=self.gate, now=now)
        except PassRefused as refused:
            claims = refused.claims
            owner = Owner(OwnerKind.VISITOR, claims.id) if claims else None
            name = (claims.name or "visitor pass") if claims else "visitor pass"
            return common(kind=AccessKind.DENIED, owner=owner, name=name, reason=refused.reason)
        claims = verified.claims
        use = self.book.use(claims, now) if self.consume else self.book.check(claims)
        owner = Owner(OwnerKind.VISITOR, claims.id)
        kind = AccessKind.VISITOR if use.allowed else AccessKind.DENIED
        return common(kind=kind, owner=owner, name=claims.name or "visitor", reason=use.reason)
