"""Energy pages (ISO 50001): energy per tonne (EnPI) with its trend and quota levels, regression baselines with
savings and CUSUM, the energy-flow Sankey, the register of energy-saving measures with their savings, and the
monthly energy report as a download.

The figures come from :mod:`rareeco.energy.service`, :mod:`rareeco.energy.measures_service` and
:mod:`rareeco.energy.month`; this module only arranges
them for the templates ``energy*.html`` (charts in ``static/energy.js``).  Importing it registers the pages
(``rareeco.web.app.PAGE_MODULES``); every route asks ``ctx.need(READ)`` before it reads anything, and reads only
the viewer's organisation.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.energy.enpi import CONVENTIONS
from rareeco.energy.month import configured_quota_map, month_summary, parse_month
from rareeco.energy.quota import check
from rareeco.energy.service import baseline, enpi, find_line, flows, monthly_energy
from rareeco.energy.targets import targets
from rareeco.errors import NotFoundError, RareecoError
from rareeco.ledger.models import Product
from rareeco.ledger.tokens import READ
from rareeco.web.app import PAGE_MODULES, Ctx
from rareeco.web.energy_text import translate
from rareeco.web.pages import data_years

ORG = ""        # the line selector's value for the whole organisation
MONTHS = list(range(1, 13))


def _year(text: str, years: list[int]) -> int:
    text = (text or "").strip()
    return int(text) if text.isdigit() and int(text) in years else years[0]


def _convention(text: str) -> str:
    return text if text in CONVENTIONS else CONVENTIONS[0]


def _per_t(kgce: float, t: float) -> float | None:
    return kgce / t if t else None


def _pct(now: float | None, before: float | None) -> float | None:
    return 100.0 * (now / before - 1.0) if now is not None and before else None


def _series(frame: pd.DataFrame, line: str) -> list[dict[str, Any]]:
    """Per month 1–12 of one line (or of the organisation, ``line == ORG``): kgce, GJ, t, kgce/t, change on the
    month before [%]."""
    f = frame if line == ORG else frame[frame["line"] == line]
    g = f.groupby("month")[["kgce", "gj", "production_t"]].sum() if len(f) else pd.DataFrame()
    rows: list[dict[str, Any]] = []
    for m in MONTHS:
        if m not in g.index:
            rows.append({"month": m, "kgce": None, "gj": None, "production_t": None, "kgce_per_t": None,
                         "mom_change_pct": None})
            continue
        kgce, gj, t = (float(v) for v in g.loc[m, ["kgce", "gj", "production_t"]].to_numpy())
        per_t = _per_t(kgce, t)
        prev = rows[-1]["kgce_per_t"] if rows else None
        rows.append({"month": m, "kgce": kgce, "gj": gj, "production_t": t, "kgce_per_t": per_t,
                     "mom_change_pct": _pct(per_t, prev)})
    return rows


def product_names(session: Session, org_id: str, lang: str) -> dict[str, str]:
    """Product code → its name in ``lang`` (the code when it has none)."""
    out = {}
    for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars():
        out[p.code] = (p.name_zh if lang == "zh" and p.name_zh else p.name) or p.code
    return out


def enpi_data(session: Session, org_id: str, lang: str, year_text: str, convention_text: str, line: str,
              demo_mode: bool) -> dict[str, Any]:
    """The EnPI page: the year's table per line, the monthly trend of the year and the year before, quota levels."""
    years = data_years(session, org_id)
    year, convention = _year(year_text, years), _convention(convention_text)
    r = enpi(session, org_id, year, convention)
    this = pd.DataFrame(r["monthly"], columns=["line", "month", "kgce", "gj", "production_t", "kgce_per_t"])
    last = monthly_energy(session, org_id, year - 1, convention)
    lines = sorted(r["lines"])
    unknown = _known(line, lines) is None and bool(line)
    line = _known(line, lines) or ORG
    now, before = _series(this, line), _series(last, line) if len(last) else _series(this.iloc[0:0], line)
    kgce, gj = float(this["kgce"].sum()), float(this["gj"].sum())
    made = float(this["production_t"].sum())
    org_row = {"kgce": kgce, "gj": gj, "production_t": made, "kgce_per_t": _per_t(kgce, made),
               "gj_per_t": _per_t(gj, made), "yoy_change_pct": r["yoy_change_pct"]}
    quota_map = configured_quota_map(demo_mode)
    quota = check(r["products"], quota_map) if quota_map else None
    names = product_names(session, org_id, lang)
    data_months = sorted({int(m) for m in this["month"]}) if len(this) else []
    report_months = [f"{year}-{m:02d}" for m in data_months]
    chart = {"months": MONTHS, "unit": "kgce/t",
             "series": [{"year": year - 1, "values": [_round(x["kgce_per_t"]) for x in before]},
                        {"year": year, "values": [_round(x["kgce_per_t"]) for x in now]}]}
    return {"year": year, "years": years, "convention": convention, "conventions": CONVENTIONS, "r": r,
            "lines": lines, "line": line, "unknown_line": unknown, "monthly": now, "org_row": org_row, "quota": quota,
            "targets_set": targets(session, org_id, year),
            "quota_configured": quota_map is not None, "names": names, "chart": chart,
            "report_months": report_months, "report_month": report_months[-1] if report_months else None}


def _known(line: str, lines: list[str]) -> str | None:
    """The line key of ``line`` (``SITE/LINE``) if it is one of ``lines`` (a filter naming no line of the
    organisation is ignored, as the other pages ignore one)."""
    if not line:
        return None
    try:
        return find_line(line, lines)
    except NotFoundError:
        return None


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def baseline_data(session: Session, org_id: str, lang: str, line: str, year_text: str, baseline_text: str,
                  convention_text: str) -> dict[str, Any]:
    """The baseline page of one line: every model, the chosen one, baseline vs actual, CUSUM, savings."""
    years = data_years(session, org_id)
    year, convention = _year(year_text, years), _convention(convention_text)
    lines = sorted(set(monthly_energy(session, org_id, year, convention)["line"]))
    base_years = [y for y in years if y <= year]
    default_base = year - 1 if year - 1 in base_years else base_years[-1]
    base_year = int(baseline_text) if baseline_text.isdigit() and int(baseline_text) in base_years else default_base
    out: dict[str, Any] = {"year": year, "years": years, "base_year": base_year, "base_years": base_years,
                           "lines": lines, "convention": convention, "conventions": CONVENTIONS,
                           "unknown_line": bool(line) and _known(line, lines) is None,
                           "tx": lambda text: translate(text, lang), "b": None, "problem": None, "chart": None}
    out["line"] = _known(line, lines) or (lines[0] if lines else "")
    if not lines:
        return out
    try:
        b = baseline(session, org_id, out["line"], base_year, year, convention)
    except RareecoError as exc:       # no baseline data, nothing varies: a state of the ledger, shown on the page
        out["problem"] = exc
        return out
    rep = b["reporting"]
    chart = {
        "months": [x["month"] for x in rep], "unit": "kgce",
        "actual": [_round(x["actual_kgce"], 1) for x in rep], "baseline": [_round(x["baseline_kgce"], 1) for x in rep],
        "savings": [_round(x["savings_kgce"], 1) for x in rep], "cusum": [_round(x["cusum_kgce"], 1) for x in rep],
        "fit_months": [x["month"] for x in b["baseline_period"]],
        "fit_actual": [_round(x["kgce"], 1) for x in b["baseline_period"]],
        "fit_model": [_round(x["fitted_kgce"], 1) for x in b["baseline_period"]],
    }
    return {**out, "b": b, "chart": chart}


def flows_data(session: Session, org_id: str, lang: str, year_text: str, convention_text: str) -> dict[str, Any]:
    """The energy-flow page: carriers → sites → lines → products [kgce] for a year."""
    years = data_years(session, org_id)
    year, convention = _year(year_text, years), _convention(convention_text)
    f = flows(session, org_id, year, convention, lang=lang)
    names = product_names(session, org_id, lang)
    sk = f["sankey"]
    nodes = [{**n, "label": names.get(n["id"][2:], n["label"]) if n["level"] == "product" else n["label"]}
             for n in sk["nodes"]]
    chart = {"nodes": [{"name": n["id"], "label": n["label"], "level": n["level"]} for n in nodes],
             "links": [{"source": x["source"], "target": x["target"], "value": round(x["kgce"], 1)}
                       for x in sk["links"]],
             "unit": "kgce"}
    lines: dict[str, dict[str, float]] = {}
    for row in f["by_line_carrier"]:
        lines.setdefault(row["line"], {})[row["carrier"]] = row["kgce"]
    return {"year": year, "years": years, "convention": convention, "conventions": CONVENTIONS, "f": f,
            "chart": chart, "nodes": nodes, "by_line": lines, "carriers": f["carriers"]}


def _unc(d: dict[str, Any] | None, confidence: float) -> float | None:
    """An uncertainty of a ``{"0.68": …, "0.9": …}`` map (keys are strings after JSON)."""
    for k, v in (d or {}).items():
        if abs(float(k) - confidence) < 1e-9:
            return float(v) if v is not None else None
    return None


def measures_data(session: Session, org_id: str, lang: str, year_text: str, convention_text: str) -> dict[str, Any]:
    """The measures page: the register with each measure's estimated and verified savings in a year, the option C
    scopes, and how much of the EnPI change the measures explain (:mod:`rareeco.energy.measures_service`)."""
    from rareeco.energy.measures_service import savings

    years = data_years(session, org_id)
    year, convention = _year(year_text, years), _convention(convention_text)
    r = savings(session, org_id, year, convention)
    rows = []
    for m in r["measures"]:
        est, ver = m.get("estimated") or {}, m.get("verified") or {}
        name = (m.get("name_zh") if lang == "zh" else None) or m.get("name") or m["code"]
        rows.append({**m, "label": name, "est_year": est.get("year") or {}, "est_annual": est.get("annual") or {},
                     "ver": ver, "ver_own": ver.get("status") == "verified" and ver.get("option") == "B",
                     "ver_u68": _unc(ver.get("uncertainty_kgce"), 0.68)})
    chart = {"labels": [x["label"] for x in rows], "codes": [x["code"] for x in rows], "unit": "kgce",
             "estimated": [_round((x["est_year"] or {}).get("kgce"), 1) for x in rows],
             "verified": [_round(x["ver"].get("kgce"), 1) if x["ver_own"] else None for x in rows]}
    scopes = [{**g, "u68": _unc(g.get("uncertainty_kgce"), 0.68), "u90": _unc(g.get("uncertainty_kgce"), 0.9)}
              for g in r["verified_scopes"]]
    return {"year": year, "years": years, "convention": convention, "conventions": CONVENTIONS, "r": r,
            "rows": rows, "scopes": scopes, "chart": chart, "tx": lambda text: translate(text, lang)}


def report_file(session: Session, org_id: str, month: str, fmt: str, lang: str, convention: str,
                demo_mode: bool) -> tuple[bytes, str, str]:
    """The monthly energy report: (content, media type, file name)."""
    from rareeco.reports.energy_report import energy_pdf, energy_xlsx

    parse_month(month)
    summary = month_summary(session, org_id, month, _convention(convention), configured_quota_map(demo_mode))
    write = energy_xlsx if fmt == "xlsx" else energy_pdf
    with tempfile.TemporaryDirectory() as tmp:
        data = write(summary, Path(tmp) / f"report.{fmt}", lang).read_bytes()
    media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
             else "application/pdf")
    return data, media, f"energy-{org_id}-{month}-{lang}.{fmt}"


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render
    page = app.state.web_page
    demo_mode = bool(getattr(app.state, "demo_mode", False))

    @router.get("/energy")
    def energy_page(year: str = "", convention: str = "", line: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = enpi_data(ctx.session, ctx.need(READ), ctx.lang, year, convention, line, demo_mode)
            return web_render(ctx, "energy.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.get("/energy/baseline")
    def baseline_page(line: str = "", year: str = "", baseline_year: str = "", convention: str = "",
                      ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = baseline_data(ctx.session, ctx.need(READ), ctx.lang, line, year, baseline_year, convention)
            return web_render(ctx, "energy_baseline.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.get("/energy/flows")
    def flows_page(year: str = "", convention: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = flows_data(ctx.session, ctx.need(READ), ctx.lang, year, convention)
            return web_render(ctx, "energy_flows.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.get("/energy/measures")
    def measures_page(year: str = "", convention: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = measures_data(ctx.session, ctx.need(READ), ctx.lang, year, convention)
            return web_render(ctx, "energy_measures.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.get("/energy/report")
    def report(month: str = "", fmt: str = "pdf", convention: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            org = ctx.need(READ)
            if fmt not in ("pdf", "xlsx"):
                raise NotFoundError(f"no {fmt!r} report", fix="use the links of the energy page (PDF or Excel)")
            data, media, name = report_file(ctx.session, org, month, fmt, ctx.lang, convention, demo_mode)
            return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)

