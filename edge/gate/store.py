"""The resident store (SQLite, via sqlite-utils): residents, visitor passes, their face encodings, access log.

Photos are not kept unless asked for at enrolment (``keep_photos``): a row of ``encodings`` holds one
embedding of one enrolment photo, with the name of the model that made it (``model``, models/faces.yaml;
rows from before models were recorded are dlib's). Enrolment computes every embedding model of the
manifest, so a site switching a gate's ``embedding`` finds every resident already there; a model added later
is filled in by ``edge residents reencode`` from kept photos, or by enrolling the resident again.
Revoked residents and expired passes keep their encodings, so
that the gate still recognises them and logs a denial with the reason instead of an anonymous stranger;
``remove_resident`` deletes the person and the biometric data.

Every decision asks ``authorize`` at that moment, reading the rows afresh: a revocation, a pass issued or
used up, by this process or by ``edge residents`` in another, takes effect on the next decision.
``revision()`` changes whenever the gallery may have changed (SQLite's data_version covers other
connections), so the gate rebuilds its matcher only then.
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from edge.gate.enrol import Enrolled
from edge.gate.faces import ENCODING_DIM

ALL_GATES = "*"
LEGACY_MODEL = "dlib"  # encodings stored before the model was recorded


class StoreError(LookupError):
    """A resident or pass that does not exist, or a name that is ambiguous; the message says which."""


class OwnerKind(enum.StrEnum):
    RESIDENT = "resident"
    VISITOR = "visitor"


@dataclass(slots=True, frozen=True)
class Owner:
    kind: OwnerKind
    id: str


@dataclass(slots=True, frozen=True)
class Resident:
    id: str
    name: str
    gates: tuple[str, ...]
    valid_from: float | None
    valid_until: float | None
    revoked_at: float | None
    created_at: float
    encodings: int = 0  # enrolment photos
    models: tuple[str, ...] = ()  # embedding models the photos were embedded with

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "gates": list(self.gates),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "revoked_at": self.revoked_at,
            "encodings": self.encodings,
            "models": list(self.models),
        }


@dataclass(slots=True, frozen=True)
class VisitorPass:
    id: str
    name: str
    gates: tuple[str, ...]
    valid_from: float
    valid_until: float
    max_uses: int
    uses: int
    revoked_at: float | None
    issued_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "gates": list(self.gates),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "max_uses": self.max_uses,
            "uses": self.uses,
            "revoked_at": self.revoked_at,
        }


@dataclass(slots=True, frozen=True)
class Verdict:
    """The store's answer for one recognised owner at one gate and moment."""

    allowed: bool
    name: str
    reason: str


def _vector(blob: bytes, dim: int) -> np.ndarray:
    """A stored embedding: float32 now; float64 in stores from before models were recorded."""
    if len(blob) == dim * 8:
        return np.frombuffer(blob, dtype=np.float64).astype(np.float32)
    return np.frombuffer(blob, dtype=np.float32)


def _gates_ok(gates: Sequence[str], gate: str) -> bool:
    return ALL_GATES in gates or gate in gates


def _window_problem(now: float, valid_from: float | None, valid_until: float | None) -> str | None:
    if valid_from is not None and now < valid_from:
        return "not yet valid"
    if valid_until is not None and now > valid_until:
        return "expired"
    return None


class ResidentStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self._writes = 0
        self._create()

    def close(self) -> None:
        self.db.close()

    def _create(self) -> None:
        db = self.db
        db.table("residents").create(
            {
                "id": str,
                "name": str,
                "gates": str,
                "valid_from": float,
                "valid_until": float,
                "revoked_at": float,
                "created_at": float,
            },
            pk="id",
            not_null={"name", "gates", "created_at"},
            if_not_exists=True,
        )
        db.table("visitor_passes").create(
            {
                "id": str,
                "name": str,
                "gates": str,
                "valid_from": float,
                "valid_until": float,
                "max_uses": int,
                "uses": int,
                "revoked_at": float,
                "issued_at": float,
            },
            pk="id",
            not_null={"name", "gates", "valid_from", "valid_until", "max_uses", "uses", "issued_at"},
            if_not_exists=True,
        )
        db.table("encodings").create(
            {
                "id": int,
                "owner_kind": str,
                "owner_id": str,
                "encoding": bytes,
                "source": str,
                "photo": bytes,
                "created_at": float,
                "model": str,
                "sample": str,
            },
            pk="id",
            not_null={"owner_kind", "owner_id", "encoding"},
            if_not_exists=True,
        )
        if "model" not in db.table("encodings").columns_dict:  # a store from before models were recorded: dlib's
            db.table("encodings").add_column("model", str)
            db.table("encodings").add_column("sample", str)
            db.execute("UPDATE encodings SET model = ?, sample = CAST(id AS TEXT) WHERE model IS NULL", [LEGACY_MODEL])
            db.conn.commit()
        db.table("encodings").create_index(["owner_kind", "owner_id"], if_not_exists=True)
        db.table("encodings").create_index(["model"], if_not_exists=True)
        db.table("access_log").create(
            {
                "id": int,
                "ts": float,
                "gate": str,
                "kind": str,
                "result": str,
                "owner_kind": str,
                "owner_id": str,
                "name": str,
                "distance": float,
                "reason": str,
                "event_id": str,
            },
            pk="id",
            not_null={"ts", "gate", "kind", "result"},
            if_not_exists=True,
        )
        db.table("access_log").create_index(["ts"], if_not_exists=True)

    # -- change tracking ------------------------------------------------------------------------
    def revision(self) -> tuple[int, int]:
        """Changes when residents, passes or encodings may have changed (here or in another process)."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        return version, self._writes

    def _changed(self) -> None:
        self._writes += 1

    # -- residents ------------------------------------------------------------------------------
    def add_resident(
        self,
        name: str,
        photos: Sequence[Enrolled],
        *,
        gates: Sequence[str] = (ALL_GATES,),
        valid_from: float | None = None,
        valid_until: float | None = None,
        keep_photos: bool = False,
    ) -> Resident:
        name = name.strip()
        if not name:
            raise ValueError("a resident needs a name")
        if not photos:
            raise ValueError(f"resident {name!r}: at least one photo is needed")
        if valid_from is not None and valid_until is not None and valid_until <= valid_from:
            raise ValueError(f"resident {name!r}: valid_until must be after valid_from")
        resident_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.db.conn:
            self.db.table("residents").insert(
                {
                    "id": resident_id,
                    "name": name,
                    "gates": json.dumps(list(gates) or [ALL_GATES]),
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "revoked_at": None,
                    "created_at": now,
                }
            )
            self._insert_encodings(OwnerKind.RESIDENT, resident_id, photos, keep_photos, now)
        self._changed()
        return self.find_resident(resident_id)

    def _insert_encodings(
        self, kind: OwnerKind, owner_id: str, photos: Iterable[Enrolled], keep_photos: bool, now: float
    ) -> None:
        rows = []
        for p in photos:
            sample = uuid.uuid4().hex[:12]
            for i, (model, vector) in enumerate(p.encodings.items()):
                rows.append(
                    {
                        "owner_kind": kind.value,
                        "owner_id": owner_id,
                        "model": model,
                        "sample": sample,
                        "encoding": np.asarray(vector, dtype=np.float32).tobytes(),
                        "source": p.source,
                        "photo": p.jpeg if keep_photos and i == 0 else None,
                        "created_at": now,
                    }
                )
        self.db.table("encodings").insert_all(rows)

    def residents(self) -> list[Resident]:
        rows = self.db.query(
            "SELECT r.*, (SELECT COUNT(DISTINCT sample) FROM encodings e WHERE e.owner_kind = 'resident'"
            " AND e.owner_id = r.id) AS n, (SELECT GROUP_CONCAT(DISTINCT model) FROM encodings e"
            " WHERE e.owner_kind = 'resident' AND e.owner_id = r.id) AS models FROM residents r"
            " ORDER BY r.name, r.created_at"
        )
        return [self._resident(row) for row in rows]

    def find_resident(self, ref: str) -> Resident:
        """A resident by id, or by name when exactly one resident has it (case-insensitive)."""
        matches = [r for r in self.residents() if r.id == ref]
        if not matches:
            matches = [r for r in self.residents() if r.name.casefold() == ref.strip().casefold()]
        if not matches:
            raise StoreError(f"no resident {ref!r}")
        if len(matches) > 1:
            ids = ", ".join(r.id for r in matches)
            raise StoreError(f"{len(matches)} residents are named {ref!r} ({ids}): give the id")
        return matches[0]

    def revoke_resident(self, ref: str) -> Resident:
        resident = self.find_resident(ref)
        self.db.table("residents").update(resident.id, {"revoked_at": time.time()})
        self._changed()
        return self.find_resident(resident.id)

    def remove_resident(self, ref: str) -> Resident:
        """Delete a resident and their encodings and photos."""
        resident = self.find_resident(ref)
        with self.db.conn:
            self.db.table("encodings").delete_where(
                "owner_kind = ? AND owner_id = ?", [OwnerKind.RESIDENT, resident.id]
            )
            self.db.table("residents").delete(resident.id)
        self._changed()
        return resident

    @staticmethod
    def _resident(row: dict[str, Any]) -> Resident:
        return Resident(
            id=row["id"],
            name=row["name"],
            gates=tuple(json.loads(row["gates"])),
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            revoked_at=row["revoked_at"],
            created_at=row["created_at"],
            encodings=row.get("n", 0),
            models=tuple(sorted((row.get("models") or "").split(",") if row.get("models") else ())),
        )

    # -- visitor passes -------------------------------------------------------------------------
    def issue_visitor_pass(
        self,
        name: str,
        photos: Sequence[Enrolled],
        *,
        gates: Sequence[str],
        valid_from: float,
        valid_until: float,
        max_uses: int = 1,
        keep_photos: bool = False,
    ) -> VisitorPass:
        if not name.strip():
            raise ValueError("a visitor pass needs the visitor's name")
        if not photos:
            raise ValueError(f"visitor pass for {name!r}: at least one photo is needed")
        if valid_until <= valid_from:
            raise ValueError(f"visitor pass for {name!r}: valid_until must be after valid_from")
        if max_uses < 1:
            raise ValueError(f"visitor pass for {name!r}: max_uses must be at least 1")
        if not gates:
            raise ValueError(f"visitor pass for {name!r}: name the gates it opens")
        pass_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.db.conn:
            self.db.table("visitor_passes").insert(
                {
                    "id": pass_id,
                    "name": name.strip(),
                    "gates": json.dumps(list(gates)),
                    "valid_from": valid_from,
                    "valid_until": valid_until,
                    "max_uses": max_uses,
                    "uses": 0,
                    "revoked_at": None,
                    "issued_at": now,
                }
            )
            self._insert_encodings(OwnerKind.VISITOR, pass_id, photos, keep_photos, now)
        self._changed()
        return self.visitor_pass(pass_id)

    def visitor_pass(self, pass_id: str) -> VisitorPass:
        rows = list(self.db.query("SELECT * FROM visitor_passes WHERE id = ?", [pass_id]))
        if not rows:
            raise StoreError(f"no visitor pass {pass_id!r}")
        row = rows[0]
        return VisitorPass(
            id=row["id"],
            name=row["name"],
            gates=tuple(json.loads(row["gates"])),
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            max_uses=row["max_uses"],
            uses=row["uses"],
            revoked_at=row["revoked_at"],
            issued_at=row["issued_at"],
        )

    def visitor_passes(self) -> list[VisitorPass]:
        rows = self.db.query("SELECT id FROM visitor_passes ORDER BY issued_at")
        return [self.visitor_pass(row["id"]) for row in rows]

    def revoke_visitor_pass(self, pass_id: str) -> VisitorPass:
        self.visitor_pass(pass_id)
        self.db.table("visitor_passes").update(pass_id, {"revoked_at": time.time()})
        self._changed()
        return self.visitor_pass(pass_id)

    # -- matching and decisions -----------------------------------------------------------------
    def gallery(self, model: str = "mobilefacenet", dim: int = ENCODING_DIM) -> tuple[np.ndarray, list[Owner]]:
        """Every stored embedding of ``model`` as one (N, dim) float32 array, with the owner of each row."""
        rows = list(
            self.db.query("SELECT owner_kind, owner_id, encoding FROM encodings WHERE model = ? ORDER BY id", [model])
        )
        if not rows:
            return np.zeros((0, dim), dtype=np.float32), []
        vectors = [_vector(r["encoding"], dim) for r in rows]
        return np.stack(vectors), [Owner(OwnerKind(r["owner_kind"]), r["owner_id"]) for r in rows]

    def kept_photos(self, model: str) -> list[tuple[Owner, str, str, bytes]]:
        """(owner, sample, source, jpeg) of every kept photo whose sample has no ``model`` embedding yet."""
        rows = self.db.query(
            "SELECT owner_kind, owner_id, sample, source, photo FROM encodings e WHERE photo IS NOT NULL AND NOT"
            " EXISTS (SELECT 1 FROM encodings f WHERE f.sample = e.sample AND f.model = ?)",
            [model],
        )
        return [(Owner(OwnerKind(r["owner_kind"]), r["owner_id"]), r["sample"], r["source"], r["photo"]) for r in rows]

    def add_embedding(self, owner: Owner, sample: str, source: str, model: str, vector: np.ndarray) -> None:
        """One more model's embedding of an enrolment photo already stored (``edge residents reencode``)."""
        with self.db.conn:
            self.db.table("encodings").insert(
                {
                    "owner_kind": owner.kind.value,
                    "owner_id": owner.id,
                    "model": model,
                    "sample": sample,
                    "encoding": np.asarray(vector, dtype=np.float32).tobytes(),
                    "source": source,
                    "photo": None,
                    "created_at": time.time(),
                }
            )
        self._changed()

    def name_of(self, owner: Owner) -> str:
        table = "residents" if owner.kind is OwnerKind.RESIDENT else "visitor_passes"
        rows = list(self.db.query(f"SELECT name FROM {table} WHERE id = ?", [owner.id]))  # noqa: S608 (fixed names)
        return rows[0]["name"] if rows else "unknown"

    def authorize(self, owner: Owner, gate: str, now: float, *, consume: bool = True) -> Verdict:
        """May ``owner`` pass ``gate`` at ``now``? A visitor pass that allows it is used once (if ``consume``)."""
        if owner.kind is OwnerKind.RESIDENT:
            try:
                resident = self.find_resident(owner.id)
            except StoreError:
                return Verdict(False, "unknown", "removed")
            if resident.revoked_at is not None and resident.revoked_at <= now:
                return Verdict(False, resident.name, "revoked")
            problem = _window_problem(now, resident.valid_from, resident.valid_until)
            if problem:
                return Verdict(False, resident.name, problem)
            if not _gates_ok(resident.gates, gate):
                return Verdict(False, resident.name, f"not allowed at gate {gate}")
            return Verdict(True, resident.name, "resident")
        try:
            vpass = self.visitor_pass(owner.id)
        except StoreError:
            return Verdict(False, "unknown", "removed")
        if vpass.revoked_at is not None and vpass.revoked_at <= now:
            return Verdict(False, vpass.name, "pass revoked")
        problem = _window_problem(now, vpass.valid_from, vpass.valid_until)
        if problem:
            return Verdict(False, vpass.name, f"pass {problem}")
        if not _gates_ok(vpass.gates, gate):
            return Verdict(False, vpass.name, f"pass not valid at gate {gate}")
        if vpass.uses >= vpass.max_uses:
            return Verdict(False, vpass.name, "pass used up")
        if consume:
            cursor = self.db.execute(
                "UPDATE visitor_passes SET uses = uses + 1 WHERE id = ? AND uses < max_uses", [vpass.id]
            )
            self.db.conn.commit()
            if cursor.rowcount != 1:
                return Verdict(False, vpass.name, "pass used up")
            self._changed()
        return Verdict(True, vpass.name, f"visitor pass, use {vpass.uses + 1} of {vpass.max_uses}")

    def log_access(
        self,
        *,
        ts: float,
        gate: str,
        kind: str,
        result: str,
        owner: Owner | None,
        name: str | None,
        distance: float | None,
        reason: str,
        event_id: str | None,
    ) -> None:
        with self.db.conn:
            self.db.table("access_log").insert(
                {
                    "ts": ts,
                    "gate": gate,
                    "kind": kind,
                    "result": result,
                    "owner_kind": owner.kind.value if owner else None,
                    "owner_id": owner.id if owner else None,
                    "name": name,
                    "distance": distance,
                    "reason": reason,
                    "event_id": event_id,
                }
            )

    def access_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM access_log ORDER BY id DESC LIMIT ?", [limit]))
