"""The working pages of the web platform: import (check, then confirm), the inventory drill-down, periods and
the audit log, reference data and API tokens.

Importing this module registers the pages (``rareeco.web.app.PAGE_MODULES``).  Every route resolves the
viewer, checks the CSRF token of a POST (form field or htmx header), then asks ``ctx.need(roles)`` for the
organisation *before* it reads or writes anything; every query is scoped to that organisation.  Errors
(:class:`RareecoError`) are rendered on the page in the viewer's language, never raised to the JSON handler.
Changes run inside a savepoint, so a failed operation leaves nothing half done.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rareeco.errors import (
    ConflictError,
    Finding,
    ForbiddenError,
    NotFoundError,
    RareecoError,
    ValidationFailed,
)
from rareeco.ingest.activity import ImportResult, batches, import_activity, sha256
from rareeco.inventory.explain import explain
from rareeco.inventory.service import DEFAULT_GWP, DEFAULT_METHOD, compute, lock_year, user_set, verified_compute
from rareeco.inventory.sources import METHODS
from rareeco.ledger import audit, periods, tokens
from rareeco.ledger.models import (
    ActivityRecord,
    ApiToken,
    FactorChoice,
    FactorSetRecord,
    ImportBatch,
    Line,
    PendingUpload,
    QuarantineRow,
    Site,
)
from rareeco.ledger.structure import now
from rareeco.ledger.tokens import ADMIN, READ, VERIFY, WRITE
from rareeco.reference import GWP_SETS, TAGS, builtin_sets
from rareeco.reference.catalogue import activities
from rareeco.reference.usersets import add_factor_set, choose_sets, chosen_sets, set_ids
from rareeco.web.app import PAGE_MODULES, Ctx, error_status
from rareeco.web.pages import data_years
from rareeco.web.uploads import read_upload

NO_LINE = "(site)"                        # records without a production line (as in the payload's by_line)
QUARANTINE_SHOWN = 500
SCOPE_COLS = ("scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e", "scope3_t_co2e")
TOTAL_COLS = (*SCOPE_COLS, "total_t_co2e", "total_market_t_co2e")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
YEAR = re.compile(r"^\d{4}$")


# ------------------------------------------------------------------ small helpers

def _int(text: str | None) -> int | None:
    """A form or query value as an int, or None (empty or not a number: never a 422 JSON answer)."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None



def _qs(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


# ------------------------------------------------------------------ import

def _active_batches(session: Session, org_id: str) -> list[ImportBatch]:
    return [b for b in batches(session, org_id) if b.status == "active"]


def import_data(session: Session, org_id: str, replace: int | None = None,
                imported: int | None = None) -> dict[str, Any]:
    all_batches = batches(session, org_id)
    active = [b for b in all_batches if b.status == "active"]
    active_ids = {b.id for b in active}
    q = (select(QuarantineRow).join(ImportBatch, ImportBatch.id == QuarantineRow.batch_id)
         .where(QuarantineRow.org_id == org_id, ImportBatch.org_id == org_id, ImportBatch.status == "active")
         .order_by(QuarantineRow.batch_id.desc(), QuarantineRow.row_no).limit(QUARANTINE_SHOWN))
    quarantine = list(session.execute(q).scalars())
    return {
        "batches": list(reversed(all_batches)),
        "active": active,
        "replace": replace if replace in active_ids else None,
        "imported": next((b for b in all_batches if b.id == imported), None) if imported else None,
        "quarantine": quarantine,
        "quarantine_total": sum(b.rows_quarantined for b in active),
    }


class _RollBack(Exception):
    """Ends a dry run: the savepoint's context manager rolls back whatever the import wrote."""


def dry_run(session: Session, org_id: str, data: bytes, file_name: str, actor: str, partial: bool,
            replace: int | None) -> tuple[ImportResult | None, RareecoError | None]:
    """Run the import in a savepoint and roll it back: the findings, and nothing stored."""
    result: ImportResult | None = None
    try:
        with session.begin_nested():
            result = import_activity(session, org_id, data, file_name, actor, partial=partial, replace=replace)
            raise _RollBack()
    except _RollBack:
        return result, None
    except RareecoError as exc:
        return None, exc


def _sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity != "blocking", f.row or 0, f.column or ""))


# ------------------------------------------------------------------ inventory

def _scope_key(lines: pd.DataFrame) -> np.ndarray:
    return np.where(lines["scope"] == 1, SCOPE_COLS[0],
                    np.where(lines["scope"] == 3, SCOPE_COLS[3],
                             np.where(lines["basis"] == "market", SCOPE_COLS[2], SCOPE_COLS[1])))


def breakdown(lines: pd.DataFrame, by: pd.Series) -> dict[str, dict[str, float]]:
    """t CO2e per scope (and both totals) grouped by ``by``."""
    if lines.empty:
        return {}
    key = pd.Series(_scope_key(lines), index=lines.index, name="_scope")
    t = (lines["t_co2e"].groupby([by.rename("_by"), key]).sum().unstack("_scope", fill_value=0)
         .reindex(columns=list(SCOPE_COLS), fill_value=0.0))
    out: dict[str, dict[str, float]] = {}
    for k, row in t.iterrows():
        d = {c: float(row[c]) for c in SCOPE_COLS}
        d["total_t_co2e"] = d["scope1_t_co2e"] + d["scope2_location_t_co2e"] + d["scope3_t_co2e"]
        d["total_market_t_co2e"] = d["scope1_t_co2e"] + d["scope2_market_t_co2e"] + d["scope3_t_co2e"]
        out[str(k)] = d
    return out


def inventory_data(session: Session, org_id: str, lang: str, year_text: str, method: str, gwp: str,
                   site: str, line: str, month: str, activity: str) -> dict[str, Any]:
    """Totals of both methods, and the drill-down: sites → lines → months → activities → records."""
    years = data_years(session, org_id)
    year = _int(year_text)
    year = year if year in years else years[0]
    method = method if method in METHODS else DEFAULT_METHOD
    gwp = gwp if gwp in GWP_SETS else DEFAULT_GWP
    results = {}
    for each in METHODS:   # a locked year: with the factor-set versions it was verified with, not newer ones
        verified = verified_compute(session, org_id, year, each, gwp)
        results[each] = verified[:2] if verified else compute(session, org_id, year, each, gwp)
    payload, calc = results[method]
    lines = calc.lines

    site_ids = {s.code: s.id for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    site_code = {v: k for k, v in site_ids.items()}
    line_rows = list(session.execute(select(Line).where(Line.org_id == org_id)).scalars())
    line_code = {ln.id: ln.code for ln in line_rows}
    cat = activities()

    # the selection: each level only if the one above is chosen and the value is this organisation's
    sel: dict[str, str] = {}
    if site in site_ids:
        sel["site"] = site
        lines = lines[lines["site_id"] == site_ids[site]]
        codes = {ln.code: ln.id for ln in line_rows if ln.site_id == site_ids[site]}
        if line == NO_LINE or line in codes:
            sel["line"] = line
            lines = lines[lines["line_id"].isna()] if line == NO_LINE else lines[lines["line_id"] == codes[line]]
            m = MONTH.match(month)
            if m and int(m.group(1)) == year and 1 <= int(m.group(2)) <= 12:
                sel["month"] = month
                lines = lines[lines["month"] == int(m.group(2))]
                if activity in set(lines["activity"]):
                    sel["activity"] = activity
                    lines = lines[lines["activity"] == activity]

    base = {"year": year, "method": method, "gwp": gwp}

    def href(**more: str) -> str:
        return "/inventory?" + _qs(**base, **more)

    crumbs = [{"label": None, "href": href()}]
    for i, k in enumerate(("site", "line", "month", "activity")):
        if k in sel:
            upto = {kk: sel[kk] for kk in ("site", "line", "month", "activity")[: i + 1]}
            label = cat[sel[k]].label(lang) if k == "activity" else sel[k]
            crumbs.append({"label": label, "href": href(**upto), "level": k})

    level = next((k for k in ("site", "line", "month", "activity") if k not in sel), "records")
    rows: list[dict[str, Any]] = []
    if level != "records":
        by = {"site": lambda: lines["site_id"].map(site_code),
              "line": lambda: lines["line_id"].map(line_code).astype(object).fillna(NO_LINE),
              "month": lambda: lines["month"].map(lambda mo: f"{year}-{int(mo):02d}"),
              "activity": lambda: lines["activity"]}[level]()
        for key, vals in sorted(breakdown(lines, by).items()):
            link = {**sel, level: key}
            rows.append({"key": key, "label": cat[key].label(lang) if level == "activity" and key in cat else key,
                         "href": href(**link), "explain": "/inventory/explain?" + _qs(**base, **link)
                         if level == "activity" else None, **vals})
    selected = breakdown(lines, pd.Series("all", index=lines.index)).get("all", dict.fromkeys(TOTAL_COLS, 0.0))
    lock = periods.overlapping_lock(session, org_id, date(year, 1, 1), date(year, 12, 31))
    data: dict[str, Any] = {
        "year": year, "years": years, "method": method, "gwp": gwp, "methods": METHODS,
        "gwp_sets": list(GWP_SETS), "p": payload,
        "totals": {m: {k: results[m][0][k] for k in TOTAL_COLS} for m in METHODS},
        "sel": sel, "crumbs": crumbs, "level": level, "rows": rows, "selected": selected, "lock": lock,
        "tags": TAGS, "explained": None,
    }
    if level == "records":
        data["explained"] = explain_selection(session, org_id, year, method, gwp, sel, lines, line_code)
    return data


def explain_selection(session: Session, org_id: str, year: int, method: str, gwp: str, sel: dict[str, str],
                      lines: pd.DataFrame, line_code: dict[int, str]) -> dict[str, Any]:
    """The activity rows and factors behind one site / line / month / activity (both scope 2 bases)."""
    bases: list[str | None] = [None]
    if (lines["basis"] == "market").any():
        bases.append("2m")
    sections = []
    factors: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    for scope in bases:
        ex = explain(session, org_id, year, site=sel["site"], month=sel["month"], activity=sel["activity"],
                     scope=scope, method=method, gwp_set=gwp)
        ids = [r["record_id"] for r in ex["records"]]
        by_line: dict[int, int | None] = {}
        for chunk in range(0, len(ids), 5000):
            q = select(ActivityRecord.id, ActivityRecord.line_id).where(
                ActivityRecord.org_id == org_id, ActivityRecord.id.in_(ids[chunk:chunk + 5000]))
            by_line.update({int(i): ln for i, ln in session.execute(q).all()})
        want = sel["line"]
        records = [r for r in ex["records"] if r["record_id"] in by_line
                   and (line_code.get(by_line[r["record_id"]] or -1, NO_LINE) == want)]
        sections.append({"basis": "market" if scope == "2m" else "location", "records": records,
                         "t_co2e": sum(r["t_co2e"] for r in records),
                         "truncated": ex["records_total"] > len(ex["records"])})
        for f in ex["factors"]:
            factors[f["factor_id"]] = f
        notes = ex["notes"]
    return {"sections": sections, "factors": sorted(factors.values(), key=lambda f: f["factor_id"]),
            "notes": notes, "activity": sel["activity"]}


# ------------------------------------------------------------------ periods, reference, tokens

def periods_data(session: Session, org_id: str) -> dict[str, Any]:
    return {"locks": list(reversed(periods.all_locks(session, org_id))),
            "entries": audit.entries(session, org_id, 100),
            "chain": audit.verify(session)}


def reference_data(session: Session, org_id: str) -> dict[str, Any]:
    own: list[dict[str, Any]] = []
    for sid in set_ids(session, org_id):
        versions = list(session.execute(select(FactorSetRecord).where(FactorSetRecord.org_id == org_id,
                                                                      FactorSetRecord.set_id == sid)
                                        .order_by(FactorSetRecord.id.desc())).scalars())
        own.append({"set": user_set(session, org_id, sid), "versions": versions})
    latest: dict[int | None, FactorChoice] = {}
    for c in session.execute(select(FactorChoice).where(FactorChoice.org_id == org_id)
                             .order_by(FactorChoice.id)).scalars():
        latest[c.year] = c
    years = data_years(session, org_id)
    return {
        "builtin": builtin_sets(), "own": own, "own_ids": [o["set"].set_id for o in own],
        "choices": sorted(latest.values(), key=lambda c: (c.year is not None, -(c.year or 0))),
        "effective": [(y, chosen_sets(session, org_id, y)) for y in years],
        "tags": TAGS,
    }


def tokens_data(session: Session, org_id: str) -> dict[str, Any]:
    q = select(ApiToken).where(ApiToken.org_id == org_id).order_by(ApiToken.id)
    return {"tokens": list(session.execute(q).scalars()), "roles": tokens.ROLES}


# ------------------------------------------------------------------ the routes

def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    def render(ctx: Ctx, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        return web_render(ctx, template, status=status, **data)  # type: ignore[no-any-return]

    def fail(ctx: Ctx, exc: RareecoError) -> HTMLResponse:
        return render(ctx, "error.html", status=error_status(exc), error=exc)

    def check_csrf(ctx: Ctx, request: Request, form_token: str) -> None:
        app.state.web_csrf(ctx, form_token, request.headers.get("x-csrf-token", ""))

    page = app.state.web_page

    # ---------------------------------------------------------------- import

    def import_form(ctx: Ctx, org: str, replace: int | None = None) -> dict[str, Any]:
        active = _active_batches(ctx.session, org)
        return {"active": active, "replace": replace if replace in {b.id for b in active} else None,
                "can_write": ctx.role in WRITE}

    @router.get("/import")
    def import_page(replace: str = "", imported: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            org = ctx.need(READ)
            return render(ctx, "import.html", can_write=ctx.role in WRITE,
                          **import_data(ctx.session, org, _int(replace), _int(imported)))
        return page(ctx, build)

    @router.post("/import/check")
    def import_check(request: Request, file: UploadFile | None = File(None), replace: str = Form(""),
                     partial: str = Form(""), csrf_token: str = Form(""),
                     ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(WRITE)
            s = ctx.session
            replace_id = _int(replace)
            if replace.strip() and replace_id is None:
                raise ValidationFailed("the batch to replace is not a number", fix="choose a batch from the list")
            data, name = read_upload(file)
        except RareecoError as exc:
            return fail(ctx, exc)
        result, error = dry_run(s, org, data, name, ctx.user.username, bool(partial), replace_id)
        pending_id = None
        if result is not None:
            s.execute(delete(PendingUpload).where(PendingUpload.org_id == org,
                                                  PendingUpload.user_id == ctx.user.id))
            pu = PendingUpload(org_id=org, user_id=ctx.user.id, file_name=name, content=data,
                               replace_batch=replace_id, created_at=now())
            s.add(pu)
            s.flush()
            pending_id = pu.id
        findings = result.findings if result is not None else (error.findings if error else [])
        return render(ctx, "import_check.html", file_name=name, sha=sha256(data), result=result, error=error,
                      findings=_sorted_findings(findings), pending_id=pending_id, partial=bool(partial),
                      replace_batch=replace_id, **import_form(ctx, org, replace_id))

    @router.post("/import/confirm")
    def import_confirm(request: Request, pending_id: str = Form(""), partial: str = Form(""),
                       csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(WRITE)
            s = ctx.session
            pu = s.execute(select(PendingUpload).where(PendingUpload.id == (_int(pending_id) or -1),
                                                       PendingUpload.org_id == org,
                                                       PendingUpload.user_id == ctx.user.id)).scalar_one_or_none()
            if pu is None:
                raise NotFoundError("this checked file is no longer waiting to be imported",
                                    fix="upload the file again")
        except RareecoError as exc:
            return fail(ctx, exc)
        name, data, replace_id = pu.file_name, pu.content, pu.replace_batch
        try:
            with s.begin_nested():
                result = import_activity(s, org, data, name, ctx.user.username, partial=bool(partial),
                                         replace=replace_id)
        except RareecoError as exc:   # e.g. the period was locked since the check: show why, keep nothing
            s.delete(pu)
            return render(ctx, "import_check.html", status=error_status(exc), file_name=name, sha=sha256(data),
                          result=None, error=exc, findings=_sorted_findings(exc.findings), pending_id=None,
                          partial=bool(partial), replace_batch=replace_id, **import_form(ctx, org, replace_id))
        s.delete(pu)
        return RedirectResponse(f"/import?imported={result.batch_id}", status_code=303)

    @router.post("/import/cancel")
    def import_cancel(request: Request, pending_id: str = Form(""), csrf_token: str = Form(""),
                      ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(WRITE)
            ctx.session.execute(delete(PendingUpload).where(PendingUpload.id == (_int(pending_id) or -1),
                                                            PendingUpload.org_id == org,
                                                            PendingUpload.user_id == ctx.user.id))
        except RareecoError as exc:
            return fail(ctx, exc)
        return RedirectResponse("/import", status_code=303)

    # ---------------------------------------------------------------- inventory

    @router.get("/inventory")
    def inventory_page(year: str = "", method: str = DEFAULT_METHOD, gwp: str = DEFAULT_GWP, site: str = "",
                       line: str = "", month: str = "", activity: str = "",
                       ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            org = ctx.need(READ)
            data = inventory_data(ctx.session, org, ctx.lang, year, method, gwp, site, line, month, activity)
            return render(ctx, "inventory.html", act_label=_act_label(ctx.lang), **data)
        return page(ctx, build)

    @router.get("/inventory/explain")
    def inventory_explain(year: str = "", method: str = DEFAULT_METHOD, gwp: str = DEFAULT_GWP, site: str = "",
                          line: str = "", month: str = "", activity: str = "",
                          ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        """The records and factors of one activity as an htmx fragment (the full page has the same)."""
        try:
            org = ctx.need(READ)
            data = inventory_data(ctx.session, org, ctx.lang, year, method, gwp, site, line, month, activity)
        except RareecoError as exc:
            return render(ctx, "inventory_explain.html", status=error_status(exc), error=exc, explained=None,
                          act_label=_act_label(ctx.lang), tags=TAGS)
        return render(ctx, "inventory_explain.html", error=None, act_label=_act_label(ctx.lang), **data)

    # ---------------------------------------------------------------- periods and audit

    def periods_page(ctx: Ctx, status: int = 200, error: RareecoError | None = None,
                     **form: str) -> HTMLResponse:
        org = ctx.need(READ)
        return render(ctx, "periods.html", status=status, error=error, form=form,
                      can_verify=ctx.role in VERIFY, **periods_data(ctx.session, org))

    @router.get("/periods")
    def periods_view(ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        return page(ctx, lambda: periods_page(ctx))

    @router.post("/periods/lock")
    def periods_lock(request: Request, period: str = Form(""), comment: str = Form(""), csrf_token: str = Form(""),
                     ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(VERIFY)
            with ctx.session.begin_nested():
                lock_year(ctx.session, org, period.strip(), ctx.user.username, comment.strip())
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(periods_page, ctx, error_status(exc), exc, period=period,
                                               comment=comment))
        return RedirectResponse("/periods", status_code=303)

    @router.post("/periods/unlock")
    def periods_unlock(request: Request, period: str = Form(""), comment: str = Form(""),
                       csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(VERIFY)
            with ctx.session.begin_nested():
                periods.unlock(ctx.session, org, period.strip(), ctx.user.username, comment.strip())
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(periods_page, ctx, error_status(exc), exc, unlock_period=period))
        return RedirectResponse("/periods", status_code=303)

    # ---------------------------------------------------------------- reference data

    def reference_page(ctx: Ctx, status: int = 200, error: RareecoError | None = None) -> HTMLResponse:
        org = ctx.need(READ)
        return render(ctx, "reference.html", status=status, error=error, can_write=ctx.role in WRITE,
                      **reference_data(ctx.session, org))

    @router.get("/reference")
    def reference_view(ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        return page(ctx, lambda: reference_page(ctx))

    @router.post("/reference/add")
    def reference_add(request: Request, file: UploadFile | None = File(None), set_id: str = Form(""),
                      csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(WRITE)
            data, name = read_upload(file)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ValidationFailed("the factor set is not UTF-8 text", fix="save the file as CSV UTF-8") from exc
            sid = set_id.strip() or PurePosixPath(name).stem.lower()
            with ctx.session.begin_nested():
                add_factor_set(ctx.session, org, text, sid, ctx.user.username)
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(reference_page, ctx, error_status(exc), exc))
        return RedirectResponse("/reference#own", status_code=303)

    @router.post("/reference/choose")
    def reference_choose(request: Request, sets: list[str] = Form([]), year: str = Form(""),
                         csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(WRITE)
            if year.strip() and not YEAR.match(year.strip()):
                raise ValidationFailed("the year is not YYYY", fix="write e.g. 2024, or leave it empty for all years")
            with ctx.session.begin_nested():
                choose_sets(ctx.session, org, [s for s in sets if s], _int(year), ctx.user.username)
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(reference_page, ctx, error_status(exc), exc))
        return RedirectResponse("/reference#choice", status_code=303)

    # ---------------------------------------------------------------- API tokens (admin only)

    def tokens_page(ctx: Ctx, status: int = 200, error: RareecoError | None = None,
                    new_token: str | None = None, new_name: str | None = None) -> HTMLResponse:
        org = ctx.need(ADMIN)
        return render(ctx, "tokens.html", status=status, error=error, new_token=new_token, new_name=new_name,
                      **tokens_data(ctx.session, org))

    @router.get("/tokens")
    def tokens_view(ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        return page(ctx, lambda: tokens_page(ctx))

    @router.post("/tokens/create")
    def tokens_create(request: Request, name: str = Form(""), role: str = Form("viewer"),
                      csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(ADMIN)
            name = name.strip()
            if not name or len(name) > 200:
                raise ValidationFailed("the token needs a name (at most 200 characters)",
                                       fix="name it after the system that will use it, e.g. erp")
            taken = ctx.session.execute(select(func.count()).select_from(ApiToken).where(
                ApiToken.org_id == org, ApiToken.name == name, ApiToken.revoked_at.is_(None))).scalar_one()
            if taken:
                raise ConflictError("an active token has this name", fix="choose another name or revoke the old one")
            with ctx.session.begin_nested():
                token = tokens.create(ctx.session, org, name, role, ctx.user.username)
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(tokens_page, ctx, error_status(exc), exc))
        # shown once: the page answers the POST directly (no redirect), and only the hash is stored
        resp = page(ctx, lambda: tokens_page(ctx, new_token=token, new_name=name))
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @router.post("/tokens/revoke")
    def tokens_revoke(request: Request, token_id: str = Form(""), csrf_token: str = Form(""),
                      ctx: Ctx = Depends(viewer)) -> Response:
        try:
            check_csrf(ctx, request, csrf_token)
            org = ctx.need(ADMIN)
            tok = ctx.session.execute(select(ApiToken).where(ApiToken.id == (_int(token_id) or -1),
                                                             ApiToken.org_id == org)).scalar_one_or_none()
            if tok is None:
                raise NotFoundError("no such token in this organisation", fix="choose a token from the list")
            if tok.revoked_at is not None:
                raise ConflictError("this token is already revoked", fix="nothing to do")
            with ctx.session.begin_nested():
                tok.revoked_at = now()
                audit.append(ctx.session, ctx.user.username, "token.revoke", f"{org}/{tok.name}", org,
                             {"token_id": tok.id})
        except ForbiddenError as exc:
            return fail(ctx, exc)
        except RareecoError as exc:
            return page(ctx, functools.partial(tokens_page, ctx, error_status(exc), exc))
        return RedirectResponse("/tokens", status_code=303)

    app.include_router(router)


def _act_label(lang: str) -> Callable[[str], str]:
    cat = activities()
    return lambda a: cat[a].label(lang) if a in cat else a


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
