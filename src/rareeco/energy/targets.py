"""Energy targets (ISO 50001 §6.2 objectives and energy targets): an EnPI value per line and year to reach.

Targets are the organisation's own decisions, so they live in its settings (``settings["energy"]["targets"]``,
``{"2025": {"baotou / separation": 1500.0}}`` in kgce/t of the convention the target names) and are changed
through :func:`set_target`, which the audit log records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from rareeco.errors import ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.structure import get_org


def targets(session: Session, org_id: str, year: int) -> dict[str, dict[str, Any]]:
    """Line key → ``{"kgce_per_t": …, "convention": …}`` of ``year`` (empty when none is set)."""
    org = get_org(session, org_id)
    energy = (org.settings or {}).get("energy") or {}
    return dict((energy.get("targets") or {}).get(str(year), {}))


def set_target(session: Session, org_id: str, year: int, line: str, kgce_per_t: float,
               convention: str = "equivalent", actor: str = "cli") -> None:
    """Set (or replace) the target of ``line`` ("site / line") for ``year`` [kgce/t]."""
    from rareeco.energy.enpi import CONVENTIONS

    if not kgce_per_t > 0:
        raise ValidationFailed(f"target {kgce_per_t} kgce/t is not positive", fix="give the energy per tonne to reach")
    if convention not in CONVENTIONS:
        raise ValidationFailed(f"unknown convention {convention!r}", fix=f"use {' or '.join(CONVENTIONS)}")
    org = get_org(session, org_id)
    settings = dict(org.settings or {})
    energy = dict(settings.get("energy") or {})
    all_targets = {y: dict(v) for y, v in (energy.get("targets") or {}).items()}
    all_targets.setdefault(str(year), {})[line] = {"kgce_per_t": float(kgce_per_t), "convention": convention}
    org.settings = {**settings, "energy": {**energy, "targets": all_targets}}
    audit.append(session, actor, "energy.target", f"{org_id}/{line}/{year}", org_id,
                 {"kgce_per_t": kgce_per_t, "convention": convention})


def compare(lines: dict[str, dict[str, Any]], set_targets: dict[str, dict[str, Any]], convention: str
            ) -> dict[str, dict[str, Any]]:
    """Per line with a target: actual and target [kgce/t], the gap [%] (negative: better than the target) and
    whether it is met.  A target set in another convention is not compared (the values are not commensurable)."""
    out = {}
    for line, t in set_targets.items():
        actual = lines.get(line, {}).get("kgce_per_t")
        if actual is None or t.get("convention", "equivalent") != convention:
            continue
        target = float(t["kgce_per_t"])
        out[line] = {"target_kgce_per_t": target, "kgce_per_t": actual,
                     "gap_pct": 100.0 * (actual / target - 1.0), "met": actual <= target}
    return out
