"""Verification periods: a verifier locks a year or month; unlocking is recorded, never erased."""

from __future__ import annotations

import calendar
import re
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import ConflictError, NotFoundError, PeriodLockedError, ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.models import PeriodLock
from rareeco.ledger.structure import get_org, now

PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def period_bounds(period: str) -> tuple[date, date]:
    """``YYYY`` or ``YYYY-MM`` → first and last day (inclusive)."""
    m = PERIOD.match(period)
    if not m or (m.group(2) and not 1 <= int(m.group(2)) <= 12):
        raise ValidationFailed(f"period {period!r} is not YYYY or YYYY-MM", fix="write e.g. 2024 or 2024-03")
    year = int(m.group(1))
    if m.group(2):
        month = int(m.group(2))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return date(year, 1, 1), date(year, 12, 31)


def active_locks(session: Session, org_id: str) -> list[PeriodLock]:
    return list(session.execute(select(PeriodLock).where(PeriodLock.org_id == org_id,
                                                         PeriodLock.unlocked_at.is_(None))
                                .order_by(PeriodLock.start)).scalars())


def overlapping_lock(session: Session, org_id: str, start: date, end: date) -> PeriodLock | None:
    for lock in active_locks(session, org_id):
        if lock.start <= end and start <= lock.end:
            return lock
    return None


def ensure_unlocked(session: Session, org_id: str, start: date, end: date, doing: str) -> None:
    """Raise :class:`PeriodLockedError` if [start, end] touches a locked period."""
    lock = overlapping_lock(session, org_id, start, end)
    if lock is not None:
        raise PeriodLockedError(
            f"{doing} refused: period {lock.period} of {org_id!r} is locked (verified by {lock.locked_by} "
            f"on {lock.locked_at:%Y-%m-%d})",
            fix=f"ask the verifier to unlock it with: rareeco period unlock {org_id} {lock.period} --comment ...")


def lock(session: Session, org_id: str, period: str, actor: str, comment: str = "") -> PeriodLock:
    get_org(session, org_id)
    start, end = period_bounds(period)
    existing = overlapping_lock(session, org_id, start, end)
    if existing is not None:
        raise ConflictError(f"period {existing.period} is already locked", fix="unlock it first or lock another")
    pl = PeriodLock(org_id=org_id, period=period, start=start, end=end, locked_by=actor, locked_at=now(),
                    comment=comment)
    session.add(pl)
    session.flush()
    audit.append(session, actor, "period.lock", f"{org_id}/{period}", org_id, {"comment": comment})
    return pl


def unlock(session: Session, org_id: str, period: str, actor: str, comment: str) -> PeriodLock:
    if not comment.strip():
        raise ValidationFailed("unlocking needs a comment", fix="say why with --comment")
    pl = session.execute(select(PeriodLock).where(PeriodLock.org_id == org_id, PeriodLock.period == period,
                                                  PeriodLock.unlocked_at.is_(None))).scalar_one_or_none()
    if pl is None:
        raise NotFoundError(f"period {period} of {org_id!r} is not locked", fix="see: rareeco period list ORG")
    pl.unlocked_by, pl.unlocked_at, pl.unlock_comment = actor, now(), comment
    audit.append(session, actor, "period.unlock", f"{org_id}/{period}", org_id, {"comment": comment})
    return pl


def all_locks(session: Session, org_id: str) -> list[PeriodLock]:
    return list(session.execute(select(PeriodLock).where(PeriodLock.org_id == org_id)
                                .order_by(PeriodLock.locked_at)).scalars())
