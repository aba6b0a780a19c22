"""Factor sets a user adds as files (a newer MEE year, a supplier's own factor)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import ConflictError
from rareeco.ledger import audit
from rareeco.ledger.models import FactorChoice, FactorSetRecord
from rareeco.ledger.structure import _check_code, get_org, now
from rareeco.reference import BUILTIN_SETS, FactorSet, parse_factor_set


def add_factor_set(session: Session, org_id: str, text: str, set_id: str, actor: str = "cli") -> FactorSet:
    """Validate and store a factor set; a changed file under the same id becomes its new version."""
    get_org(session, org_id)
    _check_code("factor set", set_id)
    if set_id in BUILTIN_SETS:
        raise ConflictError(f"{set_id!r} is the id of a built-in factor set",
                            fix="give your set another id with --set-id")
    fs = parse_factor_set(text, set_id, file_name=f"{set_id}.csv")
    same = session.execute(select(FactorSetRecord).where(FactorSetRecord.org_id == org_id,
                                                         FactorSetRecord.set_id == set_id,
                                                         FactorSetRecord.sha256 == fs.sha256)).first()
    if same:
        raise ConflictError(f"factor set {set_id!r} with this content is already added", fix="nothing to do")
    session.add(FactorSetRecord(org_id=org_id, set_id=set_id, sha256=fs.sha256, title=fs.title, content=text,
                                added_by=actor, added_at=now()))
    audit.append(session, actor, "factors.add", f"{org_id}/{set_id}", org_id,
                 {"sha256": fs.sha256, "factors": len(fs.factors)})
    return fs


def choose_sets(session: Session, org_id: str, set_ids: list[str], year: int | None, actor: str = "cli") -> None:
    """Record which user factor sets the organisation uses (for ``year``, or every year when None)."""
    from rareeco.inventory.service import user_set

    get_org(session, org_id)
    for s in set_ids:
        user_set(session, org_id, s)   # must exist
    session.add(FactorChoice(org_id=org_id, year=year, set_ids=list(set_ids), chosen_by=actor, chosen_at=now()))
    audit.append(session, actor, "factors.choose", f"{org_id}/{year or 'all years'}", org_id, {"sets": set_ids})


def chosen_sets(session: Session, org_id: str, year: int) -> list[str]:
    """The latest choice for ``year``, else the latest for every year, else none."""
    for y in (year, None):
        q = select(FactorChoice).where(FactorChoice.org_id == org_id)
        q = q.where(FactorChoice.year == y) if y is not None else q.where(FactorChoice.year.is_(None))
        rec = session.execute(q.order_by(FactorChoice.id.desc()).limit(1)).scalar_one_or_none()
        if rec is not None:
            return list(rec.set_ids)
    return []


def set_ids(session: Session, org_id: str) -> list[str]:
    """Ids of the factor sets an organisation added."""
    rows = session.execute(select(FactorSetRecord.set_id).where(FactorSetRecord.org_id == org_id)).scalars()
    return sorted(set(rows))
