"""The buyers' access page (``/pact``, admins only): the organisation's PACT clients, their grants and callback
hosts, a new client (its secret shown once), the published footprints and the event log.

Everything is read through :mod:`rareeco.declare.pact` with the viewer's organisation: a client id of another
organisation is "not found" (404), never acted on.  Importing this module registers the page
(``rareeco.web.app.PAGE_MODULES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.declare import pact
from rareeco.errors import ForbiddenError, NotFoundError, RareecoError, ValidationFailed
from rareeco.ledger.models import PactEvent, Product
from rareeco.ledger.tokens import ADMIN
from rareeco.web.app import PAGE_MODULES, Ctx

EVENTS_SHOWN = 50


def page_data(session: Session, org_id: str) -> dict[str, Any]:
    """What the page shows: clients with their grants, products, published footprints, the latest events."""
    clients = pact.clients(session, org_id)
    products = list(session.execute(select(Product).where(Product.org_id == org_id).order_by(Product.code))
                    .scalars())
    events = list(session.execute(select(PactEvent).where(PactEvent.org_id == org_id)
                                  .order_by(PactEvent.id.desc()).limit(EVENTS_SHOWN)).scalars())
    names = {c.id: c.name for c in clients}
    return {
        "clients": [{"row": c, "grants": pact.grants_of(session, c), "hosts": pact.callback_hosts_of(c)}
                    for c in clients],
        "products": products,
        "footprints": pact.published(session, org_id),
        "events": [{"row": e, "client": names.get(e.client_pk or -1, ""),
                    "kind": e.event_type.rsplit(".", 2)[-2] if e.event_type.startswith(pact.EVENT_PREFIX)
                    else e.event_type} for e in events],
        "profile": pact.profile(session, org_id),
        "all_products": pact.ALL_PRODUCTS,
    }


def _client_pk(text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text or ""):
        raise NotFoundError("no such client in this organisation", fix="choose a client from the list")
    return int(text)


def _hosts(text: str) -> list[str]:
    return [h for h in re.split(r"[\s,]+", text or "") if h]


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    def render(ctx: Ctx, status: int = 200, error: RareecoError | None = None, **extra: Any) -> HTMLResponse:
        org = ctx.need(ADMIN)
        return web_render(ctx, "pact.html", status=status, error=error,  # type: ignore[no-any-return]
                          **page_data(ctx.session, org), **extra)

    def page(ctx: Ctx, build: Callable[[], Response]) -> Response:
        if ctx.org_id is None:
            return web_render(ctx, "no_org.html")  # type: ignore[no-any-return]
        try:
            return build()
        except ForbiddenError as exc:
            return web_render(ctx, "error.html", status=exc.http_status, error=exc)  # type: ignore[no-any-return]
        except RareecoError as exc:
            status = 422 if exc.http_status >= 500 else exc.http_status
            try:
                return render(ctx, status=status, error=exc)
            except ForbiddenError as denied:
                return web_render(ctx, "error.html", status=denied.http_status,  # type: ignore[no-any-return]
                                  error=denied)

    def change(request: Request, ctx: Ctx, csrf_token: str, act: Callable[[str], None]) -> Response:
        """A POST: CSRF, admin role, then the change in a savepoint (an error leaves nothing half done)."""
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(ADMIN)
            with ctx.session.begin_nested():
                act(org)
            return RedirectResponse("/pact", status_code=303)
        return page(ctx, build)

    @router.get("/pact")
    def pact_page(ctx: Ctx = Depends(viewer)) -> Response:
        return page(ctx, lambda: render(ctx))

    @router.post("/pact/clients/create")
    def client_create(request: Request, name: str = Form(""), callback_hosts: str = Form(""),
                      grants: list[str] = Form([]), csrf_token: str = Form(""),
                      ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(ADMIN)
            if not name.strip():
                raise ValidationFailed("the client needs a name", fix="name it after the buyer")
            with ctx.session.begin_nested():
                client, secret = pact.add_client(ctx.session, org, name, ctx.user.username, _hosts(callback_hosts),
                                                 [g for g in grants if g])
            # shown once: the page answers the POST itself (no redirect), and only the hash is stored
            resp = render(ctx, new_client=client, new_secret=secret)
            resp.headers["Cache-Control"] = "no-store"
            return resp
        return page(ctx, build)

    @router.post("/pact/clients/revoke")
    def client_revoke(request: Request, client: str = Form(""), csrf_token: str = Form(""),
                      ctx: Ctx = Depends(viewer)) -> Response:
        def act(org: str) -> None:
            pact.revoke_client(ctx.session, org, _client_pk(client), ctx.user.username)
        return change(request, ctx, csrf_token, act)

    @router.post("/pact/clients/callbacks")
    def client_callbacks(request: Request, client: str = Form(""), callback_hosts: str = Form(""),
                         csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        def act(org: str) -> None:
            pact.set_callback_hosts(ctx.session, org, _client_pk(client), _hosts(callback_hosts), ctx.user.username)
        return change(request, ctx, csrf_token, act)

    @router.post("/pact/grants/add")
    def grant_add(request: Request, client: str = Form(""), product: str = Form(""), csrf_token: str = Form(""),
                  ctx: Ctx = Depends(viewer)) -> Response:
        def act(org: str) -> None:
            pact.grant(ctx.session, org, _client_pk(client), product, ctx.user.username)
        return change(request, ctx, csrf_token, act)

    @router.post("/pact/grants/remove")
    def grant_remove(request: Request, client: str = Form(""), product: str = Form(""), csrf_token: str = Form(""),
                     ctx: Ctx = Depends(viewer)) -> Response:
        def act(org: str) -> None:
            pact.ungrant(ctx.session, org, _client_pk(client), product, ctx.user.username)
        return change(request, ctx, csrf_token, act)

    app.include_router(router)


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
