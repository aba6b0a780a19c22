"""The recycled-content page (EU CRMA Art. 29): a magnet product's declaration for a year, the mass balance
behind it and the method, from :func:`rareeco.circularity.declaration.declare`.

Importing this module registers the page (``rareeco.web.app.PAGE_MODULES``); it asks ``ctx.need(READ)`` before
reading anything, and reads only the viewer's organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from rareeco.circularity.declaration import declare
from rareeco.circularity.massbalance import load_assumptions
from rareeco.errors import NotFoundError
from rareeco.ledger.tokens import READ
from rareeco.web.app import PAGE_MODULES, Ctx
from rareeco.web.pages import data_years


def circularity_data(session: Session, org_id: str, product: str, year_text: str) -> dict[str, Any]:
    years = data_years(session, org_id)
    year = int(year_text) if year_text.isdigit() and int(year_text) in years else years[0]
    products = load_assumptions().declare_products
    product = product if product else (products[0] if products else "")
    try:
        d: dict[str, Any] | None = declare(session, org_id, product, year)
        empty = None
    except NotFoundError as exc:      # the product was not made that year: a state of the ledger, not an error
        d, empty = None, exc
    return {"year": year, "years": years, "product": product, "products": products, "d": d, "empty": empty}


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    @router.get("/circularity")
    def circularity_page(product: str = "", year: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        def build() -> HTMLResponse:
            data = circularity_data(ctx.session, ctx.need(READ), product, year)
            return web_render(ctx, "circularity.html", **data)  # type: ignore[no-any-return]

        return app.state.web_page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
