"""The gate's local book of signed QR passes: uses counted and revocations kept, in the resident store's SQLite file.

A QR pass carries its own validity (signed, edge.gate.visitor_qr); what it cannot carry is how often it was
used and whether the platform revoked it since. Both live here, so the gate decides with no uplink:
``use(claims, now)`` counts one use atomically (two gates of one gateway cannot both take the last use),
``revoke(pass_id)`` records a revocation (from the signed ``revoke_visitor_pass`` command) that holds even for
a pass never seen here yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlite_utils

from edge.gate.visitor_qr import PassClaims


@dataclass(slots=True, frozen=True)
class PassUse:
    allowed: bool
    reason: str
    use: int  # the use this was (1-based) when allowed; the uses so far when not


class PassBook:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        db.table("qr_pass_uses").create(
            {"pass_id": str, "uses": int, "max_uses": int, "first_used": float, "last_used": float},
            pk="pass_id",
            not_null={"uses", "max_uses"},
            if_not_exists=True,
        )
        db.table("qr_pass_revocations").create({"pass_id": str, "revoked_at": float}, pk="pass_id", if_not_exists=True)

    def revoked(self, pass_id: str) -> bool:
        return bool(list(self.db.query("SELECT 1 FROM qr_pass_revocations WHERE pass_id = ?", [pass_id])))

    def revoke(self, pass_id: str, now: float | None = None) -> float:
        at = time.time() if now is None else now
        with self.db.conn:
            self.db.execute(
                "INSERT OR IGNORE INTO qr_pass_revocations (pass_id, revoked_at) VALUES (?, ?)", [pass_id, at]
            )
        row = self.db.execute("SELECT revoked_at FROM qr_pass_revocations WHERE pass_id = ?", [pass_id]).fetchone()
        return float(row[0])

    def uses(self, pass_id: str) -> int:
        row = self.db.execute("SELECT uses FROM qr_pass_uses WHERE pass_id = ?", [pass_id]).fetchone()
        return int(row[0]) if row else 0

    def check(self, claims: PassClaims) -> PassUse:
        """What ``use`` would answer, without using the pass (replay, dry runs)."""
        if self.revoked(claims.id):
            return PassUse(False, "revoked", self.uses(claims.id))
        used = self.uses(claims.id)
        if used >= claims.uses:
            return PassUse(False, "used up", used)
        return PassUse(True, f"visitor pass, use {used + 1} of {claims.uses}", used + 1)

    def use(self, claims: PassClaims, now: float) -> PassUse:
        """Count one use if the pass is neither revoked nor used up (one transaction)."""
        with self.db.conn:
            if self.revoked(claims.id):
                return PassUse(False, "revoked", self.uses(claims.id))
            self.db.execute(
                "INSERT OR IGNORE INTO qr_pass_uses (pass_id, uses, max_uses, first_used, last_used)"
                " VALUES (?, 0, ?, ?, ?)",
                [claims.id, claims.uses, now, now],
            )
            cursor = self.db.execute(
                "UPDATE qr_pass_uses SET uses = uses + 1, last_used = ? WHERE pass_id = ? AND uses < ?",
                [now, claims.id, claims.uses],
            )
            used = self.uses(claims.id)
        if cursor.rowcount != 1:
            return PassUse(False, "used up", used)
        return PassUse(True, f"visitor pass, use {used} of {claims.uses}", used)
