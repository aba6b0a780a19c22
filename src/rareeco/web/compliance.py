"""The air-compliance pages (docs/compliance-web.md): live stack values, hourly and daily charts against the
limits, the month's emitted quantities, and the exceedance events with their acknowledgement.

* ``GET /compliance?month=YYYY-MM`` — per outlet a card of each channel's latest minute value (flag, age), kept
  current by ``/compliance/live``; the month's hourly and daily charts (``static/compliance.js``) and quantities.
* ``GET /compliance/live`` — server-sent events: a first ``values`` event with every channel's latest value, then
  one with the channels that changed, polled every :data:`LIVE_POLL_S` seconds, each poll in its own short
  transaction (none is held open between polls); it ends when the client goes away.
* ``GET /compliance/data?outlet=&month=`` — the JSON the charts draw: hourly converted concentrations with each
  hour's status and flags, daily averages, the limits.
* ``GET /compliance/exceedances`` and ``POST /compliance/exceedances/{id}/acknowledge`` — the events and their
  acknowledgement with a (required) comment.

Everything is read through :mod:`rareeco.monitoring.compliance` per the organisation's settings
(:mod:`rareeco.monitoring.outlets`); pages ask ``ctx.need(READ)``, the acknowledgement ``ctx.need(WRITE)`` after
its CSRF check.  Times are the organisation's local wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from rareeco.errors import ForbiddenError, NotFoundError, RareecoError, ValidationFailed
from rareeco.ingest.meter_csv import org_timezone
from rareeco.ledger import accounts
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import ComplianceEvent, Point, Series
from rareeco.ledger.tokens import READ, WRITE
from rareeco.monitoring import compliance, outlets
from rareeco.monitoring.compliance import local_time
from rareeco.monitoring.outlets import O2, Outlet, Settings
from rareeco.monitoring.processing import series_key
from rareeco.web.app import COOKIE, PAGE_MODULES, Ctx, LoginRequired, error_status

#: Seconds between two polls of the live stream.
LIVE_POLL_S = 5.0
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


# ------------------------------------------------------------------ small helpers

def parse_month(text: str) -> tuple[int, int] | None:
    m = MONTH.match((text or "").strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)), int(m.group(2))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    return datetime(year, month, 1), datetime(year + (month == 12), month % 12 + 1, 1)


def _num(v: Any, digits: int = 3) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else round(f, digits)


def _series_ids(session: Session, org_id: str, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = session.execute(select(Series.key, Series.id).where(Series.org_id == org_id, Series.key.in_(keys)))
    return {k: int(i) for k, i in rows}


def data_months(session: Session, org_id: str, settings: Settings) -> list[str]:
    """Local months (``YYYY-MM``, newest first) from the first to the last CEMS value of any outlet."""
    keys = [series_key(o.mn, c, cn) for o in settings.outlets for c in _channels(o) for cn in ("2051", "2061")]
    ids = list(_series_ids(session, org_id, keys).values())
    if not ids:
        return []
    lo, hi = session.execute(select(func.min(Point.ts), func.max(Point.ts)).where(Point.series_id.in_(ids))).one()
    if lo is None or hi is None:
        return []
    tz = org_timezone(session, org_id)
    first, last = (pd.Timestamp(int(t), unit="s", tz="UTC").tz_convert(tz) for t in (lo, hi))
    months = pd.period_range(first.strftime("%Y-%m"), last.strftime("%Y-%m"), freq="M")
    return [str(p) for p in reversed(months)]


def _channels(o: Outlet) -> list[str]:
    """The channels shown for an outlet: its pollutants, then O2 (when it converts to a reference O2) and flow."""
    return [p.code for p in o.pollutants] + ([O2] if o.reference_o2_pct is not None else []) + [o.flow_code]


def channel_label(o: Outlet, code: str, lang: str) -> tuple[str, str]:
    """(name, unit) of a channel of ``o``."""
    for p in o.pollutants:
        if p.code == code:
            return (p.name_zh if lang == "zh" else p.name), p.unit
    if code == O2:
        return "O₂", "%"
    if code == o.flow_code:
        return ("流量" if lang == "zh" else "Flow"), o.flow_unit
    return code, ""


# ------------------------------------------------------------------ live values

def live_values(session: Session, org_id: str, settings: Settings, now: float | None = None) -> dict[str, Any]:
    """Each outlet channel's latest minute value (the logger's hourly value when it sends no minute data):
    ``{"OUTLET:code": {"value", "flag", "at" (local time), "ts" [epoch s], "age_s"}}``."""
    now = time.time() if now is None else now
    tz = org_timezone(session, org_id)
    wanted: dict[str, tuple[str, str]] = {}
    for o in settings.outlets:
        for c in _channels(o):
            for cn in ("2051", "2061"):
                wanted[series_key(o.mn, c, cn)] = (f"{o.code}:{c}", cn)
    ids = _series_ids(session, org_id, list(wanted))
    if not ids:
        return {}
    newest = dict(session.execute(select(Point.series_id, func.max(Point.ts)).where(
        Point.series_id.in_(list(ids.values()))).group_by(Point.series_id)).all())
    out: dict[str, Any] = {}
    for key, sid in sorted(ids.items(), key=lambda kv: wanted[kv[0]][1]):   # minute series first
        name = wanted[key][0]
        if name in out or newest.get(sid) is None:
            continue
        ts = int(newest[sid])
        value, flag = session.execute(select(Point.value, Point.flag).where(
            Point.series_id == sid, Point.ts == ts)).one()
        at = pd.Timestamp(ts, unit="s", tz="UTC").tz_convert(tz)
        out[name] = {"value": _num(value, 3), "flag": flag or "N", "ts": ts, "at": at.strftime("%Y-%m-%d %H:%M"),
                     "age_s": max(0, int(now - ts)), "hourly": wanted[key][1] == "2061"}
    return out


def age_text(age_s: int) -> str:
    """``45 s``, ``12 min``, ``5 h``, ``3 d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if age_s >= size:
            return f"{age_s // size} {unit}"
    return f"{age_s} s"


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


async def live_stream(engine: Engine, org_id: str, request: Request, poll_s: float = LIVE_POLL_S
                      ) -> AsyncIterator[str]:
    """The ``/compliance/live`` events: all values first, then the changed ones; each poll reads in its own short
    session in a worker thread (no transaction stays open while the stream waits); stops when the client leaves,
    and at once for an organisation without outlets."""
    def read() -> dict[str, Any]:
        with session_scope(engine, read_only=True) as s:
            return live_values(s, org_id, outlets.load(s, org_id))

    sent: dict[str, Any] = {}
    first = True
    ticks = max(1, int(poll_s * 4))
    while True:       # the server also cancels this generator when the client disconnects
        values = await asyncio.to_thread(read)
        changed = {k: v for k, v in values.items()
                   if first or sent.get(k, {}).get("ts") != v["ts"] or sent.get(k, {}).get("value") != v["value"]}
        for v in changed.values():
            v["age"] = age_text(v["age_s"])
        if first and not values:   # no outlets: say so and end; the browser's EventSource asks again later
            yield "retry: 60000\n" + sse("values", {})
            return
        if changed:
            yield sse("values", changed)
        else:
            yield ": no change\n\n"     # a comment: keeps proxies from closing the stream, finds a gone client
        sent.update(changed)
        first = False
        for _ in range(ticks):
            if await request.is_disconnected():
                return
            await asyncio.sleep(poll_s / ticks)


# ------------------------------------------------------------------ the overview page and its data

def _limits(p: outlets.Pollutant) -> list[dict[str, Any]]:
    return [{"value": s.limit.value, "unit": s.limit.unit, "period": s.limit.period, "kind": s.kind}
            for s in p.limits]


def chart_data(session: Session, org_id: str, outlet_code: str, month_text: str, lang: str = "en"
               ) -> dict[str, Any]:
    """The charts of one outlet and month: per pollutant the hourly converted concentrations (with status and
    flags), the daily averages, and the limits."""
    settings = outlets.load(session, org_id)
    o = settings.outlet(outlet_code)
    ym = parse_month(month_text)
    if ym is None:
        raise ValidationFailed(f"month {month_text!r} is not YYYY-MM", fix="e.g. month=2025-12")
    start, end = month_bounds(*ym)
    hours = compliance.outlet_hours(session, org_id, o, start, end, settings)
    days = compliance.outlet_days(hours, settings) if len(hours) else pd.DataFrame()
    labels = [t.strftime("%Y-%m-%d %H:%M") for t in pd.date_range(start, end, freq="h", inclusive="left")]
    day_labels = [t.strftime("%Y-%m-%d") for t in pd.date_range(start, end, freq="D", inclusive="left")]
    out = []
    for p in o.pollutants:
        h = hours[hours["pollutant"] == p.code] if len(hours) else hours
        d = days[days["pollutant"] == p.code].set_index("day") if len(days) else pd.DataFrame()
        daily = [_num(d["mean"].get(pd.Timestamp(x))) if len(d) else None for x in day_labels]
        out.append({"code": p.code, "name": p.name_zh if lang == "zh" else p.name, "unit": p.unit,
                    "limits": _limits(p),
                    "converted": [_num(v) for v in h["converted"]] if len(h) else [None] * len(labels),
                    "status": list(h["status"]) if len(h) else ["missing"] * len(labels),
                    "flags": list(h["flags"]) if len(h) else [""] * len(labels),
                    "daily": daily,
                    "daily_status": [str(d["status"].get(pd.Timestamp(x), "missing")) if len(d) else "missing"
                                     for x in day_labels]})
    return {"outlet": o.code, "name": o.name_zh if lang == "zh" else o.name, "month": f"{ym[0]}-{ym[1]:02d}",
            "reference_o2_pct": o.reference_o2_pct, "hours": labels, "days": day_labels, "pollutants": out}


def month_quantities(session: Session, org_id: str, settings: Settings, o: Outlet, start: datetime,
                     end: datetime, lang: str) -> list[dict[str, Any]]:
    """The outlet's emitted quantity per pollutant in the month [t], with the hours behind it."""
    q = compliance.quantities(compliance.outlet_hours(session, org_id, o, start, end, settings))
    by = {str(r["pollutant"]): r for r in q.to_dict("records")}
    rows = []
    for p in o.pollutants:
        r = by.get(p.code)
        measured = r is not None and (r["valid_h"] > 0 or r["substituted_h"] > 0 or r["missing_h"] == 0)
        rows.append({"code": p.code, "name": p.name_zh if lang == "zh" else p.name,
                     "t": _num(r["t"], 4) if r is not None and measured else None,   # no value at all: not 0 t
                     "valid_h": int(r["valid_h"]) if r else 0,
                     "missing_h": int(r["missing_h"]) if r else 0,
                     "substituted_h": int(r["substituted_h"]) if r else 0})
    return rows


def overview_data(session: Session, org_id: str, lang: str, month_text: str = "") -> dict[str, Any]:
    settings = outlets.load(session, org_id)
    months = data_months(session, org_id, settings)
    ym = parse_month(month_text)
    month = f"{ym[0]}-{ym[1]:02d}" if ym else (months[0] if months else datetime.now().strftime("%Y-%m"))
    unknown_month = bool(month_text) and ym is None
    y, m = parse_month(month) or (datetime.now().year, datetime.now().month)
    start, end = month_bounds(y, m)
    live = live_values(session, org_id, settings)
    cards = []
    for o in settings.outlets:
        channels = []
        for c in _channels(o):
            name, unit = channel_label(o, c, lang)
            v = live.get(f"{o.code}:{c}")
            channels.append({"code": c, "name": name, "unit": unit, "key": f"{o.code}:{c}", "live": v,
                             "age": age_text(v["age_s"]) if v else None})
        events_open = session.execute(select(func.count()).select_from(ComplianceEvent).where(
            ComplianceEvent.org_id == org_id, ComplianceEvent.outlet == o.code,
            ComplianceEvent.acknowledged_at.is_(None))).scalar_one()
        try:
            quantities, quantities_error = month_quantities(session, org_id, settings, o, start, end, lang), None
        except ValidationFailed as exc:     # e.g. substitution below 80 % availability without a maximum potential
            quantities, quantities_error = [], exc
        cards.append({"code": o.code, "name": o.name_zh if lang == "zh" else o.name, "mn": o.mn, "site": o.site,
                      "line": o.line, "reference_o2_pct": o.reference_o2_pct, "channels": channels,
                      "pollutants": [{"code": p.code, "name": p.name_zh if lang == "zh" else p.name,
                                      "unit": p.unit, "limits": _limits(p)} for p in o.pollutants],
                      "quantities": quantities, "quantities_error": quantities_error,
                      "unacknowledged": int(events_open)})
    if month not in months:
        months = sorted({*months, month}, reverse=True)
    return {"outlets": cards, "month": month, "months": months, "unknown_month": unknown_month,
            "has_settings": bool(settings.outlets), "live_poll_s": LIVE_POLL_S}


# ------------------------------------------------------------------ exceedances

def events_data(session: Session, org_id: str, lang: str) -> dict[str, Any]:
    settings = outlets.load(session, org_id)
    tz = org_timezone(session, org_id)
    rows = []
    # newest first; of events starting together, the permit's before the target's
    for ev in sorted(compliance.events(session, org_id), key=lambda e: (e.start, e.limit_kind == "permit"),
                     reverse=True):
        try:
            o = settings.outlet(ev.outlet)
            outlet_name = o.name_zh if lang == "zh" else o.name
            p = o.pollutant(ev.pollutant)
            pollutant_name = p.name_zh if lang == "zh" else p.name
        except NotFoundError:                    # an outlet or pollutant since removed from the settings
            outlet_name, pollutant_name = ev.outlet, ev.pollutant
        start, end = local_time(ev.start, tz), local_time(ev.end, tz)
        rows.append({"id": ev.id, "outlet": ev.outlet, "outlet_name": outlet_name, "pollutant": ev.pollutant,
                     "pollutant_name": pollutant_name, "limit": ev.limit_value, "unit": ev.unit,
                     "kind": ev.limit_kind, "period": ev.period, "start": start, "end": end,
                     "duration_h": (end - start).total_seconds() / 3600 if start and end else None,
                     "periods": ev.periods, "peak": ev.peak, "peak_at": local_time(ev.peak_at, tz),
                     "acknowledged_by": ev.acknowledged_by,
                     "acknowledged_at": local_time(ev.acknowledged_at, tz),
                     "comment": ev.comment})
    return {"events": rows, "permit_open": sum(1 for r in rows if r["kind"] == "permit"
                                               and not r["acknowledged_by"])}


# ------------------------------------------------------------------ routes

def _live_org(engine: Engine, request: Request) -> str:
    """The viewer's organisation for the live stream, resolved in a short session of its own (the stream must not
    keep the request's session — and its transaction — open while it runs)."""
    with session_scope(engine) as s:
        found = accounts.resolve(s, request.cookies.get(COOKIE))
        if found is None:
            raise LoginRequired()
        ws, user = found
        role = next((r for o, _, r in accounts.memberships(s, user.id) if o == ws.org_id), None)
        if ws.org_id is None or role not in READ:
            raise ForbiddenError("you are not a member of this organisation", fix="ask an admin to add you")
        return str(ws.org_id)


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render
    page = app.state.web_page

    def render(ctx: Ctx, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        return web_render(ctx, template, status=status, **data)  # type: ignore[no-any-return]

    @router.get("/compliance")
    def compliance_page(month: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            org = ctx.need(READ)
            return render(ctx, "compliance.html", **overview_data(ctx.session, org, ctx.lang, month))
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.get("/compliance/data")
    def compliance_data(outlet: str = "", month: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        try:
            org = ctx.need(READ)
            return JSONResponse(chart_data(ctx.session, org, outlet, month, ctx.lang))
        except RareecoError as exc:
            return JSONResponse({"error": exc.message, "fix": exc.fix}, status_code=error_status(exc))

    @router.get("/compliance/live")
    def compliance_live(request: Request) -> Response:
        engine: Engine = app.state.engine
        try:
            org = _live_org(engine, request)
        except RareecoError as exc:
            return JSONResponse({"error": exc.message, "fix": exc.fix}, status_code=exc.http_status)
        return StreamingResponse(live_stream(engine, org, request, LIVE_POLL_S), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def show_events(ctx: Ctx, org: str, status: int = 200, **extra: Any) -> HTMLResponse:
        return render(ctx, "compliance_exceedances.html", status=status, can_write=ctx.role in WRITE,
                      **events_data(ctx.session, org, ctx.lang), **extra)

    @router.get("/compliance/exceedances")
    def exceedances_page(ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            return show_events(ctx, ctx.need(READ))
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.post("/compliance/exceedances/{event_id}/acknowledge")
    def acknowledge(request: Request, event_id: str, comment: str = Form(""), csrf_token: str = Form(""),
                    ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(WRITE)
            if not event_id.isdigit():
                raise NotFoundError(f"no exceedance event {event_id}", fix="use the links of the page")
            try:
                with ctx.session.begin_nested():
                    compliance.acknowledge(ctx.session, org, int(event_id), ctx.user.username, comment)
            except ValidationFailed as exc:        # an empty comment, or acknowledged already: shown at the row
                return show_events(ctx, org, status=error_status(exc), ack_error=exc, ack_event=int(event_id),
                                   ack_comment=comment)
            return RedirectResponse(f"/compliance/exceedances#event-{event_id}", status_code=303)
        return page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
