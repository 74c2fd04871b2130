"""Ed25519 signatures on platform commands.

The platform signs the canonical JSON of a command (every field but ``signature``; keys sorted, no
spaces, UTF-8) and puts the base64 signature in ``signature``. The gateway holds only the public key.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignatureError(ValueError):
    pass


def canonical(command: dict[str, Any]) -> bytes:
    body = {k: v for k, v in command.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_command(private_key: Ed25519PrivateKey, command: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``command`` with its signature, as the platform sends it."""
    signature = private_key.sign(canonical(command))
    return {**command, "signature": base64.b64encode(signature).decode()}


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
    private_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    private_path.chmod(0o600)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ))
