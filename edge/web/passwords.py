"""Password hashes for console users: argon2id (argon2-cffi), self-describing strings.

New hashes are argon2id in the PHC format (``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``: OWASP's current
minimum, 19 MiB and two passes, a fraction of scrypt's 16 MiB x N=2^14 wall time on a Pi). Hashes made before,
``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``, still verify: the cost parameters travel with every hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id at OWASP's first recommended setting (m=19 MiB, t=2, p=1)
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID)
_MAX_ARGON2_MEMORY_KIB = 256 * 1024

N, R, P = 2**14, 8, 1  # the scrypt parameters of hashes made before argon2id
KEY_LEN = 32
SALT_LEN = 16
_MAX_N = 2**20


def hash_password(password: str, *, n: int | None = None, r: int = R, p: int = P) -> str:
    """An argon2id hash; with ``n``, a scrypt hash in the former format (tests make cheap or old hashes so)."""
    if not password:
        raise ValueError("the password is empty")
    if n is None:
        return ARGON2.hash(password)
    return _hash_scrypt(password, n=n, r=r, p=p)


def _hash_scrypt(password: str, *, n: int, r: int, p: int) -> str:
    if not password:
        raise ValueError("the password is empty")
    salt = os.urandom(SALT_LEN)
    digest = _scrypt(password, salt, n, r, p, KEY_LEN)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    if encoded.startswith("$argon2"):
        try:
            return ARGON2.verify(encoded, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            return False
    n, r, p, salt, expected = _parse(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def check_hash_format(encoded: str) -> None:
    """Raise ValueError naming what is wrong with a stored hash (used by the config model)."""
    if encoded.startswith("$argon2"):
        _parse_argon2(encoded)
        return
    _parse(encoded)


def _parse_argon2(encoded: str) -> None:
    from argon2 import extract_parameters

    if not encoded.startswith("$argon2id$"):
        raise ValueError("password_hash: only argon2id is accepted among argon2 hashes")
    try:
        params = extract_parameters(encoded)
    except (InvalidHashError, ValueError) as exc:
        raise ValueError(f"password_hash: not a valid argon2id hash ({exc})") from None
    if params.memory_cost > _MAX_ARGON2_MEMORY_KIB:
        raise ValueError(f"password_hash: m={params.memory_cost} KiB is over {_MAX_ARGON2_MEMORY_KIB} KiB")


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            "password_hash must be an argon2id hash ($argon2id$v=19$m=...) or scrypt$n$r$p$salt$hash "
            "(see `edge web hash-password`)"
        )
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
