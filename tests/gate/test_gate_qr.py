"""Signed visitor QR passes: every refusal reason, uses counted locally, revocation, codes read off camera frames."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.signed_json import b32, canonical
from edge.gate.decider import AccessKind
from edge.gate.pass_book import PassBook
from edge.gate.qr_decider import QrDecider
from edge.gate.qr_reader import QrReader
from edge.gate.store import ResidentStore
from edge.gate.visitor_qr import PREFIX, PassClaims, issue_text
from tests.gate.qr_frames import KINDS, frame_with_pass

PLATFORM = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # fixed: the same QR codes in every run
NOW = 1_800_000_000.0


def claims(**overrides) -> PassClaims:
    base = {
        "id": "pass-0001",
        "site": "site1",
        "gates": ["main"],
        "nbf": int(NOW - 60),
        "exp": int(NOW + 3600),
        "uses": 2,
        "name": "Wang Fang",
    }
    return PassClaims(**{**base, **overrides})


@pytest.fixture
def book(tmp_path: Path):
    store = ResidentStore(tmp_path / "residents.db")
    yield PassBook(store.db)
    store.close()


def decider(book: PassBook, gate: str = "main", key=PLATFORM.public_key()) -> QrDecider:
    return QrDecider(gate=gate, site="site1", public_key=key, book=book, cooldown_s=2.0)


def shown(d: QrDecider, text: str, t: float = 0.0):
    (decision,) = d.decide(t, NOW, (text,), ref=0)
    return decision


def test_a_valid_pass_opens_for_its_uses_then_is_used_up(book) -> None:
    d = decider(book)
    text = issue_text(PLATFORM, claims())
    first = shown(d, text, 0.0)
    assert (first.kind, first.name, first.reason, first.owner.id) == (
        AccessKind.VISITOR,
        "Wang Fang",
        "visitor pass, use 1 of 2",
        "pass-0001",
    )
    # held up for a few frames: one use only
    assert d.decide(0.1, NOW, (text,), 1) == [] and d.decide(1.5, NOW, (text,), 2) == []
    assert book.uses("pass-0001") == 1
    second = shown(d, text, 10.0)  # shown again after being out of view for the cool-down
    assert (second.kind, second.reason) == (AccessKind.VISITOR, "visitor pass, use 2 of 2")
    third = shown(d, text, 20.0)
    assert (third.kind, third.result, third.reason) == (AccessKind.DENIED, "denied", "used up")
    assert book.uses("pass-0001") == 2


def forged_body(text: str) -> str:
    """The same signature over a body with one more use: what a visitor editing the pass would make."""
    body = canonical({**claims().model_dump(exclude_none=True), "uses": 99})
    return f"{PREFIX}{b32(body)}.{text.rsplit('.', 1)[1]}"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: issue_text(Ed25519PrivateKey.generate(), claims()), "forged"),
        (lambda: forged_body(issue_text(PLATFORM, claims())), "forged"),
        (lambda: issue_text(PLATFORM, claims(exp=int(NOW - 10), nbf=int(NOW - 3600))), "expired"),
        (lambda: issue_text(PLATFORM, claims(nbf=int(NOW + 600), exp=int(NOW + 7200))), "not yet valid"),
        (lambda: issue_text(PLATFORM, claims(site="site2")), "another site"),
        (lambda: issue_text(PLATFORM, claims(gates=["garage"])), "another gate"),
        (lambda: PREFIX + "NOT-A-PASS", "malformed"),
        (lambda: PREFIX + "MFRGG.MFRGG", "forged"),
    ],
)
def test_every_refusal_has_its_reason(book, make, reason) -> None:
    decision = shown(decider(book), make())
    assert (decision.kind, decision.result, decision.reason) == (AccessKind.DENIED, "denied", reason)
    assert book.uses("pass-0001") == 0


def test_revoked_pass_is_refused_even_if_never_seen_before(book) -> None:
    book.revoke("pass-0001")
    decision = shown(decider(book), issue_text(PLATFORM, claims()))
    assert (decision.kind, decision.reason) == (AccessKind.DENIED, "revoked")


def test_a_pass_for_every_gate_and_a_gateway_without_key(book) -> None:
    text = issue_text(PLATFORM, claims(gates=["*"]))
    assert shown(decider(book, gate="garage"), text).kind is AccessKind.VISITOR
    assert shown(decider(book, key=None), text).reason == "no platform key"


def test_other_qr_codes_are_ignored(book) -> None:
    assert decider(book).decide(0.0, NOW, ("https://example.com/menu",), 0) == []


def test_the_pass_is_compact_enough_for_a_phone_screen() -> None:
    import segno

    text = issue_text(PLATFORM, claims(id="3f2a9c1d0e4b5a67", gates=["north-gate"], name="Wang Fang", uses=5))
    code = segno.make_qr(text, error="m")
    assert code.mode == "alphanumeric" and code.version <= 10, (code.mode, code.version, len(text))


@pytest.mark.parametrize("kind", KINDS)
def test_the_gate_reads_the_pass_off_a_camera_frame(kind: str, tmp_path: Path) -> None:
    text = issue_text(PLATFORM, claims())
    frame = frame_with_pass(text, kind)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])  # as the MJPEG camera sends it
    assert ok
    assert QrReader().read(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)) == (text,)


def test_visitor_pass_issue_prints_and_writes_the_qr(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from edge.gate.cli import register

    key = tmp_path / "platform.key"
    key.write_bytes(
        PLATFORM.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    app = typer.Typer()
    register(app)
    png = tmp_path / "pass.png"
    result = CliRunner().invoke(
        app,
        [
            "visitor-pass",
            "issue",
            "--key",
            str(key),
            "--site",
            "site1",
            "--gate",
            "main",
            "--valid-until",
            "2099-01-01",
            "--uses",
            "3",
            "--name",
            "Wang Fang",
            "--png",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "\u2580" in result.output or "\u2588" in result.output  # the QR drawn with block characters
    (text,) = QrReader().read(cv2.imread(str(png)))
    decision = shown(decider_for_cli(tmp_path), text)
    expected = (AccessKind.VISITOR, "Wang Fang", "visitor pass, use 1 of 3")
    assert (decision.kind, decision.name, decision.reason) == expected
    bad = CliRunner().invoke(
        app,
        [
            "visitor-pass",
            "issue",
            "--key",
            str(key),
            "--site",
            "site1",
            "--gate",
            "main",
            "--valid-until",
            "2000-01-01",
            "--png",
            str(png),
        ],
    )
    assert bad.exit_code == 2 and "exp > nbf" in bad.output


def decider_for_cli(tmp_path: Path) -> QrDecider:
    store = ResidentStore(tmp_path / "cli.db")
    return QrDecider(
        gate="main", site="site1", public_key=PLATFORM.public_key(), book=PassBook(store.db), cooldown_s=2.0
    )


def platform_key_b64() -> str:
    raw = PLATFORM.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def test_two_gates_cannot_both_take_the_last_use(tmp_path: Path) -> None:
    """Two connections to one store (two gates, or the gateway and `edge` in another process)."""
    stores = [ResidentStore(tmp_path / "shared.db") for _ in range(2)]
    books = [PassBook(s.db) for s in stores]
    last = claims(uses=1)
    results = [book.use(last, NOW) for book in books]
    assert [r.allowed for r in results] == [True, False] and results[1].reason == "used up"
    assert books[0].uses(last.id) == books[1].uses(last.id) == 1
    assert books[1].check(last).reason == "used up"
    for s in stores:
        s.close()
