"""Ed25519 signatures on platform commands (command version 2).

The platform signs the RFC 8785 canonical form (JSON Canonicalization Scheme: keys sorted by UTF-16 code
units, no spaces, numbers as ECMAScript prints them, UTF-8) of every field but ``signature``, and puts the
base64 signature in ``signature``. Any language with an Ed25519 and a JCS implementation produces the same
bytes (docs/mqtt-api.md shows a Node.js signer; tests/edge/test_signing_v2.py runs it). The signed body names
the site and gateway it is for (``site_id``, ``gateway_id``), so a command captured at one gateway is refused
by every other. The gateway holds only the public key.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import rfc8785  # RFC 8785 canonical JSON (Trail of Bits, pure Python, no dependencies)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignatureError(ValueError):
    pass


COMMAND_VERSION = 2


def canonical(command: dict[str, Any]) -> bytes:
    """The signed bytes: RFC 8785 of every field but ``signature`` (ValueError for a non-finite number)."""
    body = {k: v for k, v in command.items() if k != "signature"}
    try:
        return rfc8785.dumps(body)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise SignatureError(f"not canonicalizable: {exc}") from None


def sign_command(private_key: Ed25519PrivateKey, command: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``command`` (with ``site_id`` and ``gateway_id``) as version 2 with its signature, as the
    platform sends it."""
    for name in ("site_id", "gateway_id"):
        if not command.get(name):
            raise ValueError(f"a v2 command names its audience: {name} is missing")
    body = {**command, "v": COMMAND_VERSION}
    signature = private_key.sign(canonical(body))
    return {**body, "signature": base64.b64encode(signature).decode()}


def verify_command(public_key: Ed25519PublicKey, command: dict[str, Any]) -> None:
    signature = command.get("signature")
    if not isinstance(signature, str) or not signature:
        raise SignatureError("unsigned command")
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, canonical(command))
    except (ValueError, InvalidSignature):
        raise SignatureError("bad signature") from None


def load_public_key(text: str) -> Ed25519PublicKey:
    """A PEM public key, or the 32 raw key bytes in base64."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError as exc:
        raise SignatureError(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("the platform key must be an Ed25519 key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 private key")
    return key


def generate_keypair(private_path: Path, public_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
