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
    later = store.add_resident("temp", enrolled["biden"][:1], gates=["*"], valid_from=now + 3600,
                               valid_until=now + 7200)
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
    vpass = store.issue_visitor_pass("guest", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 60,
                                     valid_until=now + 3600, max_uses=2)
    guest = Owner(OwnerKind.VISITOR, vpass.id)
    assert store.authorize(guest, "side", now).reason == "pass not valid at gate side"
    assert store.authorize(guest, "main", now, consume=False).allowed
    assert store.visitor_pass(vpass.id).uses == 0  # a dry run does not use the pass
    first, second, third = (store.authorize(guest, "main", now) for _ in range(3))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert second.reason == "visitor pass, use 2 of 2" and third.reason == "pass used up"
    expired = store.issue_visitor_pass("late", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 7200,
                                       valid_until=now - 3600)
    assert store.authorize(Owner(OwnerKind.VISITOR, expired.id), "main", now).reason == "pass expired"
    fresh = store.issue_visitor_pass("x", enrolled["alex_lacamoire"], gates=["main"], valid_from=now - 1,
                                     valid_until=now + 60)
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
