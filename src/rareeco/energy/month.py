"""The figures of the monthly energy report (ISO 50001 §9.1 monitoring): one month of an organisation.

Energy per carrier and line [kgce, GJ], production [t], energy per tonne [kgce/t] with the change on the month
before and on the same month a year earlier, the year to date, the GB 29435 quota level each mapped product
reached over the year to date, and each line's baseline savings and CUSUM to date.  Everything comes from
:mod:`rareeco.energy.service`; the writers of :mod:`rareeco.reports.energy_report` only lay it out.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from sqlalchemy.orm import Session

import rareeco
from rareeco import settings
from rareeco.energy.enpi import change_pct
from rareeco.energy.flows import NO_LINE
from rareeco.energy.quota import check
from rareeco.energy.service import baseline, finite, flows, monthly_energy, structure_keys
from rareeco.errors import RareecoError, ValidationFailed

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[int, int]:
    """``"2025-06"`` → ``(2025, 6)``."""
    m = MONTH.match((text or "").strip())
    if not m:
        raise ValidationFailed(f"{text!r} is not a month", fix="write the month as YYYY-MM, e.g. 2025-06")
    return int(m.group(1)), int(m.group(2))


def load_quota_map(path: Path | str) -> dict[str, str]:
    """Product id → ``route:product`` of the GB 29435 template, from a YAML file."""
    data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    if not isinstance(data, dict):
        raise ValidationFailed(f"{path} is not a mapping", fix="write one line per product: product-id: route:product")
    return {str(k): str(v) for k, v in data.items()}


def demo_quota_map() -> dict[str, str]:
    """The demo's quota map (``src/rareeco/demo/energy-quota.yaml``)."""
    text = resources.files("rareeco.demo").joinpath("energy-quota.yaml").read_text("utf-8")
    return {str(k): str(v) for k, v in (yaml.safe_load(text) or {}).items()}


def configured_quota_map(demo_mode: bool = False) -> dict[str, str] | None:
    """The quota map of ``RAREECO_ENERGY_QUOTA_MAP``; in demo mode without one, the demo's; else None."""
    path = settings.get("RAREECO_ENERGY_QUOTA_MAP")
    if path:
        return load_quota_map(path)
    return demo_quota_map() if demo_mode else None


def _figures(frame: pd.DataFrame) -> dict[str, float | None]:
    kgce, gj, t = float(frame["kgce"].sum()), float(frame["gj"].sum()), float(frame["production_t"].sum())
    return {"kgce": kgce, "gj": gj, "production_t": t, "kgce_per_t": kgce / t if t else None,
            "gj_per_t": gj / t if t else None}


def _change(now: float | None, before: float | None) -> float | None:
    return finite(change_pct(now, before)) if now is not None and before else None


def month_summary(session: Session, org_id: str, month: str, convention: str = "equivalent",
                  quota_map: dict[str, str] | None = None, baseline_year: int | None = None) -> dict[str, Any]:
    """Every figure of the monthly energy report of ``org_id`` for ``month`` (``YYYY-MM``).

    Parameters
    ----------
    quota_map : dict, optional
        Product id → ``route:product`` of the GB 29435 template; without it no quota levels.
    baseline_year : int, optional
        The baselines' year (default: the year before the month's).

    Returns
    -------
    dict
        ``organisation``, ``month``, ``year``, ``convention``; ``lines`` (per line: the month's ``kgce``, ``gj``,
        ``production_t``, ``kgce_per_t``, ``gj_per_t``, ``mom_change_pct``, ``yoy_change_pct``, and ``ytd``
        with its own ``yoy_change_pct``); ``organisation_total`` (the same for everything made);
        ``carriers`` (per site, line and carrier: amount in its unit, kgce, GJ); ``quota`` (rows of
        :func:`rareeco.energy.quota.check` on the year-to-date EnPI); ``baselines`` (per line: model, R², the
        month's savings, savings and CUSUM to date with Guideline 14 uncertainty, or why there is none);
        ``savings_to_date`` (the lines' sum, uncertainty in quadrature); ``organisation_cusum`` (per month: the
        lines' savings and their running sum); ``trend_kgce_per_t`` (the organisation's kgce/t per month 1–12 of
        this year, to the month, and of last year); ``notes``; ``generated``.
    """
    year, m = parse_month(month)
    baseline_year = baseline_year or year - 1
    this = monthly_energy(session, org_id, year, convention)
    last = monthly_energy(session, org_id, year - 1, convention)
    prev_frame, prev_m = (this, m - 1) if m > 1 else (last, 12)
    notes: list[str] = []
    if this[this["month"] == m].empty:
        notes.append(f"no line of {org_id} recorded energy or production in {month}")

    def block(sel_this: pd.DataFrame, sel_prev: pd.DataFrame, sel_ly: pd.DataFrame, ytd: pd.DataFrame,
              ytd_ly: pd.DataFrame) -> dict[str, Any]:
        now, prev, ly = _figures(sel_this), _figures(sel_prev), _figures(sel_ly)
        y, yl = _figures(ytd), _figures(ytd_ly)
        return {**now, "mom_change_pct": _change(now["kgce_per_t"], prev["kgce_per_t"]),
                "yoy_change_pct": _change(now["kgce_per_t"], ly["kgce_per_t"]),
                "previous_month_kgce_per_t": prev["kgce_per_t"], "last_year_kgce_per_t": ly["kgce_per_t"],
                "ytd": {**y, "yoy_change_pct": _change(y["kgce_per_t"], yl["kgce_per_t"]),
                        "last_year_kgce_per_t": yl["kgce_per_t"]}}

    lines: dict[str, Any] = {}
    for line in sorted(set(this["line"]) | set(last["line"])):
        a, b = this[this["line"] == line], last[last["line"] == line]
        p = prev_frame[prev_frame["line"] == line]
        if a[a["month"] <= m].empty:
            continue
        lines[str(line)] = block(a[a["month"] == m], p[p["month"] == prev_m], b[b["month"] == m],
                                 a[a["month"] <= m], b[b["month"] <= m])
    org_total = block(this[this["month"] == m], prev_frame[prev_frame["month"] == prev_m],
                      last[last["month"] == m], this[this["month"] <= m], last[last["month"] <= m])

    fl = flows(session, org_id, year, convention, months=(m, m))
    without_line = sum(r["kgce"] or 0.0 for r in fl["by_line_carrier"] if r["line"] == NO_LINE.format(site=r["site"]))
    if without_line:
        notes.append(f"{without_line:,.0f} kgce recorded without a line (site level) are in the energy by carrier "
                     "but not in the energy per tonne")
    products = _ytd_products(session, org_id, year, m, lines)
    quota = check(products, quota_map) if quota_map else []
    if quota_map is None:
        notes.append("no quota map configured: GB 29435 levels are not shown")

    baselines: dict[str, Any] = {}
    total, var68, var90, counted = 0.0, 0.0, 0.0, 0
    for line in lines:
        try:
            b = baseline(session, org_id, line, baseline_year, year, convention, through_month=m)
        except RareecoError as exc:
            baselines[line] = {"model": None, "why": f"{exc.message}", "savings": None}
            continue
        sv = b["savings"]
        month_row = next((r for r in b["reporting"] if r["month"] == month), None)
        why = None if b["model"] else "; ".join(sorted({r for x in b["models"] for r in x["reasons"]}))
        baselines[line] = {
            "model": ({k: b["model"][k] for k in ("variables", "formula", "r2", "adj_r2", "n", "cv_rmse")}
                      if b["model"] else None),
            "why": why, "savings": sv, "month_savings_kgce": month_row["savings_kgce"] if month_row else None,
            "cusum_kgce": b["reporting"][-1]["cusum_kgce"] if b["reporting"] else None,
            "reporting": b["reporting"], "range_warnings": b["range_warnings"], "notes": b["notes"],
        }
        if sv:
            total += sv["total_kgce"]
            var68 += (sv["uncertainty"][0]["kgce"] or 0.0) ** 2
            var90 += (sv["uncertainty"][1]["kgce"] or 0.0) ** 2
            counted += 1
    cusum: dict[str, float] = {}
    for b in baselines.values():
        if b["savings"]:
            for row in b["reporting"]:
                cusum[row["month"]] = cusum.get(row["month"], 0.0) + (row["savings_kgce"] or 0.0)
    running, org_cusum = 0.0, []
    for mo in sorted(cusum):
        running += cusum[mo]
        org_cusum.append({"month": mo, "savings_kgce": cusum[mo], "cusum_kgce": running})

    def trend(frame: pd.DataFrame, upto: int) -> list[float | None]:
        out: list[float | None] = []
        for mo in range(1, 13):
            f = frame[frame["month"] == mo]
            out.append(_figures(f)["kgce_per_t"] if mo <= upto and len(f) else None)
        return out

    return {
        "organisation": org_id, "month": month, "year": year, "month_number": m, "convention": convention,
        "trend_kgce_per_t": {"this_year": trend(this, m), "last_year": trend(last, 12)},
        "organisation_cusum": org_cusum,
        "baseline_year": baseline_year, "unit": "kgce",
        "lines": lines, "organisation_total": org_total,
        "carriers": fl["by_line_carrier"], "carrier_totals": fl["carriers"],
        "quota": quota, "quota_basis": "year to date",
        "baselines": baselines,
        "savings_to_date": {"lines": counted, "total_kgce": total if counted else None,
                            "uncertainty_68_kgce": math.sqrt(var68) if counted else None,
                            "uncertainty_90_kgce": math.sqrt(var90) if counted else None,
                            "note": "sum over the lines with a valid baseline; uncertainties added in quadrature "
                                    "(lines taken as independent)"},
        "notes": notes,
        "generated": {"software_version": rareeco.__version__,
                      "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def _ytd_products(session: Session, org_id: str, year: int, m: int, lines: dict[str, Any]) -> dict[str, Any]:
    """Product → the year-to-date kgce/t of the line that made it (mass basis, as the EnPI)."""
    from calendar import monthrange
    from datetime import date

    from rareeco.inventory.service import load_records

    records = load_records(session, org_id, date(year, 1, 1), date(year, m, monthrange(year, m)[1]))
    made = records[(records["activity"] == "production.output") & records["line_id"].notna()]
    _, keys, codes = structure_keys(session, org_id)
    out: dict[str, Any] = {}
    for p, ln in zip(made["product_id"], made["line_id"], strict=True):
        line = keys[int(ln)]
        if pd.notna(p) and line in lines and lines[line]["ytd"]["kgce_per_t"] is not None:
            out[codes[int(p)]] = {"line": line, "kgce_per_t": lines[line]["ytd"]["kgce_per_t"]}
    return out
