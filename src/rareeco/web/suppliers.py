"""The suppliers' footprints page: the PACT footprints the organisation pulled, what each prices, whether the
product footprints of a year use it, and which of its products they reach.

Data from :mod:`rareeco.ingest.pact_client` (read-only here; pulling and mapping are CLI commands, docs/suppliers.md).
Importing this module registers the page (``rareeco.web.app.PAGE_MODULES``); it asks ``ctx.need(READ)`` before
reading anything, and reads only the viewer's organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from rareeco.ingest import pact_client as pc
from rareeco.ledger.tokens import READ
from rareeco.reference.catalogue import activities
from rareeco.web.app import PAGE_MODULES, Ctx
from rareeco.web.pages import data_years

STATUS = ("usable", "unmapped", "superseded", "deprecated", "not valid in the year")
"""Status texts of the page (translated in messages.po)."""


def suppliers_data(session: Session, org_id: str, year_text: str, lang: str) -> dict[str, Any]:
    years = data_years(session, org_id)
    year = int(year_text) if year_text.isdigit() and int(year_text) in years else years[0]
    rows = pc.rows(session, org_id)
    gone = pc.superseded(rows)
    in_use, notes = pc.in_use(session, org_id, year)
    used = {s.pf_id for s in in_use.values()}
    cat = activities()
    out = []
    for r in reversed(rows):
        status = pc.status_of(r, gone, year)
        pcf = r.payload.get("pcf", {})
        out.append({
            "pf_id": r.pf_id, "supplier": r.supplier, "product": r.payload.get("productNameCompany", ""),
            "product_ids": r.product_ids, "activity": r.activity,
            "activity_label": cat[r.activity].label(lang) if r.activity in cat else "",
            "kg": r.kg_co2e_per_unit, "unit": r.declared_unit, "pds": r.primary_data_share_pct,
            "valid_from": r.valid_from, "valid_until": r.valid_until,
            "reference": f"{pcf.get('referencePeriodStart', '')[:10]} – {pcf.get('referencePeriodEnd', '')[:10]}",
            "status": "not valid in the year" if status.startswith("not valid") else status,
            "used": r.pf_id in used and status == "usable", "superseded_why": gone.get(r.id, ""),
            "verified": bool(pcf.get("verification")), "sha256": r.sha256, "source": r.source,
            "pulled_at": r.pulled_at,
        })
    return {"year": year, "years": years, "rows": out, "notes": notes}


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    @router.get("/suppliers")
    def suppliers_page(year: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = suppliers_data(ctx.session, ctx.need(READ), year, ctx.lang)
            return web_render(ctx, "suppliers.html", **data)  # type: ignore[no-any-return]

        return app.state.web_page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
