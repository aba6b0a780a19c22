"""PACT v3 client: pull a supplier's product footprints and keep them as supplier-specific primary data.

The exchange follows the PACT Technical Specifications v3.0.3 (REFERENCE.md §8):

1. discover the token endpoint from ``/.well-known/openid-configuration`` (``token_endpoint``), falling back
   to ``/auth/token``, which every host must offer;
2. OAuth2 client credentials (RFC 6749 §4.4) with HTTP Basic authentication of the client;
3. ``GET /3/footprints`` with the filters of the spec, following ``Link: <…>; rel="next"`` (RFC 8288) until
   the host sends no next link;
4. retry on 429, 5xx and connection errors with randomised exponential back-off (as the spec asks of data
   recipients), a bounded number of times; ``Retry-After`` is honoured up to the back-off ceiling;
5. HTTPS only, certificate verified (``ca_file`` for a host with a self-signed or private certificate);
6. every footprint validated against the ProductFootprint schema before anything is stored: an invalid one
   stops the pull with its id and the failing field, and nothing of the pull is stored.

Stored rows (:class:`rareeco.ledger.models.SupplierFootprint`) are idempotent: the same footprint id with the
same payload checksum is stored once.  A footprint that lists an earlier one in ``precedingPfIds`` — or the
same id pulled again with a different payload — supersedes it.  :func:`in_use` picks, per purchased activity,
the footprint the product footprints use for a year (docs/suppliers.md).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError, RareecoError, UnitError, ValidationFailed
from rareeco.footprint.system import SupplierInput
from rareeco.ledger import audit
from rareeco.ledger.models import SupplierFootprint
from rareeco.ledger.structure import get_org, now
from rareeco.reference.catalogue import activities
from rareeco.units import conversion_factor

FILTERS = ("productId", "companyId", "geography", "classification", "validOn", "validAfter", "validBefore", "status")
"""The ListFootprints filters of PACT v3 (each may repeat; values of one filter are OR-ed)."""

DECLARED_UNITS = {"kilogram": "kg", "liter": "l", "cubic meter": "m**3", "kilowatt hour": "kWh",
                  "megajoule": "MJ", "ton kilometer": "tkm", "square meter": "m**2", "piece": "piece",
                  "hour": "hour", "megabit second": "megabit second"}
"""PACT ``declaredUnitOfMeasurement`` → the unit rareeco.units reads ("piece" and "megabit second" have no mass:
a piece converts through ``productMassPerDeclaredUnit``)."""

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_PAGES = 10_000


class PactClientError(RareecoError, ConnectionError):
    """The PACT host could not be reached, refused the credentials, or answered outside the spec."""

    code = "pact_client_error"
    http_status = 502


@dataclass(frozen=True)
class Retry:
    """Bounded randomised exponential back-off: attempt *k* (0-based) waits ``base_s·2^k·U(0.5, 1)``, at most
    ``max_s``; ``attempts`` counts the first try."""

    attempts: int = 5
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, k: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_s)
        return min(self.max_s, self.base_s * 2 ** k) * random.uniform(0.5, 1.0)


@dataclass
class Pull:
    """What a pull fetched (validated) and what it did to the ledger."""

    source: str
    footprints: list[dict[str, Any]]
    pages: int = 0
    retries: int = 0
    token_endpoint: str = ""
    stored: list[str] = field(default_factory=list)        # pf ids newly stored
    unchanged: list[str] = field(default_factory=list)     # already held with the same checksum
    unmapped: list[str] = field(default_factory=list)      # stored without an activity

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "token_endpoint": self.token_endpoint, "pages": self.pages,
                "retries": self.retries, "fetched": len(self.footprints), "stored": self.stored,
                "unchanged": self.unchanged, "unmapped": self.unmapped}


# ------------------------------------------------------------------ validation

@cache
def bundled_validator() -> Any:
    """A validator for rareeco's own ProductFootprint schema (reference/data, see PACT-NOTICE.md there)."""
    import jsonschema

    text = resources.files("rareeco.reference").joinpath("data", "pact-v3-product-footprint.schema.json").read_text(
        "utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_footprint(pf: Any, where: str = "") -> None:
    """Raise :class:`ValidationFailed` naming the footprint id and the first failing field (JSON path)."""
    errors = sorted(bundled_validator().iter_errors(pf),
                    key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if not errors:
        return
    pf_id = pf.get("id", "?") if isinstance(pf, dict) else "?"
    e = errors[0]
    path = "/".join(str(p) for p in e.absolute_path) or "(the footprint)"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    raise ValidationFailed(f"footprint {pf_id}{where}: field {path}: {e.message}{more}",
                           fix="the supplier's host sent a footprint that is not valid PACT v3 ProductFootprint; "
                               "nothing of this pull was stored — ask the supplier to correct it")


def payload_sha256(pf: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(pf, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ HTTP

def parse_link_next(header: str | None) -> str | None:
    """The target of ``rel="next"`` in an RFC 8288 ``Link`` header (``rel`` may list several relation types)."""
    if not header:
        return None
    for part in _split_links(header):
        target, _, params = part.strip().partition(">")
        if not target.startswith("<"):
            continue
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return target[1:].strip()
    return None


def _split_links(header: str) -> Iterable[str]:
    """Split at the commas between links, not at commas inside ``<…>`` or quotes."""
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(header):
        if ch == '"' and depth == 0:
            quoted = not quoted
        elif ch == "<" and not quoted:
            depth += 1
        elif ch == ">" and not quoted:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0 and not quoted:
            yield header[start:i]
            start = i + 1
    yield header[start:]


class _Http:
    """One HTTPS session with bounded retries."""

    def __init__(self, ca_file: str | Path | None, timeout_s: float, retry: Retry,
                 sleep: Callable[[float], None]) -> None:
        verify: Any = True
        if ca_file is not None:
            import ssl

            if not Path(ca_file).is_file():
                raise PactClientError(f"CA file {ca_file} not found", fix="give --ca-file the host's CA certificate "
                                                                         "(PEM)")
            verify = ssl.create_default_context(cafile=str(ca_file))
        self.client = httpx.Client(verify=verify, timeout=timeout_s, follow_redirects=False,
                                   headers={"accept": "application/json"})
        self.retry, self.sleep, self.retries = retry, sleep, 0

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        if urlsplit(url).scheme != "https":
            raise PactClientError(f"{url} is not HTTPS", fix="PACT hosts are HTTPS only: use an https:// URL")
        last = ""
        for k in range(self.retry.attempts):
            try:
                r = self.client.request(method, url, **kw)
            except httpx.TransportError as exc:   # connect, read, TLS handshake …
                if _tls_failure(exc):
                    raise PactClientError(f"TLS to {url} failed: {exc}",
                                          fix="check the host's certificate, or give --ca-file for a private CA"
                                          ) from exc
                last = f"{type(exc).__name__}: {exc}"
                if k + 1 < self.retry.attempts:
                    self.retries += 1
                    self.sleep(self.retry.delay(k))
                continue
            if r.status_code in RETRY_STATUS:
                last = f"HTTP {r.status_code}"
                if k + 1 < self.retry.attempts:
                    self.retries += 1
                    self.sleep(self.retry.delay(k, r.headers.get("retry-after")))
                continue
            return r
        raise PactClientError(f"{method} {url} failed after {self.retry.attempts} attempts ({last})",
                              fix="the host is unreachable or overloaded: try again later")

    def close(self) -> None:
        self.client.close()


def _tls_failure(exc: Exception) -> bool:
    text = repr(exc) + repr(exc.__cause__ or exc.__context__)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSLCertVerificationError" in text


def _error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body.get("error") or body)[:200]
    return str(body)[:200]


def token_endpoint(http: _Http, base: str) -> str:
    """``token_endpoint`` of the OpenID configuration, else ``BASE/auth/token`` (PACT v3 Action Authenticate)."""
    fallback = urljoin(base, "auth/token")
    try:
        r = http.request("GET", urljoin(base, ".well-known/openid-configuration"))
    except PactClientError:
        return fallback
    if r.status_code == 200:
        try:
            ep = r.json().get("token_endpoint")
        except (ValueError, AttributeError):
            ep = None
        if isinstance(ep, str) and urlsplit(ep).scheme == "https":
            return ep
    return fallback


def access_token(http: _Http, endpoint: str, client_id: str, client_secret: str) -> str:
    """OAuth2 client credentials, the client authenticated with HTTP Basic (RFC 6749 §2.3.1, §4.4)."""
    r = http.request("POST", endpoint, data={"grant_type": "client_credentials"}, auth=(client_id, client_secret))
    if r.status_code != 200:
        raise PactClientError(f"the host refused the client credentials at {endpoint} (HTTP {r.status_code}: "
                              f"{_error_text(r)})", fix="check --client-id and --client-secret with the supplier")
    try:
        token = r.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise PactClientError(f"{endpoint} answered without an access_token",
                              fix="the host does not follow RFC 6749 §5.1") from None
    return str(token)


def fetch(url: str, client_id: str, client_secret: str, *, filters: Mapping[str, str | Iterable[str]] | None = None,
          limit: int | None = None, ca_file: str | Path | None = None, timeout_s: float = 30.0,
          retry: Retry | None = None, sleep: Callable[[float], None] = time.sleep) -> Pull:
    """Every footprint of ``GET /3/footprints`` (with ``filters``), page by page, validated.

    ``url`` is the host's base URL (with its subpath, if any).  Raises :class:`PactClientError` for transport,
    TLS and protocol failures and :class:`ValidationFailed` for an invalid footprint (nothing is returned then).
    """
    base = url if url.endswith("/") else url + "/"
    params: list[tuple[str, str]] = []
    for name, values in (filters or {}).items():
        if name not in FILTERS and not name.startswith("x-"):
            raise ValidationFailed(f"unknown PACT filter {name!r}", fix=f"filters: {', '.join(FILTERS)}")
        for v in [values] if isinstance(values, str) else values:
            params.append((name, v))
    if limit is not None:
        params.append(("limit", str(limit)))
    http = _Http(ca_file, timeout_s, retry or Retry(), sleep)
    try:
        endpoint = token_endpoint(http, base)
        token = access_token(http, endpoint, client_id, client_secret)
        out: list[dict[str, Any]] = []
        next_url: str | None = urljoin(base, "3/footprints")
        seen: set[str] = set()
        pages, refreshed = 0, False
        first = True
        while next_url:
            if next_url in seen or pages >= MAX_PAGES:
                raise PactClientError(f"pagination of {url} loops at {next_url}", fix="report this to the host")
            r = http.request("GET", next_url, params=params if first else None,
                             headers={"authorization": f"Bearer {token}"})
            if r.status_code == 401 and not refreshed:       # TokenExpired: authenticate once more
                token, refreshed = access_token(http, endpoint, client_id, client_secret), True
                continue
            if r.status_code not in (200, 202):
                raise PactClientError(f"GET {next_url}: HTTP {r.status_code} ({_error_text(r)})",
                                      fix="AccessDenied: ask the supplier for a grant; BadRequest: check the filters")
            seen.add(next_url)
            first, refreshed = False, False
            pages += 1
            try:
                data = r.json()["data"]
                if not isinstance(data, list):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise PactClientError(f"GET {next_url}: the body has no list 'data'",
                                      fix="the host does not follow PACT v3 ListFootprints") from None
            for i, pf in enumerate(data):
                validate_footprint(pf, f" (page {pages}, item {i + 1})")
            out += data
            next_url = parse_link_next(r.headers.get("link"))
        return Pull(url, out, pages, http.retries, endpoint)
    finally:
        http.close()


# ------------------------------------------------------------------ the ledger

def _when(text: str | None) -> date | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).date()


def validity(pf: Mapping[str, Any]) -> tuple[date | None, date | None]:
    """The validity period; without one, 3 years from ``referencePeriodEnd`` (PACT v3 ``validityPeriodStart``)."""
    start, end = _when(pf.get("validityPeriodStart")), _when(pf.get("validityPeriodEnd"))
    if start is None and end is None:
        ref_end = _when(pf["pcf"]["referencePeriodEnd"])
        if ref_end is not None:
            start, end = ref_end, ref_end.replace(year=ref_end.year + 3)
    return start, end


def per_declared_unit(pf: Mapping[str, Any]) -> tuple[float, str]:
    """(kg CO2e per declared unit, unit): ``pcfExcludingBiogenicUptake`` ÷ ``declaredUnitAmount``."""
    pcf = pf["pcf"]
    return float(pcf["pcfExcludingBiogenicUptake"]) / float(pcf["declaredUnitAmount"]), \
        DECLARED_UNITS[pcf["declaredUnitOfMeasurement"]]


def t_co2e_per_activity_unit(row: SupplierFootprint, activity: str) -> float:
    """The footprint's kg CO2e per declared unit in t CO2e per catalogue unit of ``activity`` (rareeco.units).

    A declared unit without mass (a piece) converts through ``productMassPerDeclaredUnit`` when the activity
    is counted by mass."""
    unit = activities()[activity].unit
    try:
        return row.kg_co2e_per_unit * conversion_factor(f"kg CO2e/({row.declared_unit})", f"t CO2e/({unit})")
    except UnitError:
        pcf = row.payload["pcf"]
        mass = float(pcf.get("productMassPerDeclaredUnit") or 0) / float(pcf["declaredUnitAmount"])
        if mass > 0:
            return row.kg_co2e_per_unit / mass * conversion_factor("kg CO2e/kg", f"t CO2e/({unit})")
        raise UnitError(f"footprint {row.pf_id} is declared per {row.declared_unit}, {activity} is counted in {unit}",
                        fix="map it to an activity counted in a compatible unit, or ask the supplier for "
                            "productMassPerDeclaredUnit") from None


def check_activity(activity: str) -> None:
    cat = activities()
    if activity not in cat:
        raise NotFoundError(f"no activity {activity!r} in the catalogue", fix="see rareeco activities")
    if not activity.startswith("purchased."):
        raise ValidationFailed(f"{activity} is not a purchased input",
                               fix="a supplier's footprint prices a purchased.* activity (rareeco activities)")


def read_mapping(path: str | Path) -> dict[str, str]:
    """A mapping file: JSON or YAML ``{productId URN or footprint id: activity}``."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"mapping file {path}: {exc}", fix="write {productId: activity} as YAML or JSON") \
            from exc
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValidationFailed(f"mapping file {path} is not a mapping of strings",
                               fix="write e.g. 'urn:pact:example:re-concentrate: purchased.re_concentrate'")
    for act in data.values():
        check_activity(act)
    return data


def _activity_for(pf: Mapping[str, Any], activity: str | None, mapping: Mapping[str, str]) -> str | None:
    if activity:
        return activity
    for key in [pf["id"], *pf.get("productIds", [])]:
        if key in mapping:
            return mapping[key]
    return None


def store(session: Session, org_id: str, pull: Pull, activity: str | None = None,
          mapping: Mapping[str, str] | None = None, actor: str = "cli") -> Pull:
    """Store the pulled footprints (validated by :func:`fetch`) in one transaction; idempotent by (id, sha)."""
    get_org(session, org_id)
    if activity:
        check_activity(activity)
    for pf in pull.footprints:          # all checked before any is stored
        validate_footprint(pf)
    held = {(r.pf_id, r.sha256): r for r in session.execute(
        select(SupplierFootprint).where(SupplierFootprint.org_id == org_id)).scalars()}
    for pf in pull.footprints:
        sha = payload_sha256(pf)
        if (pf["id"], sha) in held:
            pull.unchanged.append(pf["id"])
            continue
        act = _activity_for(pf, activity, mapping or {})
        kg, unit = per_declared_unit(pf)
        start, end = validity(pf)
        pds = pf["pcf"].get("primaryDataShare")
        row = SupplierFootprint(org_id=org_id, source=pull.source[:400], pf_id=pf["id"],
                                supplier=pf["companyName"][:200], product_ids=list(pf["productIds"]), activity=act,
                                kg_co2e_per_unit=kg, declared_unit=unit, valid_from=start, valid_until=end,
                                primary_data_share_pct=float(pds) if pds is not None else None, payload=pf,
                                sha256=sha, pulled_at=now())
        if act:
            t_co2e_per_activity_unit(row, act)      # refuses a unit that cannot price the activity
        session.add(row)
        held[(pf["id"], sha)] = row
        pull.stored.append(pf["id"])
        if not act:
            pull.unmapped.append(pf["id"])
    session.flush()
    if pull.stored:
        audit.append(session, actor, "supplier.pull", pull.source[:200], org_id,
                     {"stored": pull.stored, "unchanged": pull.unchanged, "activity": activity})
    return pull


def pull(session: Session, org_id: str, url: str, client_id: str, client_secret: str, *,
         filters: Mapping[str, str | Iterable[str]] | None = None, activity: str | None = None,
         mapping: Mapping[str, str] | None = None, ca_file: str | Path | None = None, limit: int | None = None,
         retry: Retry | None = None, actor: str = "cli", sleep: Callable[[float], None] = time.sleep) -> Pull:
    """Fetch (:func:`fetch`) and store (:func:`store`) a supplier's footprints."""
    get_org(session, org_id)
    if activity:
        check_activity(activity)
    got = fetch(url, client_id, client_secret, filters=filters, limit=limit, ca_file=ca_file, retry=retry,
                sleep=sleep)
    return store(session, org_id, got, activity, mapping, actor)


def read_file(path: str | Path) -> Pull:
    """Footprints a supplier sent as a file: one ProductFootprint, a list, or a ListFootprints body
    ``{"data": [...]}`` (validated like a pull)."""
    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationFailed(f"{path}: {exc}", fix="give a PACT v3 footprint as JSON") from exc
    items = doc["data"] if isinstance(doc, dict) and "data" in doc else doc if isinstance(doc, list) else [doc]
    if not isinstance(items, list):
        raise ValidationFailed(f"{path}: 'data' is not a list", fix="give a PACT v3 footprint as JSON")
    for i, pf in enumerate(items):
        validate_footprint(pf, f" ({Path(path).name}, item {i + 1})")
    return Pull(f"file:{Path(path).name}", items)


def rows(session: Session, org_id: str) -> list[SupplierFootprint]:
    get_org(session, org_id)
    return list(session.execute(select(SupplierFootprint).where(SupplierFootprint.org_id == org_id)
                                .order_by(SupplierFootprint.id)).scalars())


def get(session: Session, org_id: str, pf_id: str) -> SupplierFootprint:
    """The latest stored version of footprint ``pf_id`` of the organisation (404 for another's)."""
    found = [r for r in rows(session, org_id) if r.pf_id == pf_id]
    if not found:
        raise NotFoundError(f"no supplier footprint {pf_id} in {org_id}", fix="see rareeco supplier list")
    return found[-1]


def set_activity(session: Session, org_id: str, pf_id: str, activity: str | None, actor: str = "cli") -> None:
    """Map every stored version of ``pf_id`` to ``activity`` (None: unmap)."""
    if activity:
        check_activity(activity)
    found = [r for r in rows(session, org_id) if r.pf_id == pf_id]
    if not found:
        raise NotFoundError(f"no supplier footprint {pf_id} in {org_id}", fix="see rareeco supplier list")
    for r in found:
        if activity:
            t_co2e_per_activity_unit(r, activity)
        r.activity = activity
    audit.append(session, actor, "supplier.map", pf_id, org_id, {"activity": activity})


def superseded(all_rows: list[SupplierFootprint]) -> dict[int, str]:
    """Row id → why it is superseded: a later pull of the same id with another payload, or a footprint that
    names it in ``precedingPfIds`` (PACT v3 life cycle)."""
    out: dict[int, str] = {}
    latest: dict[str, SupplierFootprint] = {}
    for r in all_rows:
        if r.pf_id in latest:
            out[latest[r.pf_id].id] = f"a later version of {r.pf_id} was pulled"
        latest[r.pf_id] = r
    for r in all_rows:
        for old in r.payload.get("precedingPfIds") or []:
            if old in latest and latest[old].id != r.id:
                out.setdefault(latest[old].id, f"superseded by {r.pf_id}")
    return out


def status_of(row: SupplierFootprint, gone: dict[int, str], year: int | None = None) -> str:
    """``unmapped``, ``superseded``, ``deprecated``, ``not valid in YEAR`` or ``usable``."""
    if row.id in gone:
        return "superseded"
    if row.payload.get("status") == "Deprecated":
        return "deprecated"
    if not row.activity:
        return "unmapped"
    if year is not None and not valid_in(row, year):
        return f"not valid in {year}"
    return "usable"


def valid_in(row: SupplierFootprint, year: int) -> bool:
    """The validity period overlaps the calendar year."""
    return (row.valid_from is None or row.valid_from <= date(year, 12, 31)) and \
        (row.valid_until is None or row.valid_until >= date(year, 1, 1))


def supplier_input(row: SupplierFootprint) -> SupplierInput:
    assert row.activity
    pcf = row.payload["pcf"]
    ref_end = _when(pcf.get("referencePeriodEnd"))
    return SupplierInput(activity=row.activity, pf_id=row.pf_id, supplier=row.supplier, sha256=row.sha256,
                         t_co2e_per_unit=t_co2e_per_activity_unit(row, row.activity),
                         kg_co2e_per_declared_unit=row.kg_co2e_per_unit, declared_unit=row.declared_unit,
                         primary_data_share_pct=row.primary_data_share_pct,
                         reference_year=ref_end.year if ref_end else None,
                         verified=bool(pcf.get("verification")), source=row.source)


def in_use(session: Session, org_id: str, year: int) -> tuple[dict[str, SupplierInput], list[str]]:
    """Per purchased activity, the supplier footprint the product footprints of ``year`` use, and notes.

    Usable: mapped, not superseded, not deprecated, valid in the year.  Several usable footprints for one
    activity: the most recently created is used (the purchases are not split by supplier in the ledger) and a
    note names the others."""
    all_rows = rows(session, org_id)
    gone = superseded(all_rows)
    by_act: dict[str, list[SupplierFootprint]] = {}
    for r in all_rows:
        if status_of(r, gone, year) == "usable" and r.activity:
            by_act.setdefault(r.activity, []).append(r)
    out: dict[str, SupplierInput] = {}
    notes: list[str] = []
    for act, rs in sorted(by_act.items()):
        rs.sort(key=lambda r: (str(r.payload.get("created", "")), r.id))
        out[act] = supplier_input(rs[-1])
        if len(rs) > 1:
            notes.append(f"{act}: {len(rs)} usable supplier footprints; {rs[-1].pf_id} (latest) used, not "
                         + ", ".join(r.pf_id for r in rs[:-1]))
    return out, notes

