"""Ed25519 signatures over RFC 8785 canonical JSON (JCS): the one signing scheme of the platform and the gateway.

``canonical(value)`` is the JSON Canonicalization Scheme (RFC 8785, via the ``rfc8785`` package: keys sorted by
UTF-16 code units, ECMAScript number formatting, no whitespace), so that the platform (any language) and the
gateway sign and verify the same bytes. ``sign`` and ``verify`` are the Ed25519 halves; they take and give the
raw 64-byte signature, and callers choose how to carry it (base64 in a command, base64url in a QR pass).
Kept in a module of its own, with no knowledge of commands or passes, so both use it.
"""

from __future__ import annotations

import base64
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignedJsonError(ValueError):
    """A value that cannot be canonicalised, or a signature that does not verify."""


def canonical(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SignedJsonError(f"not canonicalisable JSON: {exc}") from None


def sign(private_key: Ed25519PrivateKey, value: Any) -> bytes:
    """The 64-byte Ed25519 signature of ``canonical(value)``."""
    return private_key.sign(canonical(value))


def verify(public_key: Ed25519PublicKey, message: bytes, signature: bytes) -> None:
    """Raise SignedJsonError unless ``signature`` is the key's signature of exactly ``message``."""
    try:
        public_key.verify(signature, message)
    except (InvalidSignature, ValueError):
        raise SignedJsonError("bad signature") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """base64url without padding (as in JWS); raises ValueError on anything else."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b32(data: bytes) -> str:
    """Base32 without padding: only A-Z and 2-7, so a QR code stores it in alphanumeric mode (5.5 bits a
    character, 8.8 bits a byte, against 10.7 for base64 in byte mode: a smaller code for the same pass)."""
    return base64.b32encode(data).rstrip(b"=").decode("ascii")


def from_b32(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in text):
        raise ValueError("not base32")
    return base64.b32decode(text + "=" * (-len(text) % 8))
