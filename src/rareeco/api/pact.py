"""The PACT v3 host: buyers pull the organisation's published footprints over HTTPS (PACT Technical
Specifications v3.0, "Host system").

Routes: ``POST /auth/token`` (OAuth2 client credentials, HTTP Basic), ``GET /.well-known/openid-configuration``,
``GET /3/footprints`` (filters, ``limit``, RFC 8288 ``Link: <…>; rel="next"``), ``GET /3/footprints/{id}``,
``POST /3/events`` (CloudEvents 1.0) and, read-only for v2.3 recipients, ``GET /2/footprints[/{id}]``.
Errors are PACT's ``{"code", "message"}`` with its status codes (the token endpoint answers per RFC 6749 §5.2).

Access: each buyer is a :class:`~rareeco.ledger.models.PactClient` of one organisation; it sees that
organisation's footprints of the products it is granted (``*``: all), never another organisation's and never
another client's grants.  The client row and its grants are read on every request, so a revocation or a
withdrawn grant takes effect at once.

Speed: a single footprint is one indexed row read plus a cached serialisation (keyed by id and status); a
list is answered from a per-worker index of the organisation's footprints (filter keys and serialised
payloads), refreshed at most every ``RAREECO_PACT_LIST_REFRESH_MS`` when the table changed.

Events: a ``RequestCreatedEvent`` is answered asynchronously — fulfilled with the matching footprints or
rejected with ``NotFound`` — by an event POSTed to the requester's ``/3/events``, only if the request's
``source`` names one of the client's ``callback_hosts``.  Replies wait in the ``pact_events`` outbox and are
retried with exponential back-off (``RAREECO_PACT_RETRY_BASE_SECONDS``) for ``RAREECO_PACT_RETRY_HOURS``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import random
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Engine, func, select, update
from starlette.exceptions import HTTPException as StarletteHTTPException

from rareeco import settings
from rareeco.declare import pact
from rareeco.declare.pact import Criteria, CriteriaError, Keys
from rareeco.ledger.db import read_only, session_scope
from rareeco.ledger.models import Organisation, PactClient, PactEvent, PactFootprint
from rareeco.tls import ServerTls

log = logging.getLogger("rareeco.pact")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_EVENT_BYTES = 1_000_000
SCOPE = "footprint:list footprint:read"
LEASE = timedelta(seconds=60)          # a claimed delivery is retried by another worker after this
MAX_DELAY_S = 3600.0


class PactApiError(Exception):
    """An error response of the PACT API: ``code`` from the specification's table, with its status."""

    STATUS = {"BadRequest": 400, "AccessDenied": 403, "NotFound": 404, "NotImplemented": 400,
              "TokenExpired": 401, "InternalError": 500}

    def __init__(self, code: str, message: str, status: int | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or self.STATUS[code]


def error_response(code: str, message: str, status: int | None = None) -> Response:
    return Response(json.dumps({"code": code, "message": message}).encode(),
                    status_code=status or PactApiError.STATUS[code], media_type="application/json")


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """RFC 6749 §5.2 error of the token endpoint."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="pact", charset="UTF-8"'
    return Response(json.dumps({"error": error, "error_description": description}).encode(), status_code=status,
                    media_type="application/json", headers=headers)


@dataclass
class HostConfig:
    """How the host runs: the ledger, the token key and lifetime, retry and refresh timing, callback TLS."""

    engine: Engine
    signing_key: bytes
    token_seconds: int = 3600
    base_url: str = ""
    retry_base_s: float = 2.0
    retry_hours: float = 72.0
    list_refresh_s: float = 1.0
    callback_ssl: ssl.SSLContext | bool = True
    deliver: bool = True
    delivery_poll_s: float = 1.0
    warm: bool = True

    @classmethod
    def from_settings(cls, engine: Engine, signing_key: bytes) -> HostConfig:
        from rareeco.tls import client_context

        return cls(engine, signing_key, settings.get_int("RAREECO_PACT_TOKEN_SECONDS"),
                   settings.get("RAREECO_PACT_BASE_URL").rstrip("/"),
                   float(settings.get("RAREECO_PACT_RETRY_BASE_SECONDS")),
                   float(settings.get("RAREECO_PACT_RETRY_HOURS")),
                   settings.get_int("RAREECO_PACT_LIST_REFRESH_MS") / 1000.0, client_context())


# ------------------------------------------------------------------ the caller

@dataclass(frozen=True)
class Caller:
    pk: int
    client_id: str
    org_id: str
    grants: frozenset[str]
    callback_hosts: tuple[Any, ...]

    def may_see(self, product_code: str) -> bool:
        return pact.ALL_PRODUCTS in self.grants or product_code in self.grants


class Tokens:
    """Signed bearer tokens (JWT, HS256) and the verified claims of recent ones."""

    def __init__(self, key: bytes, lifetime_s: int):
        self.key, self.lifetime_s = key, lifetime_s
        self._seen: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self, client_id: str, issuer: str) -> str:
        t = int(time.time())
        return jwt.encode({"iss": issuer, "sub": client_id, "iat": t, "exp": t + self.lifetime_s,
                           "jti": uuid.uuid4().hex, "scope": SCOPE}, self.key, algorithm="HS256")

    def subject(self, token: str) -> str:
        """The client id a token was issued to; PactApiError BadRequest (invalid) or TokenExpired (401)."""
        hit = self._seen.get(token)
        if hit is not None:
            if hit[1] > time.time():
                return hit[0]
            raise PactApiError("TokenExpired", "The specified access token has expired")
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"], options={"require": ["exp", "sub", "iat"]})
        except jwt.ExpiredSignatureError:
            raise PactApiError("TokenExpired", "The specified access token has expired") from None
        except jwt.PyJWTError:
            raise PactApiError("BadRequest", "Invalid token provided") from None
        with self._lock:
            self._seen[token] = (str(claims["sub"]), float(claims["exp"]))
            while len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        return str(claims["sub"])


# ------------------------------------------------------------------ the footprint index of one worker

@dataclass
class Entry:
    keys: Keys
    body: bytes                       # the serialised v3 payload
    payload: dict[str, Any]


@dataclass
class OrgIndex:
    entries: dict[str, Entry] = field(default_factory=dict)
    ordered: list[Entry] = field(default_factory=list)
    signature: tuple[Any, ...] = ()
    checked_at: float = 0.0
    cpc: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the results of recent queries (grants, criteria) over this state of the index: paging through one
    # query filters once; replaced whole when the index changes
    results: OrderedDict[tuple[frozenset[str], Criteria], list[Entry]] = field(default_factory=OrderedDict)


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class Reads:
    """The reads every request makes, on one raw DB-API connection per thread in autocommit mode (each read sees
    the latest committed state).  SQLAlchemy's per-statement overhead (~250 µs: pool checkout, BEGIN,
    ROLLBACK) is fifty times these indexed lookups, so the hot path speaks SQL to the driver directly."""

    CLIENT = ("SELECT c.id, c.org_id, c.revoked_at, c.callback_hosts, g.product_code FROM pact_clients c "
              "LEFT OUTER JOIN pact_grants g ON g.client_pk = c.id WHERE c.client_id = ?")
    FOOTPRINT = "SELECT org_id, product_code, status FROM pact_footprints WHERE id = ?"
    PAYLOAD = "SELECT payload FROM pact_footprints WHERE id = ?"

    def __init__(self, engine: Engine):
        self.engine = engine
        self.local = threading.local()
        self.qmark = engine.dialect.paramstyle == "qmark"

    def _connection(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            fairy = self.engine.raw_connection()
            dbapi: Any = fairy.driver_connection
            if self.engine.dialect.name == "postgresql":
                dbapi.rollback()
                dbapi.autocommit = True
            self.local.fairy, self.local.conn = fairy, dbapi
            conn = dbapi
        return conn

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        sql = sql if self.qmark else sql.replace("?", "%s")
        for attempt in (1, 2):
            try:
                return list(self._connection().execute(sql, params).fetchall())
            except Exception:
                fairy = getattr(self.local, "fairy", None)
                self.local.conn = self.local.fairy = None
                if fairy is not None:
                    with contextlib.suppress(Exception):
                        fairy.invalidate()
                if attempt == 2:
                    raise
        return []


def _json(value: Any) -> Any:
    """A JSON column as read by the driver: text (SQLite) or already decoded (PostgreSQL)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


class Footprints:
    """Published footprints as this worker serves them: the per-organisation index for lists, and a bounded
    cache of serialised payloads for single reads (keyed by id and status, so a deprecation is never stale)."""

    def __init__(self, engine: Engine, refresh_s: float):
        self.engine, self.refresh_s = engine, refresh_s
        self.reads = Reads(engine)
        self.orgs: dict[str, OrgIndex] = {}
        self.single: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.single_max = 50_000
        self._lock = threading.Lock()

    # -- single footprints: always the row's current status
    def one(self, pf_id: str) -> tuple[str, str, str, bytes] | None:
        """(org, product, status, serialised payload) of footprint ``pf_id``, or None."""
        rows = self.reads.rows(Reads.FOOTPRINT, (pf_id,))
        if not rows:
            return None
        org_id, product, status = rows[0]
        idx = self.orgs.get(org_id)
        entry = idx.entries.get(pf_id) if idx is not None else None
        if entry is not None and entry.keys.status == status:
            return org_id, product, status, entry.body
        body = self.single.get((pf_id, status))
        if body is None:
            payload = self.reads.rows(Reads.PAYLOAD, (pf_id,))
            if not payload:
                return None
            body = dumps(_json(payload[0][0]))
            with self._lock:
                self.single[(pf_id, status)] = body
                while len(self.single) > self.single_max:
                    self.single.popitem(last=False)
        return org_id, product, status, body

    # -- lists: the organisation's index
    def due(self, org_id: str) -> bool:
        idx = self.orgs.get(org_id)
        return idx is None or time.monotonic() - idx.checked_at >= self.refresh_s

    def index(self, org_id: str, force: bool = False) -> OrgIndex:
        idx = self.orgs.get(org_id)
        if idx is None:
            with self._lock:
                idx = self.orgs.setdefault(org_id, OrgIndex())
        if force or time.monotonic() - idx.checked_at >= self.refresh_s:
            with idx.lock:
                if force or time.monotonic() - idx.checked_at >= self.refresh_s:
                    self._refresh(org_id, idx)
        return idx

    def _refresh(self, org_id: str, idx: OrgIndex) -> None:
        with read_only(self.engine).connect() as conn:
            sig: tuple[Any, ...] = tuple(conn.execute(
                select(func.count(PactFootprint.id), func.max(PactFootprint.created_at),
                       func.max(PactFootprint.updated_at)).where(PactFootprint.org_id == org_id)).one())
            settings_row = conn.execute(select(Organisation.settings).where(Organisation.id == org_id)).scalar()
            sig = (*sig, json.dumps(settings_row, sort_keys=True, default=str))
            if sig == idx.signature:
                idx.checked_at = time.monotonic()
                return
            state = {r[0]: r[1] for r in conn.execute(select(PactFootprint.id, PactFootprint.status)
                                                      .where(PactFootprint.org_id == org_id))}
            stale = [i for i, st in state.items() if i not in idx.entries or idx.entries[i].keys.status != st]
            entries = {i: e for i, e in idx.entries.items() if i in state and i not in stale}
            for start in range(0, len(stale), 500):
                chunk = stale[start:start + 500]
                for pid, code, status, created, payload in conn.execute(
                        select(PactFootprint.id, PactFootprint.product_code, PactFootprint.status,
                               PactFootprint.created_at, PactFootprint.payload).where(PactFootprint.id.in_(chunk))):
                    entries[pid] = Entry(Keys.of(org_id, code, status, created, payload), dumps(payload), payload)
        prof = (settings_row or {}).get("pact") or {}
        idx.cpc = {code: str(p["cpc"]) for code, p in (prof.get("products") or {}).items() if p.get("cpc")}
        idx.entries = entries
        idx.ordered = sorted(entries.values(), key=lambda e: (e.keys.created, e.keys.id))
        idx.results = OrderedDict()
        idx.signature = sig
        idx.checked_at = time.monotonic()

    def matching(self, caller: Caller, criteria: Criteria, force: bool = False) -> list[Entry]:
        """The caller's footprints that meet ``criteria``, oldest first (the order pagination relies on)."""
        idx = self.index(caller.org_id, force)
        results, key = idx.results, (caller.grants, criteria)
        found = results.get(key)
        if found is not None:
            return found
        everything = pact.ALL_PRODUCTS in caller.grants
        if everything and criteria.empty():
            found = idx.ordered
        else:
            found = [e for e in idx.ordered if (everything or e.keys.product_code in caller.grants)
                     and e.keys.matches(criteria)]
        with idx.lock:
            if results is idx.results:
                results[key] = found
                while len(results) > 256:
                    results.popitem(last=False)
        return found

    def warm(self) -> None:
        """Build the index of every organisation with footprints (at start, so first requests are fast)."""
        with read_only(self.engine).connect() as conn:
            orgs = list(conn.execute(select(PactFootprint.org_id).distinct()).scalars())
        for org_id in orgs:
            self.index(org_id, force=True)


# ------------------------------------------------------------------ the application

def create_pact_app(config: HostConfig) -> FastAPI:
    """The PACT host application (serve it over TLS only: :func:`serve`)."""
    tokens = Tokens(config.signing_key, config.token_seconds)
    store = Footprints(config.engine, config.list_refresh_s)
    wake = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(delivery_loop(config, wake)) if config.deliver else None
        if config.warm:
            threading.Thread(target=store.warm, name="pact-index-warm", daemon=True).start()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="rareeco PACT host", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.pact_store = store
    app.state.pact_wake = wake

    @app.exception_handler(PactApiError)
    async def _pact_error(_req: Request, exc: PactApiError) -> Response:
        return error_response(exc.code, exc.message, exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response("NotFound", "The specified resource does not exist")
        if exc.status_code == 405:
            return error_response("BadRequest", "Method not allowed", 405)
        return error_response("BadRequest", str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(_req: Request, exc: Exception) -> Response:
        log.exception("PACT host error")
        return error_response("InternalError", "An internal or unexpected error has occurred")

    def base_url(request: Request) -> str:
        if config.base_url:
            return config.base_url
        host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
        return f"https://{host}{request.scope.get('root_path', '')}"

    def caller_of(request: Request) -> Caller:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise PactApiError("BadRequest", "Invalid token provided")
        sub = tokens.subject(token.strip())
        rows = store.reads.rows(Reads.CLIENT, (sub,))
        if not rows or rows[0][2] is not None:
            raise PactApiError("AccessDenied", "Access denied")
        return Caller(rows[0][0], sub, rows[0][1], frozenset(r[4] for r in rows if r[4] is not None),
                      tuple(_json(rows[0][3]) or ()))

    # -------------------------------------------------------------- authentication

    async def auth_token(request: Request) -> Response:
        if request.url.scheme != "https":            # behind a misconfigured proxy: never hand out a token in clear
            return oauth_error("invalid_request", "HTTPS is required")
        body = (await request.body())[:10_000].decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
        client_id, secret, via_header = "", "", False
        auth = request.headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            via_header = True
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return oauth_error("invalid_client", "Client authentication failed", 401)
            user, sep, password = decoded.partition(":")
            if not sep:
                return oauth_error("invalid_client", "Client authentication failed", 401)
            client_id, secret = unquote(user), unquote(password)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not secret:
            return oauth_error("invalid_client", "Client authentication failed", 401 if via_header else 400)

        def check() -> bool:
            with session_scope(config.engine, read_only=True) as s:
                return pact.authenticate(s, client_id, secret) is not None

        from starlette.concurrency import run_in_threadpool

        if not await run_in_threadpool(check):
            return oauth_error("invalid_client", "Client authentication failed", 401)
        token = tokens.issue(client_id, base_url(request))
        return Response(dumps({"access_token": token, "token_type": "Bearer", "expires_in": config.token_seconds,
                               "scope": SCOPE}), media_type="application/json",
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def openid_configuration(request: Request) -> Response:
        base = base_url(request)
        return Response(dumps({
            "issuer": base, "token_endpoint": f"{base}/auth/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["client_credentials"], "response_types_supported": ["token"],
            "scopes_supported": SCOPE.split(), "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256"]}), media_type="application/json")

    # -------------------------------------------------------------- footprints

    def list_query(request: Request, allowed_extra: tuple[str, ...] = ()) -> tuple[Criteria, int, int, list[Any]]:
        params = list(parse_qsl(request.url.query, keep_blank_values=True))
        names = {k for k, _ in params}
        for k in names:
            if k.startswith("$") or k.lower().startswith("x-"):
                raise PactApiError("NotImplemented", f"The query parameter {k!r} is not implemented "
                                                     "(the OData $filter of v2 is deprecated in v3)")
            if k not in (*pact.FILTERS, "limit", "offset", *allowed_extra):
                raise PactApiError("BadRequest", f"Unknown query parameter {k!r}")

        def values(name: str) -> list[str]:
            return [v for k, v in params if k == name]

        def integer(name: str, default: int, minimum: int) -> int:
            vs = values(name)
            if not vs:
                return default
            if len(vs) > 1 or not vs[0].isdigit() or int(vs[0]) < minimum:
                raise PactApiError("BadRequest", f"{name} must be an integer of at least {minimum}")
            return int(vs[0])

        try:
            criteria = Criteria.parse(values)
        except CriteriaError as exc:
            raise PactApiError("BadRequest", str(exc)) from None
        limit = min(integer("limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
        return criteria, limit, integer("offset", 0, 0), [(k, v) for k, v in params if k not in ("limit", "offset")]

    def page(request: Request, entries: list[Entry], limit: int, offset: int, kept: list[Any],
             bodies: list[bytes]) -> Response:
        headers = {}
        if offset + limit < len(entries):
            query = urlencode([*kept, ("limit", str(limit)), ("offset", str(offset + limit))])
            headers["Link"] = f'<{base_url(request)}{request.url.path}?{query}>; rel="next"'
        return Response(b'{"data":[' + b",".join(bodies) + b"]}", media_type="application/json", headers=headers)

    async def fresh_index(org_id: str) -> None:
        """Refresh the organisation's index off the event loop when it is due (the first load parses every
        payload once)."""
        if store.due(org_id):
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(store.index, org_id)

    async def list_footprints(request: Request) -> Response:
        caller = caller_of(request)
        criteria, limit, offset, kept = list_query(request)
        if not caller.grants:
            raise PactApiError("AccessDenied", "No footprints are shared with this client")
        await fresh_index(caller.org_id)
        entries = store.matching(caller, criteria)
        chosen = entries[offset:offset + limit]
        return page(request, entries, limit, offset, kept, [e.body for e in chosen])

    async def get_footprint(request: Request) -> Response:
        pf_id = request.path_params["pf_id"]
        caller = caller_of(request)
        found = store.one(pf_id)
        if found is None or found[0] != caller.org_id:
            raise PactApiError("NotFound", f"Footprint with ID {pf_id!r} does not exist")
        if not caller.may_see(found[1]):
            raise PactApiError("AccessDenied", "Access denied")
        return Response(b'{"data":' + found[3] + b"}", media_type="application/json")

    # -------------------------------------------------------------- v2.3, read-only

    def v2_body(idx: OrgIndex, e: Entry) -> bytes | None:
        cpc = idx.cpc.get(e.keys.product_code)
        return dumps(pact.to_v2(e.payload, cpc)) if cpc else None

    async def list_footprints_v2(request: Request) -> Response:
        caller = caller_of(request)
        _criteria, limit, offset, kept = list_query(request)
        if any(k in pact.FILTERS for k, _ in kept):
            raise PactApiError("NotImplemented", "v2 filtering ($filter) is not implemented; use /3/footprints")
        if not caller.grants:
            raise PactApiError("AccessDenied", "No footprints are shared with this client")
        await fresh_index(caller.org_id)
        idx = store.index(caller.org_id)
        entries = [e for e in store.matching(caller, Criteria()) if e.keys.product_code in idx.cpc]
        bodies = [b for b in (v2_body(idx, e) for e in entries[offset:offset + limit]) if b is not None]
        return page(request, entries, limit, offset, kept, bodies)

    async def get_footprint_v2(request: Request) -> Response:
        pf_id = request.path_params["pf_id"]
        caller = caller_of(request)
        found = store.one(pf_id)
        if found is None or found[0] != caller.org_id:
            raise PactApiError("NotFound", f"Footprint with ID {pf_id!r} does not exist")
        if not caller.may_see(found[1]):
            raise PactApiError("AccessDenied", "Access denied")
        await fresh_index(caller.org_id)
        idx = store.index(caller.org_id)
        cpc = idx.cpc.get(found[1])
        if not cpc:
            raise PactApiError("NotFound", f"Footprint {pf_id!r} is not offered in v2.3: its product has no UN CPC "
                                           "code (productCategoryCpc); use /3/footprints")
        return Response(b'{"data":' + dumps(pact.to_v2(json.loads(found[3]), cpc)) + b"}",
                        media_type="application/json")

    # -------------------------------------------------------------- events

    async def events(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        caller = caller_of(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/cloudevents+json", "application/json"):
            raise PactApiError("BadRequest", "Content-Type must be application/cloudevents+json")
        raw = await request.body()
        if len(raw) > MAX_EVENT_BYTES:
            raise PactApiError("BadRequest", "The event is too large")
        try:
            event = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise PactApiError("BadRequest", "The body is not JSON") from None
        if not isinstance(event, dict):
            raise PactApiError("BadRequest", "The body must be a CloudEvent (a JSON object)")
        for k in ("specversion", "id", "source", "type"):
            if not isinstance(event.get(k), str) or not event[k]:
                raise PactApiError("BadRequest", f"CloudEvent attribute {k!r} is missing")
        if event["specversion"] != "1.0":
            raise PactApiError("BadRequest", "Only CloudEvents specversion 1.0 is accepted")
        if not isinstance(event.get("data"), dict):
            raise PactApiError("BadRequest", "The event needs a data object")
        if event["type"] not in pact.EVENT_TYPES:
            raise PactApiError("NotImplemented", f"Event type {event['type']!r} is not implemented")
        await run_in_threadpool(receive_event, config, store, caller, event, base_url(request))
        wake.set()
        return Response(status_code=200)

    # Plain Starlette routes: the handlers read the request themselves, so FastAPI's parameter machinery
    # would only add work to every request.
    for path, endpoint, methods in (
            ("/auth/token", auth_token, ["POST"]),
            ("/.well-known/openid-configuration", openid_configuration, ["GET"]),
            ("/3/footprints", list_footprints, ["GET"]), ("/3/footprints/{pf_id}", get_footprint, ["GET"]),
            ("/2/footprints", list_footprints_v2, ["GET"]), ("/2/footprints/{pf_id}", get_footprint_v2, ["GET"]),
            ("/3/events", events, ["POST"])):
        app.add_route(path, endpoint, methods=methods, include_in_schema=False)
    return app


# ------------------------------------------------------------------ events: receiving

def receive_event(config: HostConfig, store: Footprints, caller: Caller, event: dict[str, Any], base: str) -> None:
    """Record an accepted event; for a footprint request, queue the answer in the outbox."""
    data = event["data"]
    etype = event["type"]
    if etype == pact.PUBLISHED:
        ids = data.get("pfIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise PactApiError("BadRequest", "data.pfIds must be a non-empty list of footprint ids")
    elif etype in (pact.REQUEST_FULFILLED, pact.REQUEST_REJECTED) and not isinstance(data.get("requestEventId"), str):
        raise PactApiError("BadRequest", "data.requestEventId is missing")
    target = None
    criteria = Criteria()
    if etype == pact.REQUEST_CREATED:
        unknown = sorted(set(data) - {*pact.FILTERS, "comment"})
        if unknown:
            code = "NotImplemented" if any(k.lower().startswith("x-") for k in unknown) else "BadRequest"
            raise PactApiError(code, f"Unknown request criteria: {', '.join(unknown)}")
        try:
            criteria = Criteria.from_event_data(data)
        except CriteriaError as exc:
            raise PactApiError("BadRequest", str(exc)) from None
        if data.get("comment") is not None and not isinstance(data["comment"], str):
            raise PactApiError("BadRequest", "data.comment must be a string")
        target = pact.event_target(event["source"], caller.callback_hosts)
        if target is None:
            raise PactApiError("AccessDenied", f"Events are not sent to {event['source']!r}: it is not a callback "
                                               "host registered for this client")
    with session_scope(config.engine) as s:
        dup = s.execute(select(PactEvent.id).where(PactEvent.client_pk == caller.pk, PactEvent.direction == "in",
                                                   PactEvent.event_id == event["id"],
                                                   PactEvent.event_type == etype)).first()
        if dup is not None:
            return                                       # CloudEvents are identified by source and id: once only
        at = datetime.now(UTC)
        s.add(PactEvent(org_id=caller.org_id, client_pk=caller.pk, direction="in", event_type=etype,
                        event_id=event["id"], target_url=None, payload=event, status="received", attempts=0,
                        next_attempt_at=None, last_error=None, created_at=at))
        if target is None:
            return
        if criteria.status is None:
            criteria = Criteria(**{**criteria.__dict__, "status": "active"})    # the latest versions
        found = [e.payload for e in store.matching(caller, criteria, force=True)] if caller.grants else []
        reply: dict[str, Any] = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"{base}/3/events",
                                 "time": pact.iso(at)}
        if found:
            reply.update(type=pact.REQUEST_FULFILLED, data={"requestEventId": event["id"], "pfs": found})
        else:
            reply.update(type=pact.REQUEST_REJECTED,
                         data={"requestEventId": event["id"],
                               "error": {"code": "NotFound", "message": "The requested footprint could not be found."}})
        s.add(PactEvent(org_id=caller.org_id, client_pk=caller.pk, direction="out", event_type=reply["type"],
                        event_id=reply["id"], target_url=target, payload=reply, status="pending", attempts=0,
                        next_attempt_at=at, last_error=None, created_at=at))


# ------------------------------------------------------------------ events: delivering (the outbox)

def backoff_s(attempts: int, base_s: float) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: base × 2^(attempts−1), at most an hour,
    ±20 % jitter so that many retries do not arrive together."""
    return min(base_s * 2 ** max(attempts - 1, 0), MAX_DELAY_S) * random.uniform(0.8, 1.2)


def _claim(config: HostConfig, limit: int = 20) -> list[tuple[int, str, dict[str, Any], int | None, int]]:
    """Claim due deliveries (a lease, so that several workers never send one event twice)."""
    at = datetime.now(UTC)
    out = []
    with session_scope(config.engine, read_only=True) as s:
        due = s.execute(select(PactEvent.id).where(PactEvent.direction == "out",
                                                   PactEvent.status.in_(("pending", "sending")),
                                                   PactEvent.next_attempt_at <= at)
                        .order_by(PactEvent.next_attempt_at).limit(limit)).scalars().all()
    for event_pk in due:
        with session_scope(config.engine) as s:
            stmt = (update(PactEvent).where(PactEvent.id == event_pk, PactEvent.status.in_(("pending", "sending")),
                                            PactEvent.next_attempt_at <= at)
                    .values(status="sending", attempts=PactEvent.attempts + 1, next_attempt_at=at + LEASE))
            claimed = s.execute(stmt).rowcount  # type: ignore[attr-defined]
            if claimed == 1:
                ev = s.get(PactEvent, event_pk)
                assert ev is not None
                out.append((ev.id, str(ev.target_url), ev.payload, ev.client_pk, ev.attempts))
    return out


def _still_allowed(config: HostConfig, client_pk: int | None, target: str) -> tuple[str | None, Any]:
    """Why the target may no longer be called (client revoked, host removed), or None; and the host's entry
    (with the credentials to authenticate at the buyer, if it gave any)."""
    from urllib.parse import urlsplit

    with session_scope(config.engine, read_only=True) as s:
        c = s.get(PactClient, client_pk) if client_pk is not None else None
        if c is None or c.revoked_at is not None:
            return "the client is revoked", None
        if pact.event_target(target, c.callback_hosts) is None:
            return "the host is no longer a callback host of the client", None
        netloc = urlsplit(target).netloc.lower().removesuffix(":443")
        entry = next((e for e in c.callback_hosts if pact.host_of(e) == netloc), None)
    return None, entry


class CallbackTokens:
    """Bearer tokens of the buyers' own token endpoints (OAuth2 client credentials), kept until shortly before
    they expire.  The token endpoint is the host's ``token_url``, else the ``token_endpoint`` its OpenID
    document announces on the same host, else ``https://HOST/auth/token`` — never a host that was not
    registered."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[Any, ...], tuple[str, float]] = {}

    @staticmethod
    def key(client_pk: int | None, entry: dict[str, Any]) -> tuple[Any, ...]:
        """One token per rareeco client and credentials: never shared between two clients (or organisations),
        and new credentials get a new token."""
        import hashlib

        digest = hashlib.sha256(f"{entry.get('client_secret')}|{entry.get('token_url')}".encode()).hexdigest()
        return client_pk, entry["host"], entry["client_id"], digest

    async def header(self, http: Any, client_pk: int | None, entry: Any) -> dict[str, str]:
        from urllib.parse import urlsplit

        if not isinstance(entry, dict) or not entry.get("client_id"):
            return {}
        key = self.key(client_pk, entry)
        hit = self.tokens.get(key)
        if hit is not None and hit[1] > time.time():
            return {"Authorization": f"Bearer {hit[0]}"}
        url = entry.get("token_url")
        if not url:
            url = f"https://{entry['host']}/auth/token"
            with contextlib.suppress(Exception):
                doc = await http.get(f"https://{entry['host']}/.well-known/openid-configuration")
                announced = doc.json().get("token_endpoint") if doc.status_code == 200 else None
                if isinstance(announced, str) and urlsplit(announced).scheme == "https" \
                        and urlsplit(announced).netloc.lower().removesuffix(":443") == entry["host"]:
                    url = announced
        r = await http.post(url, data={"grant_type": "client_credentials"},
                            auth=(entry["client_id"], entry.get("client_secret", "")))
        if r.status_code != 200 or not isinstance(r.json().get("access_token"), str):
            raise CallbackAuthError(f"the buyer's token endpoint {url} answered HTTP {r.status_code}")
        body = r.json()
        lifetime = float(body.get("expires_in") or 300)
        self.tokens[key] = (body["access_token"], time.time() + max(lifetime - 30, lifetime / 2))
        return {"Authorization": f"Bearer {body['access_token']}"}


class CallbackAuthError(Exception):
    """The buyer's token endpoint refused the producer's credentials."""


_callback_tokens = CallbackTokens()


def _settle(config: HostConfig, event_pk: int, attempts: int, error: str | None) -> None:
    at = datetime.now(UTC)
    with session_scope(config.engine) as s:
        ev = s.get(PactEvent, event_pk)
        assert ev is not None
        if error is None:
            ev.status, ev.last_error, ev.next_attempt_at = "delivered", None, None
            return
        created = pact.aware(ev.created_at) or at
        ev.last_error = error[:2000]
        if error.startswith("refused:") or at - created > timedelta(hours=config.retry_hours):
            ev.status, ev.next_attempt_at = "failed", None
        else:
            ev.status, ev.next_attempt_at = "pending", at + timedelta(seconds=backoff_s(attempts,
                                                                                         config.retry_base_s))


async def deliver_due(config: HostConfig) -> int:
    """Send every due event of the outbox once; returns how many were delivered."""
    import httpx
    from starlette.concurrency import run_in_threadpool

    claimed = await run_in_threadpool(_claim, config)
    if not claimed:
        return 0
    delivered = 0
    async with httpx.AsyncClient(verify=config.callback_ssl, timeout=10.0, follow_redirects=False) as http:
        for event_pk, target, payload, client_pk, attempts in claimed:
            why, entry = await run_in_threadpool(_still_allowed, config, client_pk, target)
            error: str | None = f"refused: {why}" if why else None
            if error is None:
                try:
                    headers = {"Content-Type": "application/cloudevents+json; charset=UTF-8",
                               **await _callback_tokens.header(http, client_pk, entry)}
                    r = await http.post(target, content=json.dumps(payload).encode(), headers=headers)
                    if r.status_code == 401 and isinstance(entry, dict):
                        _callback_tokens.tokens.pop(CallbackTokens.key(client_pk, entry), None)
                    if not 200 <= r.status_code < 300:
                        error = f"HTTP {r.status_code}"
                except (httpx.HTTPError, CallbackAuthError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
            await run_in_threadpool(_settle, config, event_pk, attempts, error)
            delivered += error is None
    return delivered


async def delivery_loop(config: HostConfig, wake: asyncio.Event) -> None:
    """Deliver the outbox while the host runs: at once after an event arrived, else every poll interval."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=config.delivery_poll_s)
        wake.clear()
        try:
            while await deliver_due(config):
                pass
        except Exception:                                     # the loop must survive a bad row or a DB hiccup
            log.exception("PACT event delivery failed")


# ------------------------------------------------------------------ serving (TLS only)

def app_factory() -> FastAPI:
    """The host for ``uvicorn --factory`` workers (``rareeco pact serve --workers N``): the ledger and the
    signing key from the settings, which :func:`serve` sets for its workers."""
    from rareeco.ledger.db import make_engine

    key = settings.get("RAREECO_PACT_SIGNING_KEY").encode()
    return create_pact_app(HostConfig.from_settings(make_engine(migrate=False), key))


def serve(host: str, port: int, tls: ServerTls, workers: int = 1, db_url: str | None = None) -> None:
    """Serve the host over HTTPS only (uvicorn; several worker processes when ``workers`` > 1).

    There is no plain-HTTP listener: a client speaking HTTP to the port fails the TLS handshake and gets no
    answer (PACT conformance cases #9–#11, #17)."""
    import os

    import uvicorn

    from rareeco.ledger.db import database_url, make_engine
    from rareeco.tls import signing_key

    url = database_url(db_url)
    engine = make_engine(url)                       # migrate once, before any worker starts
    key = signing_key(tls)
    common: dict[str, Any] = {"host": host, "port": port, "ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key),
                              "log_level": "warning", "server_header": False}
    if workers <= 1:
        uvicorn.run(create_pact_app(HostConfig.from_settings(engine, key)), **common)
        return
    engine.dispose()
    os.environ["RAREECO_DATABASE_URL"] = url
    os.environ["RAREECO_PACT_SIGNING_KEY"] = key.decode()
    uvicorn.run("rareeco.api.pact:app_factory", factory=True, workers=workers, **common)


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, tls: ServerTls, host: str = "127.0.0.1") -> Iterator[str]:
    """Run ``app`` over HTTPS on a free loopback port in a background thread; yields its base URL
    (tests, benchmarks)."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, ssl_certfile=str(tls.cert), ssl_keyfile=str(tls.key),
                                           log_level="warning", server_header=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the PACT host did not start")
        time.sleep(0.01)
    try:
        yield f"https://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
