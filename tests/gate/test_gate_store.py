"""The resident store: who may pass which gate when; passes used up; revocation at once; another process sees it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from edge.gate.store import Owner, OwnerKind, ResidentStore, StoreError


def resident(store: ResidentStore, name: str) -> Owner:
    return Owner(OwnerKind.RESIDENT, store.find_resident(name).id)


def test_residents_and_their_encodings(store: ResidentStore, enrolled) -> None:
    names = [r.name for r in store.residents()]
    assert names == sorted(enrolled)
    assert store.find_resident("OBAMA").encodings == 2
    matrix, owners = store.gallery()
    assert matrix.shape == (sum(len(p) for p in enrolled.values()), 128)
    assert owners.count(resident(store, "obama")) == 2
    np.testing.assert_array_equal(matrix[owners.index(resident(store, "biden"))], enrolled["biden"][0].encoding)
    # photos are not kept unless asked for
    assert store.db.execute("SELECT COUNT(*) FROM encodings WHERE photo IS NOT NULL").fetchone()[0] == 0


def test_gate_validity_and_revocation(store: ResidentStore, enrolled) -> None:
    now = time.time()
    obama = resident(store, "obama")
    assert store.authorize(obama, "main", now).allowed
    assert store.authorize(obama, "garage", now).reason == "not allowed at gate garage"
    store.revoke_resident("obama")
    verdict = store.authorize(obama, "main", time.time())
    assert (verdict.allowed, verdict.name, verdict.reason) == (False, "obama", "revoked")
    later = store.add_resident(
        "temp", enrolled["biden"][:1], gates=["*"], valid_from=now + 3600, valid_until=now + 7200
    )
    temp = Owner(OwnerKind.RESIDENT, later.id)
    assert store.authorize(temp, "garage", now).reason == "not yet valid"
    assert store.authorize(temp, "garage", now + 4000).allowed
    assert store.authorize(temp, "garage", now + 8000).reason == "expired"


def test_remove_deletes_the_biometrics(store: ResidentStore) -> None:
    obama = resident(store, "obama")
    before = len(store.gallery()[1])
    store.remove_resident(obama.id)
    assert len(store.gallery()[1]) == before - 2
    assert store.authorize(obama, "main", time.time()).reason == "removed"
    with pytest.raises(StoreError, match="no resident 'obama'"):
        store.find_resident("obama")


def test_ambiguous_name_needs_the_id(store: ResidentStore, enrolled) -> None:
    store.add_resident("Obama", enrolled["obama"][:1])
    with pytest.raises(StoreError, match="2 residents are named 'obama'.*give the id"):
        store.remove_resident("obama")


def test_visitor_pass_window_and_uses(store: ResidentStore, enrolled) -> None:
    now = time.time()
    vpass = store.issue_visitor_pass(
        "guest", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 60, valid_until=now + 3600, max_uses=2
    )
    guest = Owner(OwnerKind.VISITOR, vpass.id)
    assert store.authorize(guest, "side", now).reason == "pass not valid at gate side"
    assert store.authorize(guest, "main", now, consume=False).allowed
    assert store.visitor_pass(vpass.id).uses == 0  # a dry run does not use the pass
    first, second, third = (store.authorize(guest, "main", now) for _ in range(3))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert second.reason == "visitor pass, use 2 of 2" and third.reason == "pass used up"
    expired = store.issue_visitor_pass(
        "late", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 7200, valid_until=now - 3600
    )
    assert store.authorize(Owner(OwnerKind.VISITOR, expired.id), "main", now).reason == "pass expired"
    fresh = store.issue_visitor_pass(
        "x", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 1, valid_until=now + 60
    )
    store.revoke_visitor_pass(fresh.id)
    assert store.authorize(Owner(OwnerKind.VISITOR, fresh.id), "main", time.time()).reason == "pass revoked"


def test_bad_passes_are_refused(store: ResidentStore, enrolled) -> None:
    now = time.time()
    photos = enrolled["biden"]
    with pytest.raises(ValueError, match="valid_until must be after valid_from"):
        store.issue_visitor_pass("v", photos, gates=["main"], valid_from=now, valid_until=now - 1)
    with pytest.raises(ValueError, match="max_uses must be at least 1"):
        store.issue_visitor_pass("v", photos, gates=["main"], valid_from=now, valid_until=now + 1, max_uses=0)
    with pytest.raises(ValueError, match="at least one photo"):
        store.add_resident("nobody", [])
    with pytest.raises(StoreError, match="no visitor pass 'nope'"):
        store.revoke_visitor_pass("nope")


def test_changes_from_another_connection_are_seen(store: ResidentStore, tmp_path: Path) -> None:
    before = store.revision()
    other = ResidentStore(store.path)  # e.g. `edge residents remove` while the gateway runs
    try:
        other.revoke_resident("biden")
    finally:
        other.close()
    assert store.revision() != before
    assert store.authorize(resident(store, "biden"), "main", time.time()).reason == "revoked"


def test_every_embedding_records_its_model(store: ResidentStore, enrolled) -> None:
    for model in ("mobilefacenet", "dlib"):
        matrix, owners = store.gallery(model)
        assert matrix.shape == (sum(len(p) for p in enrolled.values()), 128) and matrix.dtype == np.float32
    assert store.find_resident("obama").models == ("dlib", "mobilefacenet")
    assert store.gallery("facenet512")[1] == []


def test_a_store_from_before_models_were_recorded_is_read_as_dlib(tmp_path: Path, enrolled) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE residents (id TEXT PRIMARY KEY, name TEXT NOT NULL, gates TEXT NOT NULL, "
        "valid_from FLOAT, valid_until FLOAT, revoked_at FLOAT, created_at FLOAT NOT NULL)"
    )
    db.execute(
        "CREATE TABLE encodings (id INTEGER PRIMARY KEY, owner_kind TEXT NOT NULL, owner_id TEXT NOT NULL, "
        "encoding BLOB NOT NULL, source TEXT, photo BLOB, created_at FLOAT)"
    )
    db.execute("INSERT INTO residents VALUES ('r1', 'Old Timer', '[\"*\"]', NULL, NULL, NULL, 1.0)")
    old = np.asarray(enrolled["biden"][0].encodings["dlib"], dtype=np.float64)
    db.execute(
        "INSERT INTO encodings (owner_kind, owner_id, encoding, source) VALUES ('resident', 'r1', ?, 'x')",
        [old.tobytes()],
    )
    db.commit()
    db.close()
    store = ResidentStore(path)
    matrix, owners = store.gallery("dlib")
    np.testing.assert_allclose(matrix[0], old, rtol=1e-6)
    assert owners == [Owner(OwnerKind.RESIDENT, "r1")] and store.gallery("mobilefacenet")[1] == []
    (resident,) = store.residents()
    assert (resident.encodings, resident.models) == (1, ("dlib",))
    store.close()


def test_reencode_adds_a_model_from_kept_photos_and_names_who_must_come_back(tmp_path: Path, faces_dir) -> None:
    import typer
    from typer.testing import CliRunner

    from edge.gate.cli import register
    from edge.gate.enrol import Enroller

    store = ResidentStore(tmp_path / "r.db")
    dlib_only = Enroller(["dlib"])
    photo = faces_dir / "residents" / "biden" / "biden.jpg"
    store.add_resident("Kept", [dlib_only.enrol_file(photo)], keep_photos=True)
    store.add_resident("Gone", [dlib_only.enrol_file(photo)])
    store.close()
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        ["residents", "reencode", "--embedding", "mobilefacenet", "--store", str(tmp_path / "r.db")],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert "1 photo(s) embedded with mobilefacenet" in result.output and "enrol again: Gone" in result.output
    store = ResidentStore(tmp_path / "r.db")
    assert {r.name: r.models for r in store.residents()} == {"Gone": ("dlib",), "Kept": ("dlib", "mobilefacenet")}
    assert len(store.gallery("mobilefacenet")[1]) == 1
    store.close()
