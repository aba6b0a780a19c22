"""HTTP API ``/api/v1`` (FastAPI).  One JSON error shape; tokens per organisation.

Every organisation-scoped route takes the organisation from the path and checks it against
the token's organisation *before* any query: a token of another organisation gets the same
404 as a missing organisation, so existence does not leak.
"""


import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import swagger_ui_bundle
from fastapi import Depends, FastAPI, File, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

import rareeco
from rareeco.errors import AuthError, ForbiddenError, NotFoundError, RareecoError
from rareeco.ledger import audit, periods, structure, tokens
from rareeco.ledger.db import READING, make_engine, session_scope
from rareeco.ledger.models import FindingRecord, ImportBatch, Organisation
from rareeco.ledger.tokens import READ, VERIFY, WRITE

PREFIX = "/api/v1"


class ErrorBody(BaseModel):
    code: str
    message: str
    fix: str | None = None
    findings: list[dict[str, Any]] = []


class ErrorResponse(BaseModel):
    error: ErrorBody


class OrgOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class SiteIn(BaseModel):
    code: str
    province: str
    name: str | None = None
    grid_region: str | None = None


class SiteOut(BaseModel):
    code: str
    name: str
    province: str
    grid_region: str


class BatchOut(BaseModel):
    id: int
    file_name: str
    sha256: str
    imported_by: str
    imported_at: datetime
    rows_total: int
    rows_stored: int
    rows_quarantined: int
    status: str
    supersedes_id: int | None
    superseded_by_id: int | None


class LockIn(BaseModel):
    comment: str = ""


def error_json(status: int, code: str, message: str, fix: str | None = None,
               findings: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "fix": fix,
                                                               "findings": findings or []}})


class Caller(BaseModel):
    org_id: str
    role: str
    name: str


def create_app(db_url: str | None = None, engine: Engine | None = None, demo_mode: bool | None = None) -> FastAPI:
    eng = engine or make_engine(db_url)
    app = FastAPI(title="rareeco API", version=rareeco.__version__, openapi_url=f"{PREFIX}/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Carbon ledger of rare-earth producers: organisations, sites, activity imports, "
                              "findings, GHG inventory results and the audit log.",
                  responses={code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 422)})
    app.state.engine = eng
    app.add_middleware(GZipMiddleware, minimum_size=1024)   # ECharts is 1 MB raw, ~340 kB compressed

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Any) -> Any:
        """``Server-Timing: app;dur=…`` (milliseconds) on every response — what the page benchmark reads."""
        t0 = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.2f}"
        return response

    @app.exception_handler(RareecoError)
    async def _rareeco_error(_req: Request, exc: RareecoError) -> JSONResponse:
        return error_json(exc.http_status, exc.code, exc.message, exc.fix, [f.to_dict() for f in exc.findings])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        return error_json(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        findings = [{"code": "invalid_request", "column": ".".join(map(str, e.get("loc", []))),
                     "message": e.get("msg", ""), "severity": "blocking"} for e in exc.errors()]
        return error_json(422, "invalid_request", "the request is not valid", "see findings", findings)

    @app.exception_handler(Exception)
    async def _internal(_req: Request, exc: Exception) -> JSONResponse:
        return error_json(500, "internal_error", f"internal error ({type(exc).__name__})",
                          "the server logged it; try again or report it")

    def db(request: Request) -> Iterator[Session]:
        with session_scope(app.state.engine, read_only=request.method in READING) as s:   # see web/app.py
            yield s

    Db = Annotated[Session, Depends(db, scope="function")]   # commit before the response (see web/app.py)

    def caller(request: Request, s: Db) -> Caller:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthError("missing API token", fix="send the header 'Authorization: Bearer TOKEN' "
                                                     "(create one with: rareeco token create ORG NAME)")
        t = tokens.resolve(s, token.strip())
        return Caller(org_id=t.org_id, role=t.role, name=f"token:{t.name}")

    def org_access(roles: tuple[str, ...]) -> Any:
        def dep(org: Annotated[str, Path(description="organisation id")],
                who: Annotated[Caller, Depends(caller)]) -> Caller:
            if who.org_id != org:
                raise NotFoundError(f"organisation {org!r} not found", fix="use your own organisation's id")
            if who.role not in roles:
                raise ForbiddenError(f"role {who.role!r} may not do this", fix=f"needs one of: {', '.join(roles)}")
            return who
        return dep

    Reader = Annotated[Caller, Depends(org_access(READ))]
    Writer = Annotated[Caller, Depends(org_access(WRITE))]
    Verifier = Annotated[Caller, Depends(org_access(VERIFY))]

    # Swagger UI from the swagger-ui-bundle package: nothing is loaded from a CDN.
    app.mount(f"{PREFIX}/docs/static", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")

    @app.get(f"{PREFIX}/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{PREFIX}/openapi.json", title="rareeco API",
                                   swagger_js_url=f"{PREFIX}/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url=f"{PREFIX}/docs/static/swagger-ui.css",
                                   swagger_favicon_url=f"{PREFIX}/docs/static/favicon-32x32.png")

    @app.get(f"{PREFIX}/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": rareeco.__version__}

    @app.get(f"{PREFIX}/activities", tags=["reference"])
    def activities_list(_who: Annotated[Caller, Depends(caller)]) -> list[dict[str, Any]]:
        from rareeco.reference.catalogue import activities

        return [a.__dict__ for a in activities().values()]

    @app.get(f"{PREFIX}/orgs/{{org}}", tags=["organisations"], response_model=OrgOut)
    def org_get(org: str, _who: Reader, s: Db) -> Organisation:
        return structure.get_org(s, org)

    @app.get(f"{PREFIX}/orgs/{{org}}/sites", tags=["organisations"], response_model=list[SiteOut])
    def sites_list(org: str, _who: Reader, s: Db) -> list[Any]:
        return structure.sites(s, org)

    @app.post(f"{PREFIX}/orgs/{{org}}/sites", tags=["organisations"], response_model=SiteOut, status_code=201)
    def sites_add(org: str, body: SiteIn, who: Writer, s: Db) -> Any:
        return structure.add_site(s, org, body.code, body.province, body.name, body.grid_region, who.name)

    @app.post(f"{PREFIX}/orgs/{{org}}/imports", tags=["imports"], status_code=201)
    def imports_add(org: str, who: Writer, s: Db, file: Annotated[UploadFile, File()],
                    partial: bool = False, replace: int | None = None) -> dict[str, Any]:
        from rareeco.ingest.activity import import_activity

        data = file.file.read()
        return import_activity(s, org, data, file.filename or "upload.csv", who.name, partial, replace).to_dict()

    @app.get(f"{PREFIX}/orgs/{{org}}/imports", tags=["imports"], response_model=list[BatchOut])
    def imports_list(org: str, _who: Reader, s: Db) -> list[Any]:
        from rareeco.ingest.activity import batches

        return batches(s, org)

    @app.get(f"{PREFIX}/orgs/{{org}}/imports/{{batch_id}}", tags=["imports"], response_model=BatchOut)
    def imports_get(org: str, batch_id: int, _who: Reader, s: Db) -> Any:
        b = s.execute(select(ImportBatch).where(ImportBatch.org_id == org, ImportBatch.id == batch_id)) \
            .scalar_one_or_none()
        if b is None:
            raise NotFoundError(f"batch {batch_id} not found", fix="list the batches: GET .../imports")
        return b

    @app.get(f"{PREFIX}/orgs/{{org}}/findings", tags=["imports"])
    def findings_list(org: str, _who: Reader, s: Db, batch_id: int | None = None,
                      limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[dict[str, Any]]:
        q = select(FindingRecord).where(FindingRecord.org_id == org)
        if batch_id is not None:
            q = q.where(FindingRecord.batch_id == batch_id)
        return [{"batch_id": f.batch_id, "severity": f.severity, "code": f.code, "file": f.file, "row": f.row,
                 "column": f.column, "value": f.value, "message": f.message, "fix": f.fix}
                for f in s.execute(q.order_by(FindingRecord.id).limit(limit)).scalars()]

    @app.get(f"{PREFIX}/orgs/{{org}}/quarantine", tags=["imports"])
    def quarantine_list(org: str, _who: Reader, s: Db, batch_id: int | None = None) -> list[dict[str, Any]]:
        from rareeco.ingest.activity import quarantine_rows

        return [{"batch_id": q.batch_id, "row": q.row_no, "raw": q.raw, "reasons": q.reasons}
                for q in quarantine_rows(s, org, batch_id)]

    @app.get(f"{PREFIX}/orgs/{{org}}/inventory/{{year}}", tags=["inventory"])
    def inventory_get(org: str, year: Annotated[int, Path(ge=1990, le=2100)], who: Reader, s: Db,
                      method: str = "ghg-protocol", gwp_set: str = "ar6") -> dict[str, Any]:
        from rareeco.inventory.service import inventory

        return inventory(s, org, year, method, gwp_set, None, who.name)

    @app.get(f"{PREFIX}/orgs/{{org}}/inventory/{{year}}/explain", tags=["inventory"])
    def inventory_explain(org: str, year: Annotated[int, Path(ge=1990, le=2100)], _who: Reader, s: Db,
                          site: str | None = None, month: str | None = None, activity: str | None = None,
                          scope: str | None = None, method: str = "ghg-protocol",
                          gwp_set: str = "ar6", line: str | None = None) -> dict[str, Any]:
        from rareeco.inventory.explain import explain

        return explain(s, org, year, site, month, activity, scope, method, gwp_set, line=line)

    @app.get(f"{PREFIX}/orgs/{{org}}/footprints/{{year}}", tags=["footprints"])
    def footprints_list(org: str, year: Annotated[int, Path(ge=1990, le=2100)], who: Reader,
                        s: Db) -> dict[str, Any]:
        """Every product made in the year: kg CO2e per declared unit under the default allocation, both
        allocations side by side, the 95 % interval, the primary-data share (ISO 14067, stored with provenance)."""
        from rareeco.footprint.service import footprints, summary

        p = footprints(s, org, year, actor=who.name)
        return {"organisation": org, "year": year, "gwp_set": p["gwp_set"],
                "default_allocation": p["default_allocation"], "result_id": p.get("result_id"),
                "unavailable_allocations": p["unavailable_allocations"], "products": summary(p)}

    @app.get(f"{PREFIX}/orgs/{{org}}/footprints/{{year}}/{{product}}", tags=["footprints"])
    def footprint_get(org: str, year: Annotated[int, Path(ge=1990, le=2100)], product: str, who: Reader, s: Db,
                      allocation: Annotated[str | None, Query(description="mass or economic (default: the "
                                                                          "organisation's settings)")] = None
                      ) -> dict[str, Any]:
        """One product's footprint: contributions, ISO 14067 split, data quality, uncertainty, both
        allocations, the line's allocation factors, notes, exclusions and provenance."""
        from rareeco.footprint.service import footprints, product_footprint

        return product_footprint(footprints(s, org, year, actor=who.name), product, allocation)

    @app.get(f"{PREFIX}/orgs/{{org}}/periods", tags=["verification"])
    def periods_list(org: str, _who: Reader, s: Db) -> list[dict[str, Any]]:
        return [{"period": p.period, "locked_by": p.locked_by, "locked_at": p.locked_at, "comment": p.comment,
                 "unlocked_by": p.unlocked_by, "unlocked_at": p.unlocked_at, "unlock_comment": p.unlock_comment}
                for p in periods.all_locks(s, org)]

    @app.post(f"{PREFIX}/orgs/{{org}}/periods/{{period}}/lock", tags=["verification"], status_code=201)
    def periods_lock(org: str, period: str, body: LockIn, who: Verifier, s: Db) -> dict[str, Any]:
        from rareeco.inventory.service import lock_year

        return lock_year(s, org, period, who.name, body.comment)

    @app.post(f"{PREFIX}/orgs/{{org}}/periods/{{period}}/unlock", tags=["verification"])
    def periods_unlock(org: str, period: str, body: LockIn, who: Verifier, s: Db) -> dict[str, Any]:
        p = periods.unlock(s, org, period, who.name, body.comment)
        return {"period": p.period, "unlocked_by": p.unlocked_by, "unlocked_at": p.unlocked_at}

    @app.get(f"{PREFIX}/orgs/{{org}}/audit", tags=["verification"])
    def audit_list(org: str, _who: Reader, s: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                   offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
        return [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "subject": e.subject,
                 "details": e.details, "hash": e.hash} for e in audit.entries(s, org, limit, offset)]

    @app.get(f"{PREFIX}/orgs/{{org}}/audit/verify", tags=["verification"])
    def audit_verify(org: str, _who: Reader, s: Db) -> dict[str, Any]:
        return audit.verify(s).to_dict()

    from rareeco import settings
    from rareeco.web.app import mount

    mount(app, eng, demo_mode if demo_mode is not None else settings.get("RAREECO_DEMO") == "1")
    return app
