"""EPD pages, the public download of published EPDs, and the EPD API.

* ``/epds`` — every EPD version of the organisation with its status; the declarant (admin, steward) builds a
  draft here.  ``/epds/{id}`` — one version: its results, the module split, module D, the workflow buttons the
  viewer's role allows (declarant: submit, publish; verifier: comment, verify), the comments, the versions
  and the downloads (PDF en/zh, ILCD+EPD XML, openEPD JSON) — every version's files for the organisation's
  members.
* ``/epd/{uuid}/v{version}.pdf|.xml|.json`` — the stable public address of a version, readable without
  signing in only once the version was published (a superseded version stays readable, marked superseded).
* ``/api/v1/orgs/{org}/epds`` (list), ``…/epds/{epd_id}`` (one version with its declaration) and its files
  ``…/{epd_id}/pdf``, ``…/{epd_id}/ilcd.xml``, ``…/{epd_id}/openepd.json`` — Bearer API tokens of the
  organisation (any role), another organisation's EPDs answer 404.

Importing this module registers the pages (``rareeco.web.app.PAGE_MODULES``).  Every page asks ``ctx.need``
before it reads; every POST checks the CSRF token; the workflow rules are the service's
(:mod:`rareeco.declare.epd_service`), so the pages, the API and the command line cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from rareeco.declare import epd as model
from rareeco.declare import epd_service as svc
from rareeco.declare.epd_labels import indicator_name, labels
from rareeco.errors import AuthError, ForbiddenError, NotFoundError, RareecoError, ValidationFailed
from rareeco.ledger import structure, tokens
from rareeco.ledger.db import session_scope
from rareeco.ledger.tokens import READ, WRITE
from rareeco.web.app import PAGE_MODULES, Ctx
from rareeco.web.pages import data_years

COMMENT = ("admin", "steward", "verifier")
MEDIA = {"pdf": "application/pdf", "xml": "application/xml", "json": "application/json"}


def _epd_id(text: str) -> int:
    """An EPD id from the address (anything else: not found)."""
    text = (text or "").strip()
    if not (text.isdigit() and len(text) < 10):
        raise NotFoundError(f"EPD {text!r} not found", fix="open it from the list of EPDs")
    return int(text)


def file_bytes(session: Session, e: Any, fmt: str, lang: str = "en") -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of one download of version ``e``; the checksum is checked first."""
    from rareeco.declare import epd_pdf, ilcd, openepd_export

    svc.check_content(e)
    meta = svc.meta(session, e)
    stem = f"epd-{e.product_code}-{e.year}-v{e.version}"
    if fmt == "pdf":
        lang = "zh" if lang.startswith("zh") else "en"
        comments = [{"author": c.author, "at": c.at.date().isoformat(), "text": c.text}
                    for c in svc.comments(session, e)] if e.status in svc.EDITABLE else []   # review notes: drafts
        return epd_pdf.pdf_bytes(e.content, meta, lang, comments), MEDIA["pdf"], f"{stem}-{lang}.pdf"
    if fmt == "xml":
        return ilcd.to_xml(e.content, meta), MEDIA["xml"], f"{stem}-ilcd.xml"
    if fmt == "json":
        return openepd_export.to_json(e.content, meta), MEDIA["json"], f"{stem}-openepd.json"
    raise NotFoundError(f"no download {fmt!r}", fix="use pdf, xml or json")


def _download(data: bytes, media: str, name: str) -> Response:
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def list_data(session: Session, org_id: str) -> dict[str, Any]:
    rows = [svc.summary(session, e) for e in svc.list_epds(session, org_id)]
    return {"rows": rows, "years": data_years(session, org_id),
            "products": [(p.code, p.name, p.name_zh) for p in structure.products(session, org_id)],
            "settings": svc.settings_of(session, org_id), "programmes": model.PROGRAMMES}


def detail_data(session: Session, org_id: str, epd_id: str) -> dict[str, Any]:
    e = svc.get(session, org_id, _epd_id(epd_id))
    svc.check_content(e)
    c = e.content
    return {"e": e, "c": c, "meta": svc.meta(session, e), "summary": svc.summary(session, e),
            "declared": [r for r in c["results"] if r["status"] == "declared"],
            "nd": [r for r in c["results"] if r["status"] == "ND"],
            "columns": [model.AGGREGATE] + (["D"] if c["modules"]["D"] == "X" else []),
            "comments": svc.comments(session, e), "versions": svc.versions(session, e),
            "stages": model.STAGES,
            "measured_notes": {lang: model.measured_texts(c, lang) for lang in ("en", "zh")}}


def register(app: FastAPI, router_factory: Callable[..., APIRouter] = APIRouter) -> None:
    router = router_factory(include_in_schema=False)
    viewer = app.state.web_viewer
    web_render = app.state.web_render

    def render(ctx: Ctx, template: str, status: int = 200, **data: Any) -> HTMLResponse:
        return web_render(ctx, template, status=status, **data)  # type: ignore[no-any-return]

    page = app.state.web_page

    def action(request: Request, ctx: Ctx, csrf_token: str, roles: tuple[str, ...],
               do: Callable[[str], Any]) -> Response:
        """Check the CSRF token and the role, run ``do(org)`` in a savepoint, then show the EPD page again."""
        def build() -> Response:
            app.state.web_csrf(ctx, csrf_token, request.headers.get("x-csrf-token", ""))
            org = ctx.need(roles)
            with ctx.session.begin_nested():
                e = do(org)
            return RedirectResponse(f"/epds/{e.id if hasattr(e, 'id') else e}", status_code=303)
        return page(ctx, build)

    @router.get("/epds")
    def epds_page(ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            org = ctx.need(READ)
            return render(ctx, "epds.html", can_build=ctx.role in WRITE, **list_data(ctx.session, org))
        return page(ctx, build)

    @router.post("/epds/build")
    def epds_build(request: Request, product: str = Form(""), year: str = Form(""), programme: str = Form(""),
                   address: str = Form(""), csrf_token: str = Form(""), ctx: Ctx = Depends(viewer)) -> Response:
        def do(org: str) -> Any:
            y = year.strip()
            if not (y.isdigit() and len(y) == 4):
                raise ValidationFailed("the year is not YYYY", fix="choose a year from the list")
            overrides = {"programme": programme or None, "address": address.strip() or None}
            e, _ = svc.build(ctx.session, org, product.strip(), int(y), ctx.user.username, overrides)
            return e
        return action(request, ctx, csrf_token, WRITE, do)

    @router.get("/epds/{epd_id}")
    def epd_page(epd_id: str, ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            org = ctx.need(READ)
            data = detail_data(ctx.session, org, epd_id)
            return render(ctx, "epd_detail.html", can_write=ctx.role in WRITE, can_verify=ctx.role == "verifier",
                          can_comment=ctx.role in COMMENT, EL=labels(ctx.lang), indicator_name=indicator_name, **data)
        return page(ctx, build)

    @router.post("/epds/{epd_id}/submit")
    def epd_submit(request: Request, epd_id: str, csrf_token: str = Form(""),
                   ctx: Ctx = Depends(viewer)) -> Response:
        return action(request, ctx, csrf_token, WRITE,
                      lambda org: svc.submit(ctx.session, org, _epd_id(epd_id), ctx.user.username))

    @router.post("/epds/{epd_id}/comment")
    def epd_comment(request: Request, epd_id: str, text: str = Form(""), csrf_token: str = Form(""),
                    ctx: Ctx = Depends(viewer)) -> Response:
        def do(org: str) -> Any:
            svc.add_comment(ctx.session, org, _epd_id(epd_id), ctx.user.username, text)
            return _epd_id(epd_id)
        return action(request, ctx, csrf_token, COMMENT, do)

    @router.post("/epds/{epd_id}/verify")
    def epd_verify(request: Request, epd_id: str, csrf_token: str = Form(""),
                   ctx: Ctx = Depends(viewer)) -> Response:
        return action(request, ctx, csrf_token, ("verifier",),
                      lambda org: svc.verify(ctx.session, org, _epd_id(epd_id), ctx.user.username))

    @router.post("/epds/{epd_id}/publish")
    def epd_publish(request: Request, epd_id: str, csrf_token: str = Form(""),
                   ctx: Ctx = Depends(viewer)) -> Response:
        return action(request, ctx, csrf_token, WRITE,
                      lambda org: svc.publish(ctx.session, org, _epd_id(epd_id), ctx.user.username))

    @router.get("/epds/{epd_id}/download/{fmt}")
    def epd_download(epd_id: str, fmt: str, lang: str = "", ctx: Ctx = Depends(viewer)) -> Response:
        def build() -> Response:
            org = ctx.need(READ)
            e = svc.get(ctx.session, org, _epd_id(epd_id))
            return _download(*file_bytes(ctx.session, e, fmt, lang or ctx.lang))
        return page(ctx, build)

    app.include_router(router)

    # ------------------------------------------------------------ public: published versions only
    public = router_factory(include_in_schema=False)

    @public.get("/epd/{uuid}/v{version}.{fmt}")
    def public_download(uuid: str, version: str, fmt: str, lang: str = "en") -> Response:
        with session_scope(app.state.engine) as s:
            try:
                e = svc.by_version(s, uuid, _epd_id(version))
                if e.status not in ("published", "superseded") or e.published_at is None:
                    raise NotFoundError(f"EPD {uuid} version {version} is not published",
                                        fix="only published versions can be downloaded without signing in")
                return _download(*file_bytes(s, e, fmt, lang))
            except RareecoError as exc:
                return Response(exc.line(), status_code=exc.http_status, media_type="text/plain; charset=utf-8")

    app.include_router(public)
    app.include_router(api_router())


def _api_db(request: Request) -> Any:
    with session_scope(request.app.state.engine) as s:
        yield s


ApiDb = Annotated[Session, Depends(_api_db)]


def _api_reader(request: Request, org: Annotated[str, Path(description="organisation id")], s: ApiDb) -> str:
    """The organisation of the path, if the Bearer token belongs to it (404 otherwise: isolation)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("missing API token", fix="send the header 'Authorization: Bearer TOKEN' "
                                                 "(create one with: rareeco token create ORG NAME)")
    t = tokens.resolve(s, token.strip())
    if t.org_id != org:
        raise NotFoundError(f"organisation {org!r} not found", fix="use your own organisation's id")
    if t.role not in READ:
        raise ForbiddenError(f"role {t.role!r} may not do this", fix=f"needs one of: {', '.join(READ)}")
    return org


ApiOrg = Annotated[str, Depends(_api_reader)]


def api_router() -> APIRouter:
    """``/api/v1/orgs/{org}/epds``: the organisation's EPDs for API tokens (Bearer), read-only."""
    router = APIRouter(prefix="/api/v1/orgs/{org}/epds", tags=["epds"])

    @router.get("")
    def epds_list(org: ApiOrg, s: ApiDb) -> list[dict[str, Any]]:
        """Every version of every EPD of the organisation (newest first), with status and GWP-total."""
        return [svc.summary(s, e) for e in svc.list_epds(s, org)]

    @router.get("/{epd_id}")
    def epd_get(org: ApiOrg, epd_id: int, s: ApiDb) -> dict[str, Any]:
        """One EPD version: workflow facts, comments, versions and the declaration itself."""
        e = svc.get(s, org, epd_id)
        svc.check_content(e)
        return {**svc.summary(s, e),
                "comments": [{"author": c.author, "at": c.at.isoformat(timespec="seconds"), "text": c.text}
                             for c in svc.comments(s, e)],
                "versions": [{"id": v.id, "version": v.version, "status": v.status} for v in svc.versions(s, e)],
                "downloads": {k: f"/api/v1/orgs/{org}/epds/{e.id}/{k}" for k in ("pdf", "ilcd.xml", "openepd.json")},
                "declaration": e.content}

    @router.get("/{epd_id}/pdf")
    def epd_pdf(org: ApiOrg, epd_id: int, s: ApiDb,
                lang: Annotated[str, Query(pattern="^(en|zh)$")] = "en") -> Response:
        """The EPD's PDF (English or Chinese)."""
        return _download(*file_bytes(s, svc.get(s, org, epd_id), "pdf", lang))

    @router.get("/{epd_id}/ilcd.xml")
    def epd_ilcd(org: ApiOrg, epd_id: int, s: ApiDb) -> Response:
        """The EPD as ILCD+EPD v1.3 XML (valid against EPD_DataSet.xsd)."""
        return _download(*file_bytes(s, svc.get(s, org, epd_id), "xml"))

    @router.get("/{epd_id}/openepd.json")
    def epd_openepd(org: ApiOrg, epd_id: int, s: ApiDb) -> Response:
        """The EPD as openEPD JSON."""
        return _download(*file_bytes(s, svc.get(s, org, epd_id), "json"))

    return router


if register not in PAGE_MODULES:
    PAGE_MODULES.append(register)
