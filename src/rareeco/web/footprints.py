"""Product-footprint pages: every product of a year, and one product's footprint explained.

The figures come from :func:`rareeco.footprint.service.footprints` (stored with provenance, reused while the
inputs are unchanged) and :func:`~rareeco.footprint.service.product_footprint`; this module only arranges
them for the templates ``footprints.html`` and ``footprint.html``.  Importing it registers the pages
(``rareeco.web.app.PAGE_MODULES``); every route asks ``ctx.need(READ)`` before it reads anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError
from rareeco.footprint.config import ALLOCATIONS
from rareeco.footprint.service import footprints, product_footprint, summary
from rareeco.ledger.tokens import READ
from rareeco.reference.catalogue import activities
from rareeco.web import i18n
from rareeco.web.app import PAGE_MODULES, Ctx
from rareeco.web.pages import data_years

DIRECT = "direct emissions — {line}"      # label of a product's own-line emissions (CODE_MESSAGES in catalogue)


def _year(text: str, years: list[int]) -> int:
    text = (text or "").strip()
    year = int(text) if text.isdigit() and len(text) == 4 else None
    return year if year in years else years[0]


def product_name(payload: dict[str, Any], code: str, lang: str) -> str:
    p = payload["products"].get(code, {})
    return str((p.get("name_zh") if lang == "zh" else None) or p.get("name") or code)


def list_data(session: Session, org_id: str, actor: str, year_text: str) -> dict[str, Any]:
    """The footprints page: every product of the year (or why there is none)."""
    years = data_years(session, org_id)
    year = _year(year_text, years)
    try:
        payload = footprints(session, org_id, year, actor=actor)
    except NotFoundError as exc:     # no production that year: a state of the ledger, not an error
        return {"year": year, "years": years, "payload": None, "rows": [], "empty": exc}
    return {"year": year, "years": years, "payload": payload, "rows": summary(payload), "empty": None}


def contributions(payload: dict[str, Any], fp: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Contributions to the product's footprint, largest first, each labelled in ``lang``.

    A process id is either an activity (a purchased input: its catalogue label) or a product code (the
    direct emissions of that product's own line)."""
    cat = activities()
    direct = i18n.translations(lang).gettext(DIRECT)
    total = fp["kg_co2e_per_declared_unit"]
    out = []
    for pid, kg in fp["contributions_kg_co2e"].items():
        if pid in payload["products"]:
            kind, label = "direct", direct.replace("{line}", payload["products"][pid]["line"])
        else:
            kind, label = "purchased", cat[pid].label(lang) if pid in cat else pid
        out.append({"id": pid, "kind": kind, "label": label, "kg": kg, "share": kg / total if total else None})
    return out


def product_data(session: Session, org_id: str, actor: str, lang: str, product: str, year_text: str,
                 allocation: str) -> dict[str, Any]:
    """One product's footprint page (404 when the product was not made in the year)."""
    years = data_years(session, org_id)
    year = _year(year_text, years)
    payload = footprints(session, org_id, year, actor=actor)
    shown = [a for a in ALLOCATIONS if a in payload["footprints"]]
    allocation = allocation if allocation in shown else payload["default_allocation"]
    fp = product_footprint(payload, product, allocation)
    line_products = list(dict.fromkeys(p for a in shown for p in fp["allocation_factors"].get(a, {})))
    u = fp.get("uncertainty")
    contrib = contributions(payload, fp, lang)
    chart = {
        "contributions": [{"label": c["label"], "kind": c["kind"], "kg": round(c["kg"], 6)} for c in contrib],
        "histogram": ({"edges": u["histogram"]["edges"], "counts": u["histogram"]["counts"],
                       "percentiles": u["percentiles"]} if u else None),
        "unit": f"kg CO2e / {fp['declared_unit']}",
    }
    return {
        "year": year, "years": years, "product": product, "name": product_name(payload, product, lang),
        "allocation": allocation, "allocations": shown, "default_allocation": payload["default_allocation"],
        "fp": fp, "payload": payload, "contributions": contrib,
        "line_products": [(p, product_name(payload, p, lang)) for p in line_products],
        "factor_sums": {a: sum(fp["allocation_factors"][a].values()) for a in shown},
        "chart": chart, "act_label": _act_label(lang),
    }


def _act_label(lang: str) -> Callable[[str], str]:
    cat = activities()
    return lambda a: cat[a].label(lang) if a in cat else a


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    page = app.state.web_page

    @router.get("/footprints")
    def footprints_page(year: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            org = ctx.need(READ)
            data = list_data(ctx.session, org, ctx.user.username, year)
            return web_render(ctx, "footprints.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)

    @router.get("/footprints/{product}")
    def footprint_page(product: str, year: str = "", allocation: str = "",
                       ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            org = ctx.need(READ)
            data = product_data(ctx.session, org, ctx.user.username, ctx.lang, product, year, allocation)
            return web_render(ctx, "footprint.html", **data)  # type: ignore[no-any-return]
        return page(ctx, build)

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
