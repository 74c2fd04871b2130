"""Password hashes for console users: scrypt from the standard library, self-describing strings.

Format: ``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``. The cost parameters travel with the hash,
so raising them later does not invalidate stored hashes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1
KEY_LEN = 32
SALT_LEN = 16
_MAX_N = 2**20


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(SALT_LEN)
    digest = _scrypt(password, salt, n, r, p, KEY_LEN)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, expected = _parse(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def check_hash_format(encoded: str) -> None:
    """Raise ValueError naming what is wrong with a stored hash (used by the config model)."""
    _parse(encoded)


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("password_hash must look like scrypt$n$r$p$salt$hash (see `edge web hash-password`)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise ValueError("password_hash: n, r and p must be integers") from None
    if n < 2 or n > _MAX_N or n & (n - 1):
        raise ValueError(f"password_hash: n={n} must be a power of two between 2 and {_MAX_N}")
    if not (1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError(f"password_hash: r={r} or p={p} is out of range (r 1-32, p 1-16)")
    try:
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except binascii.Error:
        raise ValueError("password_hash: salt and hash must be base64") from None
    if len(salt) < 8 or not 16 <= len(digest) <= 128:
        raise ValueError("password_hash: salt or hash is too short")
    return n, r, p, salt, digest


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=128 * r * (n + p + 2) + 1024 * 1024
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
