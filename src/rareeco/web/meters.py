"""The meters page (ISO 50001 §6.6 energy-data collection): the meter tree with each meter's energy in a year, the
sub-meter balance per month, one meter's days and hours, and the upload of interval readings from CSV.

* ``GET /energy/meters?year=&meter=&month=`` — everything read from the roll-ups of :mod:`rareeco.timeseries.store`
  through :mod:`rareeco.energy.meters`; charts in ``static/meters.js``.
* ``POST /energy/meters/import`` — a CSV file and its timestamp convention (``stamp``: start or end), stored by
  :func:`rareeco.ingest.meter_csv.import_csv` inside a savepoint: a blocking finding, a repeated file or an
  unreadable file leaves nothing behind and is shown on the page (never a server error).

Importing this module registers the pages (``rareeco.web.app.PAGE_MODULES``).  The page asks ``ctx.need(READ)``,
the upload ``ctx.need(WRITE)`` after its CSRF check, before either reads anything; both read only the viewer's
organisation.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.energy.meters import balance, meters, totals, tree
from rareeco.errors import RareecoError, ValidationFailed
from rareeco.ledger.models import Meter, Rollup, Series
from rareeco.ledger.tokens import READ, WRITE
from rareeco.reference.catalogue import activities
from rareeco.timeseries.store import rollup
from rareeco.units import conversion_factor
from rareeco.web.app import PAGE_MODULES, Ctx, error_status
from rareeco.web.uploads import read_upload

#: Larger files: the command line (``rareeco meter import`` streams them in chunks).
STAMPS = ("start", "end")
YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
EPOCH = datetime(1970, 1, 1)


# ------------------------------------------------------------------ small helpers

def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1)


def _next_month(year: int, month: int) -> datetime:
    return datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)


def _round(v: float | None, digits: int = 3) -> float | None:
    return None if v is None or pd.isna(v) else round(float(v), digits)


def meter_years(session: Session, ms: list[Meter]) -> list[int]:
    """Calendar years (local time) in which any of ``ms`` has readings, newest first."""
    ids = [m.series_id for m in ms if m.series_id is not None]
    if not ids:
        return []
    starts = session.execute(select(Rollup.start).where(Rollup.series_id.in_(ids), Rollup.grain == "m")
                             .distinct()).scalars()
    return sorted({(EPOCH + timedelta(seconds=int(s))).year for s in starts}, reverse=True)


def _year(text: str, years: list[int]) -> int:
    text = (text or "").strip()
    if text.isdigit() and int(text) in years:
        return int(text)
    return years[0] if years else datetime.now().year


def _month(text: str) -> int | None:
    """A month 1–12 from ``6``, ``06`` or ``2025-06`` (anything else: None, the page picks one)."""
    text = (text or "").strip()
    m = YEAR_MONTH.match(text)
    if m:
        text = m.group(2)
    return int(text) if text.isdigit() and 1 <= int(text) <= 12 else None


def carrier_label(carrier: str, lang: str) -> str:
    a = activities().get(carrier)
    return a.label(lang) if a else carrier


# ------------------------------------------------------------------ the page

def _balances(session: Session, org_id: str, ms: list[Meter], year: int, monthly: pd.DataFrame
              ) -> list[dict[str, Any]]:
    """Per meter with sub-meters: the months of the year (main, Σ sub-meters, unaccounted, %, missing) and the
    stacked-bar chart data (each sub-meter's month, in the main meter's unit, and the unaccounted rest)."""
    rows = balance(session, org_id, "m", datetime(year, 1, 1), datetime(year + 1, 1, 1))
    by_code = {m.code: m for m in ms}
    out: list[dict[str, Any]] = []
    for code in dict.fromkeys(r["meter"] for r in rows):
        parent = by_code[code]
        months = [r | {"month": pd.Timestamp(r["period"]).month} for r in rows if r["meter"] == code]
        labels = [f"{year}-{r['month']:02d}" for r in months]
        subs = []
        for sub_code in months[0]["sub_meters"]:
            sub = by_code[sub_code]
            factor = conversion_factor(sub.unit, parent.unit)
            f = monthly[monthly["meter"] == sub_code]
            value = {int(t.month): float(v) * factor for t, v in zip(f["start"], f["total"], strict=True)}
            subs.append({"code": sub_code, "values": [_round(value.get(r["month"])) for r in months]})
        chart = {"meter": code, "unit": parent.unit, "months": labels, "subs": subs,
                 "unaccounted": [_round(r["unaccounted"]) for r in months],
                 "main": [_round(r["main"]) for r in months]}
        out.append({"meter": code, "name": parent.name, "unit": parent.unit, "months": months, "chart": chart,
                    "main": sum(r["main"] for r in months), "sub_total": sum(r["sub_total"] for r in months),
                    "unaccounted": sum(r["unaccounted"] for r in months)})
    for b in out:
        b["unaccounted_pct"] = 100.0 * b["unaccounted"] / b["main"] if b["main"] else None
    return out


def _days_and_hours(session: Session, m: Meter, series: Series | None, year: int, month: int) -> dict[str, Any]:
    """One meter's daily totals and hourly values in a month, in the unit of its readings (a level series —
    a temperature, say — is averaged rather than summed)."""
    if series is None:
        return {"unit": m.unit, "days": [], "hours": [], "level": False}
    start, end = _month_start(year, month), _next_month(year, month)
    level = series.kind == "level"

    def values(grain: str) -> list[tuple[datetime, float]]:
        f = rollup(session, [series.id], grain, start, end)
        v = f["total"] / f["n"] if level else f["total"]
        return [(t.to_pydatetime(), float(x)) for t, x in zip(f["start"], v, strict=True)]

    days, hours = values("d"), values("h")
    return {"unit": series.unit, "level": level,
            "days": [{"day": t.day, "value": v} for t, v in days],
            "hours": [{"at": t.strftime("%Y-%m-%d %H:%M"), "value": v} for t, v in hours]}


def meters_data(session: Session, org_id: str, lang: str, year_text: str = "", meter_text: str = "",
                month_text: str = "") -> dict[str, Any]:
    """The meters page: the tree with each meter's total in the year, the balances, the chosen meter's month."""
    ms = meters(session, org_id)
    rows = tree(session, org_id)
    years = meter_years(session, ms)
    year = _year(year_text, years)
    monthly = totals(session, ms, "m", datetime(year, 1, 1), datetime(year + 1, 1, 1)) if ms else pd.DataFrame(
        columns=["meter", "start", "total", "n"])
    year_total = monthly.groupby("meter")["total"].sum().to_dict() if len(monthly) else {}
    by_code = {m.code: m for m in ms}
    for r in rows:
        m = by_code[r["code"]]
        r["total"] = year_total.get(r["code"])
        r["total_unit"] = m.unit
        r["carrier_label"] = carrier_label(r["carrier"], lang)
    metered = [m for m in ms if m.series_id is not None]
    wanted = (meter_text or "").strip()
    chosen = by_code.get(wanted) if wanted else None
    unknown_meter = bool(wanted) and (chosen is None or chosen.series_id is None)
    if chosen is None or chosen.series_id is None:
        chosen = next((by_code[r["code"]] for r in rows if by_code[r["code"]].series_id is not None), None)
    months_with_data = sorted({int(t.month) for t in monthly.loc[monthly["meter"] == chosen.code, "start"]}) \
        if chosen is not None and len(monthly) else []
    month = _month(month_text) or (months_with_data[-1] if months_with_data else 1)
    series = {s.id: s for s in session.execute(select(Series).where(Series.org_id == org_id)).scalars()}
    detail = _days_and_hours(session, chosen, series.get(chosen.series_id or -1), year, month) if chosen else None
    charts: dict[str, Any] = {}
    balances = _balances(session, org_id, ms, year, monthly) if ms else []
    if balances:
        charts["balances"] = [b["chart"] for b in balances]
    if chosen is not None and detail is not None:
        charts["meter"] = {"code": chosen.code, "unit": detail["unit"], "month": f"{year}-{month:02d}",
                           "days": [d["day"] for d in detail["days"]],
                           "day_values": [_round(d["value"]) for d in detail["days"]],
                           "hours": [h["at"] for h in detail["hours"]],
                           "hour_values": [_round(h["value"]) for h in detail["hours"]]}
    return {"year": year, "years": years or [year], "has_readings": bool(years), "rows": rows,
            "metered": [m.code for m in metered], "meter": chosen.code if chosen else None,
            "meter_name": chosen.name if chosen else None, "unknown_meter": unknown_meter,
            "month": month, "months": list(range(1, 13)), "months_with_data": months_with_data,
            "detail": detail, "balances": balances, "charts": charts, "stamps": STAMPS}


# ------------------------------------------------------------------ the upload



def store_upload(session: Session, org_id: str, data: bytes, name: str, stamp: str, actor: str) -> dict[str, Any]:
    """Import the readings of one uploaded CSV in a savepoint (all or nothing).

    A file pandas cannot read at all (not text, no header, broken quoting) is a ValidationFailed, like any other
    bad input, never a server error."""
    if stamp not in STAMPS:
        raise ValidationFailed(f"unknown timestamp convention {stamp!r}",
                               fix="use start (the time opens the interval) or end (it closes it)")
    from rareeco.ingest.meter_csv import import_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            with session.begin_nested():
                return import_csv(session, org_id, path, stamp=stamp, actor=actor)
        except RareecoError:
            raise
        except ValueError as exc:     # pandas: undecodable text, no header, broken quoting (all ValueErrors)
            raise ValidationFailed(f"{name}: the file cannot be read as CSV ({type(exc).__name__})",
                                   fix="save it as UTF-8 CSV with a header row: meter,timestamp,value or "
                                       "timestamp,<meter>,…") from exc


def result_findings(findings: list[dict[str, Any]]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """An import's advisory findings as (count per code, the findings listed one by one).

    :meth:`rareeco.timeseries.store.Findings.to_list` puts one ``"{n} in all"`` summary per code first."""
    counts, listed = {}, []
    for f in findings:
        if f.get("message") == f"{f.get('count')} in all" and set(f) == {"code", "count", "message"}:
            counts[str(f["code"])] = int(f["count"])
        else:
            listed.append(f)
    return counts, listed


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render
    page = app.state.web_page

    def show(ctx: Ctx, org: str, year: str, meter: str, month: str, status: int = 200, **extra: Any) -> HTMLResponse:
        data = meters_data(ctx.session, org, ctx.lang, year, meter, month)
        return web_render(ctx, "energy_meters.html", status=status,  # type: ignore[no-any-return]
                          can_write=ctx.role in WRITE, **data, **extra)

    @router.get("/energy/meters")
    def meters_page(year: str = "", meter: str = "", month: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            return show(ctx, ctx.need(READ), year, meter, month)
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.post("/energy/meters/import")
    def meters_import(request: Request, file: UploadFile | None = File(None), stamp: str = Form("start"),
                      year: str = Form(""), meter: str = Form(""), month: str = Form(""),
                      csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(WRITE)
            try:
                data, name = read_upload(file, "a CSV file of meter readings", "readings.csv")
                result = store_upload(ctx.session, org, data, name, stamp, ctx.user.username)
            except RareecoError as exc:     # the file's problems, on the page with the form to try again
                return show(ctx, org, year, meter, month, status=error_status(exc), upload_error=exc,
                            stamp=stamp)
            counts, listed = result_findings(result["findings"])
            return show(ctx, org, year, meter, month, result=result, finding_counts=counts,
                        advisories=listed, stamp=stamp)
        return page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
