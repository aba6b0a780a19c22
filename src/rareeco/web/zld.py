"""The zero-liquid-discharge page (``/compliance/zld``): per plant and period the zero-discharge verdict with its
reasons, the water-recovery rate, specific energy, the recovered salts, the magnesium-bicarbonate conversion and the
Sankey of the water and salt balance; and the upload of a plant's records file.

* ``GET /compliance/zld?plant=&period=`` — every stored period in a table, one period in detail; the figures come
  from :func:`rareeco.monitoring.zld_records.report` (charts in ``static/zld.js``).
* ``POST /compliance/zld/import`` — a YAML records file (docs/zld.md), stored by
  :func:`rareeco.monitoring.zld_records.import_records` inside a savepoint: any problem of the file, a repeated
  file or an unreadable one leaves nothing behind and is shown on the page with the period and field.

Importing this module registers the pages (``rareeco.web.app.PAGE_MODULES``).  The page asks ``ctx.need(READ)``,
the upload ``ctx.need(WRITE)`` after its CSRF check; both read only the viewer's organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from rareeco.errors import RareecoError
from rareeco.ledger.tokens import READ, WRITE
from rareeco.monitoring.zld_records import import_records, report
from rareeco.web.app import PAGE_MODULES, Ctx, error_status
from rareeco.web.uploads import read_upload


def zld_data(session: Session, org_id: str, plant_text: str = "", period_text: str = "") -> dict[str, Any]:
    """Every stored period (newest first within each plant) and the chosen one (default: the plant's latest)."""
    rows = report(session, org_id)
    plants = sorted({r["plant"] for r in rows})
    plant = plant_text if plant_text in plants else (plants[0] if plants else None)
    mine = [r for r in rows if r["plant"] == plant]
    chosen = next((r for r in mine if r["period"] == period_text), mine[-1] if mine else None)
    table = sorted(rows, key=lambda r: r["period_start"], reverse=True)
    table.sort(key=lambda r: r["plant"])          # stable: by plant, the newest period first
    return {"rows": table, "plants": plants, "plant": plant, "periods": [r["period"] for r in mine],
            "chosen": chosen, "unknown_period": bool(period_text) and chosen is not None
            and chosen["period"] != period_text,
            "chart": chosen["sankey"] if chosen else None}


def store_upload(session: Session, org_id: str, data: bytes, name: str, actor: str) -> dict[str, Any]:
    """Import one uploaded records file in a savepoint (all or nothing)."""
    with session.begin_nested():
        return import_records(session, org_id, data, name, actor).to_dict()


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render
    page = app.state.web_page

    def show(ctx: Ctx, org: str, plant: str, period: str, status: int = 200, **extra: Any) -> HTMLResponse:
        data = zld_data(ctx.session, org, plant, period)
        return web_render(ctx, "zld.html", status=status,  # type: ignore[no-any-return]
                          can_write=ctx.role in WRITE, **data, **extra)

    @router.get("/compliance/zld")
    def zld_page(plant: str = "", period: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            return show(ctx, ctx.need(READ), plant, period)
        return page(ctx, build)  # type: ignore[no-any-return]

    @router.post("/compliance/zld/import")
    def zld_import(request: Request, file: UploadFile | None = File(None), csrf_token: str = Form(""),
                   ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(WRITE)
            try:
                data, name = read_upload(file, "a YAML file of ZLD records", "zld.yaml")
                result = store_upload(ctx.session, org, data, name, ctx.user.username)
            except RareecoError as exc:     # the file's problems, on the page with the form to try again
                return show(ctx, org, "", "", status=error_status(exc), upload_error=exc)
            return show(ctx, org, result["plant"], result["periods"][-1], result=result)
        return page(ctx, build)  # type: ignore[no-any-return]

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
