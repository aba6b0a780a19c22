"""Append-only, hash-chained audit log.

Each entry's ``hash`` is SHA-256 over its sequence number, time, organisation, actor,
action, subject, canonical-JSON details and the previous entry's hash, so an edited,
inserted or deleted row breaks the chain from that point (:func:`verify`).  The
database triggers of migration 0001 refuse UPDATE and DELETE as a second line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from rareeco.ledger.models import AuditEntry

GENESIS = "0" * 64


def _canonical(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(seq: int, at: str, org_id: str | None, actor: str, action: str, subject: str,
               details: str, prev_hash: str) -> str:
    payload = "\x1f".join([str(seq), at, org_id or "", actor, action, subject, details, prev_hash])
    return hashlib.sha256(payload.encode()).hexdigest()


def append(session: Session, actor: str, action: str, subject: str, org_id: str | None = None,
           details: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction (so it commits or rolls back with the change)."""
    if session.get_bind().dialect.name == "postgresql":
        # One chain: serialise appenders for the rest of this transaction.
        session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
    seq = (last.seq + 1) if last else 1
    prev = last.hash if last else GENESIS
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    det = _canonical(details or {})
    entry = AuditEntry(seq=seq, at=at, org_id=org_id, actor=actor, action=action, subject=subject,
                       details=det, prev_hash=prev,
                       hash=entry_hash(seq, at, org_id, actor, action, subject, det, prev))
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainReport:
    ok: bool
    entries: int
    problems: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "problems": self.problems}


def verify(session: Session) -> ChainReport:
    """Walk the chain from the first entry; report every break (edited, inserted or deleted rows)."""
    problems: list[str] = []
    prev = GENESIS
    expected_seq = 1
    count = 0
    for e in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if e.seq != expected_seq:
            problems.append(f"entry {expected_seq}" + (f"–{e.seq - 1}" if e.seq - 1 > expected_seq else "")
                            + " missing (deleted)")
        if e.prev_hash != prev:
            problems.append(f"entry {e.seq}: previous-hash link broken (an earlier entry was changed or removed)")
        if entry_hash(e.seq, e.at, e.org_id, e.actor, e.action, e.subject, e.details, e.prev_hash) != e.hash:
            problems.append(f"entry {e.seq}: content does not match its hash (edited)")
        prev = e.hash
        expected_seq = e.seq + 1
    return ChainReport(not problems, count, problems)


def entries(session: Session, org_id: str | None, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    if org_id is not None:
        q = q.where(AuditEntry.org_id == org_id)
    return list(session.execute(q).scalars())


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditEntry)).scalar_one())
