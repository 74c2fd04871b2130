"""Password hashes: round trip, wrong passwords, and stored hashes that are malformed name what is wrong."""

from __future__ import annotations

import pytest

from edge.web.passwords import check_hash_format, hash_password, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    encoded = hash_password("s3cret pass", n=2**10)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert verify_password("s3cret pass", encoded)
    assert not verify_password("s3cret pass ", encoded)
    assert not verify_password("", encoded)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    assert hash_password("same", n=2**10) != hash_password("same", n=2**10)


def test_new_hashes_are_argon2id_at_current_guidance_and_old_scrypt_ones_still_verify() -> None:
    encoded = hash_password("x")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$") and verify_password("x", encoded)
    assert not verify_password("y", encoded)
    check_hash_format(encoded)
    old = hash_password("x", n=2**14)  # what the console stored before argon2id
    assert old.startswith("scrypt$16384$8$1$") and verify_password("x", old) and not verify_password("y", old)


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


GOOD = hash_password("pw", n=2**10)
SALT, DIGEST = GOOD.split("$")[4:6]


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("plain-text-password", "scrypt\\$n\\$r\\$p\\$salt\\$hash"),
        (f"bcrypt$1024$8$1${SALT}${DIGEST}", "scrypt\\$n"),
        (f"scrypt$abc$8$1${SALT}${DIGEST}", "must be integers"),
        (f"scrypt$1000$8$1${SALT}${DIGEST}", "power of two"),
        (f"scrypt$1024$99$1${SALT}${DIGEST}", "out of range"),
        (f"scrypt$1024$8$1$not*base64${DIGEST}", "base64"),
        (f"scrypt$1024$8$1$AAAA${DIGEST}", "too short"),
    ],
)
def test_a_malformed_hash_names_the_problem(encoded: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_hash_format(encoded)
    with pytest.raises(ValueError, match=message):
        verify_password("pw", encoded)
