"""Signed visitor QR passes: issued by the platform, verified at the gate with no uplink.

A pass is a small JSON object signed with the platform's Ed25519 key over its RFC 8785 canonical form
(edge.core.signed_json, the scheme of the platform's commands). The QR text is::

    CEP1.<base32(canonical JSON)>.<base32(64-byte signature)>

with the fields ``id`` (pass id), ``site``, ``gates`` (gate ids, or ``["*"]``), ``nbf`` / ``exp`` (valid from /
until, epoch seconds), ``uses`` (how many times it opens a gate) and optional ``name`` (the visitor). Base32
(A-Z, 2-7) and the prefix are all QR alphanumeric characters, so the code is stored at 5.5 bits a character:
a pass for one gate with a name is about 300 characters, a version 10 code (57x57 modules); base64 in byte
mode would need version 12.

``verify_text`` checks, in this order, and refuses with one reason each: ``malformed`` (not a pass of this
format), ``forged`` (signature, or a body that is not canonical), ``another site``, ``another gate``,
``not yet valid``, ``expired``. ``revoked`` and ``used up`` need the gate's local book (edge.gate.pass_book).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, ValidationError

from edge.core.configbase import Strict
from edge.core.signed_json import SignedJsonError, b32, canonical, from_b32, sign, verify

PREFIX = "CEP1."
MAX_TEXT = 1500  # a phone-screen QR holds far less; anything longer is not ours
ALL_GATES = "*"


class PassRefused(ValueError):
    """The pass is refused; ``reason`` is one of the refusal reasons, the message says more."""

    def __init__(self, reason: str, detail: str, claims: PassClaims | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.claims = claims


class PassClaims(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{4,40}$", description="pass id")
    site: str = Field(min_length=1, max_length=64, description="site id the pass is for")
    gates: list[str] = Field(min_length=1, max_length=20, description="gate ids, or ['*'] for every gate")
    nbf: int = Field(ge=0, description="valid from, epoch seconds")
    exp: int = Field(ge=0, description="valid until, epoch seconds")
    uses: int = Field(ge=1, le=1000, description="how many times the pass opens a gate")
    name: str | None = Field(default=None, max_length=60, description="the visitor's name")

    def opens(self, gate: str) -> bool:
        return ALL_GATES in self.gates or gate in self.gates


@dataclass(slots=True, frozen=True)
class VerifiedPass:
    claims: PassClaims
    text: str


def issue_text(private_key: Ed25519PrivateKey, claims: PassClaims) -> str:
    """The QR text of a pass (platform side: needs the private key)."""
    if claims.exp <= claims.nbf:
        raise ValueError("a pass must end after it starts (exp > nbf)")
    body = claims.model_dump(exclude_none=True)
    return f"{PREFIX}{b32(canonical(body))}.{b32(sign(private_key, body))}"


def looks_like_pass(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_text(text: str, public_key: Ed25519PublicKey) -> PassClaims:
    """The signed claims of a pass text; PassRefused (malformed or forged) otherwise. No site/time checks."""
    if not looks_like_pass(text) or len(text) > MAX_TEXT:
        raise PassRefused("malformed", "not a visitor pass of this site's format")
    parts = text[len(PREFIX) :].split(".")
    if len(parts) != 2:
        raise PassRefused("malformed", "a pass has a body and a signature")
    try:
        body, signature = from_b32(parts[0]), from_b32(parts[1])
    except ValueError:
        raise PassRefused("malformed", "body or signature is not base32") from None
    try:
        verify(public_key, body, signature)
    except SignedJsonError:
        raise PassRefused("forged", "the signature is not the platform's") from None
    try:
        data = json.loads(body)
        if canonical(data) != body:
            raise PassRefused("forged", "the signed body is not canonical JSON")
        return PassClaims.model_validate(data)
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, PassRefused):
            raise
        raise PassRefused("malformed", f"signed, but not a pass: {exc}") from None


def verify_text(text: str, public_key: Ed25519PublicKey, *, site: str, gate: str, now: float) -> VerifiedPass:
    """A pass valid here and now (apart from revocation and uses), or PassRefused with the reason."""
    claims = parse_text(text, public_key)
    if claims.site != site:
        raise PassRefused("another site", f"the pass is for site {claims.site}", claims)
    if not claims.opens(gate):
        raise PassRefused("another gate", f"the pass opens {', '.join(claims.gates)}, not {gate}", claims)
    if now < claims.nbf:
        raise PassRefused("not yet valid", f"valid from {claims.nbf}", claims)
    if now > claims.exp:
        raise PassRefused("expired", f"valid until {claims.exp}", claims)
    return VerifiedPass(claims, text)
