"""The web platform: server-rendered pages (Jinja2 + htmx + ECharts, all served locally).

Every page resolves the signed-in user from the session cookie, then the organisation being
viewed from the session, checks the user's role there, and only then queries — so isolation is
enforced where data is read, not in templates.  Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from rareeco import settings
from rareeco.errors import ForbiddenError, RareecoError, ReferenceDataError
from rareeco.ledger import accounts
from rareeco.ledger.db import READING, session_scope
from rareeco.ledger.models import User, WebSession
from rareeco.ledger.tokens import READ
from rareeco.web import i18n

COOKIE = "rareeco_session"


class LoginRequired(Exception):
    """Raised by page dependencies; answered with a redirect to /login."""


@dataclass
class Ctx:
    """What a page knows about its viewer: the user, the session, the organisation and role."""

    session: Session
    user: User
    web: WebSession
    org_id: str | None
    role: str | None
    orgs: list[tuple[str, str, str]]
    lang: str
    path: str

    def need(self, roles: tuple[str, ...]) -> str:
        """The organisation id, if the viewer's role there is one of ``roles``."""
        if self.org_id is None or self.role is None:
            raise ForbiddenError("you are not a member of any organisation", fix="ask an admin to add you")
        if self.role not in roles:
            raise ForbiddenError(f"your role ({self.role}) may not do this", fix=f"needs: {', '.join(roles)}")
        return self.org_id


def environment(lang: str) -> Environment:
    """The template environment of one language (one per language: requests render concurrently)."""
    env = Environment(loader=PackageLoader("rareeco.web", "templates"), autoescape=select_autoescape(),
                      extensions=["jinja2.ext.i18n"])
    catalogue = i18n.translations(lang)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    # tr(): for texts built in Python (messages with values): a plain str, escaped, never %-formatted
    env.globals["tr"] = lambda text: catalogue.gettext(text) if text else ""
    env.filters["num"] = lambda v, lang="en", d=1: i18n.number(v, lang, d)
    env.filters["pct"] = lambda v, lang="en": i18n.percent(v, lang)
    env.filters["tojson_attr"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def error_status(exc: RareecoError) -> int:
    """HTTP status of a page showing ``exc`` (a malformed uploaded file is the user's 422, not a 500)."""
    if isinstance(exc, ReferenceDataError) or exc.http_status >= 500:
        return 422
    return exc.http_status


def mount(app: FastAPI, engine: Engine, demo_mode: bool = False) -> None:
    """Add the pages and the static files to ``app``."""
    envs = {lang: environment(lang) for lang in i18n.LANGS}
    app.mount("/static", StaticFiles(directory=str(resources.files("rareeco.web").joinpath("static"))),
              name="static")
    app.state.demo_mode = demo_mode
    router = APIRouter(include_in_schema=False)

    def db(request: Request) -> Iterator[Session]:
        # a page read does not take SQLite's write lock: pages stay readable while an import or the HJ 212
        # gateway writes (WAL); forms (POST) begin IMMEDIATE (rareeco.ledger.db)
        with session_scope(engine, read_only=request.method in READING) as s:
            yield s

    # scope="function": the transaction commits before the response is sent, so a redirect after a form is never
    # followed by a page that reads the ledger before the form's change is in it, and a failed commit is an error
    # page, not a success (FastAPI's default would end the dependency after the response)
    def viewer(request: Request, s: Session = Depends(db, scope="function")) -> Ctx:
        found = accounts.resolve(s, request.cookies.get(COOKIE))
        if found is None:
            raise LoginRequired()
        ws, user = found
        orgs = accounts.memberships(s, user.id)
        role = next((r for o, _, r in orgs if o == ws.org_id), None)
        return Ctx(s, user, ws, ws.org_id if role else None, role, orgs, i18n.normalise(user.lang),
                   request.url.path)

    def render(ctx: Ctx | None, template: str, status: int = 200, lang: str = "en", **data: Any) -> HTMLResponse:
        lang = ctx.lang if ctx else i18n.normalise(lang)
        html = envs[lang].get_template(template).render(ctx=ctx, lang=lang, demo_mode=demo_mode,
                                                 version=rareeco.__version__, **data)
        return HTMLResponse(html, status_code=status)

    def check_csrf(ctx: Ctx, token: str, header_token: str = "") -> None:
        """The form field, or the htmx header ``X-CSRF-Token``, must carry the session's token."""
        if not any(t and hmac.compare_digest(ctx.web.csrf_token, t) for t in (token, header_token)):
            raise ForbiddenError("the form has expired (CSRF check failed)", fix="reload the page and try again")

    def page(ctx: Ctx, build: Callable[[], Response]) -> Response:
        """A page of the signed-in organisation: ``no_org.html`` without one, a domain error as the error page."""
        if ctx.org_id is None:
            return render(ctx, "no_org.html")
        try:
            return build()
        except RareecoError as exc:
            return render(ctx, "error.html", status=error_status(exc), error=exc)

    app.state.web_render = render
    app.state.web_viewer = viewer
    app.state.web_csrf = check_csrf
    app.state.web_page = page

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @router.get("/login")
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        lang = i18n.normalise(request.query_params.get("lang") or request.headers.get("accept-language"))
        return render(None, "login.html", lang=lang, next=_safe_next(next), error=None)

    @router.post("/login")
    def login(request: Request, username: str = Form(""), password: str = Form(""),
              next: str = Form("/")) -> Response:
        lang = i18n.normalise(request.headers.get("accept-language"))
        client = request.client.host if request.client else "?"
        error: RareecoError | None = None
        with session_scope(engine) as s:   # caught inside: a failed attempt is committed, for the rate limit
            try:
                signed = accounts.sign_in(s, username, password, client, demo_mode)
            except RareecoError as exc:
                error = exc
        if error is not None:
            return render(None, "login.html", status=error.http_status, lang=lang, next=_safe_next(next),
                          error=error, username=username)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        resp.set_cookie(COOKIE, signed.token, httponly=True, samesite="lax", secure=_secure(request),
                        max_age=settings.get_int("RAREECO_SESSION_HOURS") * 3600, path="/")
        return resp

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        check_csrf(ctx, csrf_token)
        accounts.sign_out(ctx.session, request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @router.post("/org")
    def switch_org(org: str = Form(...), csrf_token: str = Form(""), next: str = Form("/"),
                   ctx: Ctx = Depends(viewer)) -> Response:
        check_csrf(ctx, csrf_token)
        accounts.switch_org(ctx.session, ctx.web, org)
        return RedirectResponse(_safe_next(next), status_code=303)

    @router.post("/lang")
    def switch_lang(lang: str = Form(...), csrf_token: str = Form(""), next: str = Form("/"),
                    ctx: Ctx = Depends(viewer)) -> Response:
        check_csrf(ctx, csrf_token)
        ctx.user.lang = i18n.normalise(lang)
        return RedirectResponse(_safe_next(next), status_code=303)

    @router.get("/")
    def overview(year: str = "", ctx: Ctx = Depends(viewer)) -> HTMLResponse:
        from rareeco.web.pages import overview_data

        if ctx.org_id is None:
            return render(ctx, "no_org.html")
        data = overview_data(ctx.session, ctx.org_id, int(year) if year.isdigit() and len(year) == 4 else None)
        return render(ctx, "overview.html", **data)

    @router.get("/inventory/report.{fmt}")
    def report(fmt: str, year: str = "", method: str = "ghg-protocol", gwp: str = "ar6",
               ctx: Ctx = Depends(viewer)) -> Response:
        """The inventory report as Excel or PDF, in the viewer's language."""
        import tempfile
        from pathlib import Path

        from rareeco import reports
        from rareeco.inventory.service import compute

        org = ctx.need(READ)
        if fmt not in ("xlsx", "pdf") or not (year.isdigit() and len(year) == 4):
            return render(ctx, "error.html", status=404, error=RareecoError("no such report",
                                                                             fix="use the links of the page"))
        try:
            payload, _ = compute(ctx.session, org, int(year), method, gwp)
        except RareecoError as exc:
            return render(ctx, "error.html", status=exc.http_status, error=exc)
        write = reports.inventory_xlsx if fmt == "xlsx" else reports.inventory_pdf
        with tempfile.TemporaryDirectory() as tmp:
            data = write(payload, Path(tmp) / f"report.{fmt}", ctx.lang).read_bytes()
        media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx"
                 else "application/pdf")
        name = f"inventory-{org}-{year}-{method}-{ctx.lang}.{fmt}"
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    import rareeco.web.circularity  # noqa: F401  (the recycled-content page)
    import rareeco.web.compliance  # noqa: F401  (the air-compliance pages: live values, charts, exceedances)
    import rareeco.web.energy  # noqa: F401  (the energy pages: EnPI, baselines, flows, monthly report)
    import rareeco.web.epds  # noqa: F401  (the EPD pages, public downloads and API)
    import rareeco.web.footprints  # noqa: F401  (the product-footprint pages)
    import rareeco.web.meters  # noqa: F401  (the meters page: tree, sub-meter balance, readings upload)
    import rareeco.web.pact  # noqa: F401  (the buyers' access page)
    import rareeco.web.routes  # noqa: F401  (registers the other pages; imported here: it imports this module)
    import rareeco.web.suppliers  # noqa: F401  (the suppliers' footprints page)
    import rareeco.web.zld  # noqa: F401  (the zero-liquid-discharge page: balance, verdict, Sankey, upload)

    app.include_router(router)
    for register in PAGE_MODULES:
        register(app, router_factory=APIRouter)


PAGE_MODULES: list[Callable[..., None]] = []


def _safe_next(target: str) -> str:
    """Only same-site paths (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _secure(request: Request) -> bool:
    mode = settings.get("RAREECO_COOKIE_SECURE")
    return mode == "1" or (mode == "auto" and request.url.scheme == "https")
