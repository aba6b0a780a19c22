"""PACT product footprints (PACT Technical Specifications v3.0): made from the stored footprint results,
validated against the specification's own schema, published immutably.

This module implements information of the *PACT Technical Specifications for PCF Data Exchange* (WBCSD,
Partnership for Carbon Transparency; docs/pact.md carries the licence notice).  The specification text and
schema are not copied here: :func:`validator` reads ``openapi.yaml`` from ``RAREECO_PACT_SPEC_DIR``.

Publishing (:func:`publish`) turns one product's stored footprint (:func:`rareeco.footprint.service.footprints`)
into a ``ProductFootprint``:

* totals and their parts from the footprint's ISO 14067 split (``pcfExcludingBiogenicUptake`` =
  fossil + land-use change + biogenic emissions; ``pcfIncludingBiogenicUptake`` adds the biogenic uptake);
* ``primaryDataShare`` and the data-quality ratings (rareeco rates 1 good … 3 poor, the PACT DQR scale);
* ``verification`` when the reporting year is locked by a verifier (``rareeco period lock``);
* the rare-earth PCR of EPD International under ``productOrSectorSpecificRules`` (REFERENCE.md §8).

Decimals are strings (v3).  A footprint is never edited: publishing the product again makes a new one (new id,
``precedingPfIds``) and sets the earlier ones to ``Deprecated`` — the only change a published footprint sees.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import rareeco
from rareeco import settings
from rareeco.errors import ConflictError, Finding, NotFoundError, RareecoError, ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.models import PactClient, PactFootprint, PactGrant, PeriodLock, Product, Site
from rareeco.ledger.structure import get_org, now

SPEC_VERSION = "3.0.3"          # the PACT Technical Specifications release the payloads follow
SPEC_VERSION_V2 = "2.3.3"
PCR = {"operator": "EPD International", "ruleNames": ["Rare-earth concentrates, oxides, metals and magnets"]}
CROSS_SECTORAL = ["ISO14067", "GHGP-Product"]
VALIDITY_YEARS = 3              # default validity after the reference period (PACT data model, validityPeriodStart)

EVENT_PREFIX = "org.wbcsd.pact.ProductFootprint."
REQUEST_CREATED = EVENT_PREFIX + "RequestCreatedEvent.3"
REQUEST_FULFILLED = EVENT_PREFIX + "RequestFulfilledEvent.3"
REQUEST_REJECTED = EVENT_PREFIX + "RequestRejectedEvent.3"
PUBLISHED = EVENT_PREFIX + "PublishedEvent.3"
EVENT_TYPES = (REQUEST_CREATED, REQUEST_FULFILLED, REQUEST_REJECTED, PUBLISHED)

URN = re.compile(r"^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$", re.I)
SUBDIVISION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
FILTERS = ("productId", "companyId", "geography", "classification", "validOn", "validAfter", "validBefore",
           "status")


class PactSpecUnavailable(RareecoError, FileNotFoundError):
    code = "pact_spec_unavailable"
    http_status = 500


# ------------------------------------------------------------------ numbers and times

def dec(value: float, places: int = 6) -> str:
    """A PACT decimal string: fixed point (no exponent), at most ``places`` decimals, no trailing zeros."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def iso(t: datetime) -> str:
    """UTC date-time as ``2025-01-01T00:00:00Z`` (a naive time is taken as UTC)."""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time (``Z`` or an offset; a bare date is midnight UTC) as an aware UTC datetime."""
    t = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        t += "T00:00:00"
    t = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    out = datetime.fromisoformat(t)
    return out.replace(tzinfo=UTC) if out.tzinfo is None else out.astimezone(UTC)


def aware(t: datetime | None) -> datetime | None:
    """``t`` as aware UTC (SQLite returns naive datetimes)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# ------------------------------------------------------------------ the organisation's PACT settings

@dataclass
class Profile:
    """What an organisation declares about itself and its products in PACT (``organisations.settings["pact"]``).

    ``company_ids`` default to ``urn:rareeco:org:ORG``; ``products`` maps a product code to extra
    ``product_ids`` (e.g. ``urn:gtin:…``), ``classifications`` (URNs, e.g. an HS code) and ``cpc`` (the UN CPC
    code v2.3 recipients need).  ``verification_coverage`` / ``verification_standard`` describe the verifier's
    work when a year is locked."""

    org_id: str
    company_name: str
    company_ids: list[str]
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    verification_coverage: str | None = None
    verification_standard: str | None = None

    def product_ids(self, code: str) -> list[str]:
        return list(dict.fromkeys([f"urn:rareeco:product:{self.org_id}:{code}",
                                   *self.products.get(code, {}).get("product_ids", [])]))

    def classifications(self, code: str) -> list[str]:
        return list(dict.fromkeys(self.products.get(code, {}).get("classifications", [])))

    def to_dict(self) -> dict[str, Any]:
        return {"company_name": self.company_name, "company_ids": self.company_ids, "products": self.products,
                "verification_coverage": self.verification_coverage,
                "verification_standard": self.verification_standard}


COVERAGES = ("PCF calculation model", "PCF program", "product level")


def default_company_id(org_id: str) -> str:
    return f"urn:rareeco:org:{org_id}"


def profile(session: Session, org_id: str) -> Profile:
    """The organisation's PACT settings, with the defaults filled in."""
    org = get_org(session, org_id)
    raw = dict((org.settings or {}).get("pact") or {})
    return Profile(org_id, raw.get("company_name") or org.name,
                   list(raw.get("company_ids") or [default_company_id(org_id)]),
                   {str(k): dict(v) for k, v in (raw.get("products") or {}).items()},
                   raw.get("verification_coverage"), raw.get("verification_standard"))


def _check_urns(values: Iterable[str], what: str) -> list[str]:
    out = [v.strip() for v in values if v and v.strip()]
    bad = [v for v in out if not URN.match(v)]
    if bad:
        raise ValidationFailed(f"{what} must be URNs: {', '.join(bad)}",
                               fix="write e.g. urn:rareeco:org:demo or urn:pact:productclassification:hs:284690")
    return list(dict.fromkeys(out))


def set_profile(session: Session, org_id: str, actor: str, *, company_name: str | None = None,
                company_ids: list[str] | None = None, product: str | None = None,
                product_ids: list[str] | None = None, classifications: list[str] | None = None,
                cpc: str | None = None, verification_coverage: str | None = None,
                verification_standard: str | None = None) -> Profile:
    """Change the organisation's PACT settings (only what is given); recorded in the audit log.

    Footprints already published keep what they said: the settings apply to the next publication."""
    org = get_org(session, org_id)
    current = profile(session, org_id)
    if company_name is not None:
        if not company_name.strip():
            raise ValidationFailed("the company name is empty", fix="give the name buyers know the company by")
        current.company_name = company_name.strip()
    if company_ids is not None:
        current.company_ids = _check_urns(company_ids, "company ids") or [default_company_id(org_id)]
    if product is not None:
        codes = {p.code for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
        if product not in codes:
            raise NotFoundError(f"no product {product!r} in {org_id}", fix="products: " + ", ".join(sorted(codes)))
        entry = current.products.setdefault(product, {})
        if product_ids is not None:
            entry["product_ids"] = _check_urns(product_ids, "product ids")
        if classifications is not None:
            entry["classifications"] = _check_urns(classifications, "classifications")
        if cpc is not None:
            if cpc and not re.fullmatch(r"\d{1,5}", cpc):
                raise ValidationFailed(f"CPC code {cpc!r} is not valid", fix="give the UN CPC code, e.g. 34290")
            entry["cpc"] = cpc
    elif product_ids is not None or classifications is not None or cpc is not None:
        raise ValidationFailed("product ids, classifications and CPC belong to a product", fix="add --product ID")
    if verification_coverage is not None:
        if verification_coverage and verification_coverage not in COVERAGES:
            raise ValidationFailed(f"verification coverage {verification_coverage!r} unknown",
                                   fix="one of: " + ", ".join(COVERAGES))
        current.verification_coverage = verification_coverage or None
    if verification_standard is not None:
        current.verification_standard = verification_standard.strip() or None
    org.settings = {**(org.settings or {}), "pact": current.to_dict()}
    audit.append(session, actor, "pact.profile", org_id, org_id, current.to_dict())
    return current


# ------------------------------------------------------------------ the specification's schema

def spec_dir() -> Path:
    """``RAREECO_PACT_SPEC_DIR``, else ``../shared/specs/pact`` beside the source checkout."""
    configured = settings.get("RAREECO_PACT_SPEC_DIR")
    if configured:
        return Path(configured)
    return Path(rareeco.__file__).resolve().parents[3] / "shared" / "specs" / "pact"


@cache
def _openapi(version: str) -> dict[str, Any]:
    import yaml

    path = spec_dir() / version / "openapi.yaml"
    if not path.is_file():
        raise PactSpecUnavailable(f"the PACT {version} specification is not at {path}",
                                  fix="set RAREECO_PACT_SPEC_DIR to the folder holding v3/openapi.yaml "
                                      "(the PACT Technical Specifications, github.com/wbcsd)")
    doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return doc


@cache
def validator(version: str = "v3", schema: str = "ProductFootprint") -> Any:
    """A JSON Schema (2020-12) validator for ``components/schemas/<schema>`` (or a JSON pointer ``#/…`` into the
    document) of the PACT ``version`` OpenAPI document (OpenAPI 3.1 schemas are JSON Schema; unknown formats
    such as ``decimal`` are annotations)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    uri = f"urn:rareeco:pact-openapi:{version}"
    try:
        document = _openapi(version)
    except PactSpecUnavailable:
        if (version, schema) != ("v3", "ProductFootprint"):
            raise
        # without the official document (e.g. an installed package): rareeco's own schema of the
        # ProductFootprint, which tests/test_pact_client.py checks against the official one
        from rareeco.ingest.pact_client import bundled_validator

        return bundled_validator()
    registry: Registry[Any] = Registry().with_resource(
        uri, Resource.from_contents(document, default_specification=DRAFT202012))
    pointer = schema if schema.startswith("#") else f"#/components/schemas/{schema}"
    return Draft202012Validator({"$ref": f"{uri}{pointer}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_findings(doc: Any, version: str = "v3", schema: str = "ProductFootprint") -> list[Finding]:
    """Every way ``doc`` breaks the specification's schema, as blocking findings (empty: valid)."""
    out = []
    for e in sorted(validator(version, schema).iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(document)"
        out.append(Finding("pact_schema", f"{where}: {e.message}", column=where,
                           fix=f"the PACT {version} {schema} schema requires it"))
    return out


def validate(doc: dict[str, Any], version: str = "v3") -> None:
    """Raise :class:`ValidationFailed` unless ``doc`` is a valid ``ProductFootprint`` of ``version``."""
    findings = schema_findings(doc, version)
    if findings:
        raise ValidationFailed(f"the footprint does not validate against the PACT {version} schema "
                               f"({len(findings)} problems)", fix="see the findings", findings=findings)


# ------------------------------------------------------------------ building a ProductFootprint

def _declared(text: str) -> tuple[float, float]:
    """A declared unit such as ``1 kg`` or ``1 t`` → (amount in kilograms, mass in kilograms)."""
    from rareeco.footprint.config import split_declared_unit
    from rareeco.units import conversion_factor

    amount, unit = split_declared_unit(text)
    kg = amount * conversion_factor(unit, "kg")
    return kg, kg


def year_verification(session: Session, org_id: str, year: int) -> PeriodLock | None:
    """The lock under which the whole reporting year is verified (a year lock, or month locks covering every
    month, then the latest of them); None when some month is open."""
    locks = list(session.execute(select(PeriodLock).where(PeriodLock.org_id == org_id,
                                                          PeriodLock.unlocked_at.is_(None))).scalars())
    start, end = date(year, 1, 1), date(year, 12, 31)
    covering = [lk for lk in locks if lk.start <= start and lk.end >= end]
    if covering:
        return max(covering, key=lambda lk: aware(lk.locked_at) or datetime.min.replace(tzinfo=UTC))
    months = [lk for lk in locks if lk.start >= start and lk.end <= end]
    covered = {(lk.start.year, m) for lk in months for m in range(lk.start.month, lk.end.month + 1)}
    if len(covered) == 12:
        return max(months, key=lambda lk: aware(lk.locked_at) or datetime.min.replace(tzinfo=UTC))
    return None


def _line_site(session: Session, org_id: str, line_key: str) -> Site | None:
    """The site of a footprint line key ``"site / line"``."""
    site_code, _, _ = line_key.partition(" / ")
    return session.execute(select(Site).where(Site.org_id == org_id, Site.code == site_code)).scalar_one_or_none()


def exclusions_of(fp: dict[str, Any]) -> list[dict[str, Any]]:
    """The footprint's exclusions that concern this product: every activity-level one and those of its line."""
    return [x for x in fp.get("excluded", []) if "line" not in x or x.get("line") == fp["line"]]


def build(fp: dict[str, Any], prof: Profile, *, pf_id: str, created: datetime, country: str,
          verification: PeriodLock | None = None, preceding: list[str] | None = None,
          labels: Callable[[str], str] | None = None, lines: dict[str, str] | None = None) -> dict[str, Any]:
    """The v3 ``ProductFootprint`` of one product footprint ``fp`` (:func:`~rareeco.footprint.service.
    product_footprint`).  Pure: everything it says comes from ``fp``, the profile and the arguments.

    ``labels``: activity id → readable name; ``lines``: product code → the line that makes it (own processes)."""
    label = labels or (lambda a: a)
    line_of = lines or {}
    code, year = fp["product"], int(fp["year"])
    amount_kg, mass_kg = _declared(fp["declared_unit"])
    split = fp["iso14067"]
    fossil = float(split["fossil_kg_co2e"])
    luc = float(split.get("dluc_kg_co2e", 0.0))
    biogenic = float(split.get("biogenic_emissions_kg_co2e", 0.0))
    uptake = -abs(float(split.get("biogenic_removals_kg_co2e", 0.0)))
    aircraft = float(split.get("aircraft_kg_co2e", 0.0))
    excluding = fossil + luc + biogenic
    total = float(fp["kg_co2e_per_declared_unit"])
    if abs(excluding + uptake - total) > 1e-6 * max(1.0, abs(total)):
        raise ValidationFailed(f"the ISO 14067 split of {code} ({excluding + uptake:.6f}) does not add up to its "
                               f"footprint ({total:.6f})", fix="recalculate the footprint (rareeco footprint)")
    ref_start = datetime(year, 1, 1, tzinfo=UTC)
    ref_end = datetime(year + 1, 1, 1, tzinfo=UTC)                  # exclusive (PACT referencePeriodEnd)
    valid_end = ref_end.replace(year=year + 1 + VALIDITY_YEARS)
    valid_start = max(ref_end, created.replace(microsecond=0))
    if valid_start >= valid_end:
        raise ValidationFailed(f"a {year} footprint is past its validity ({VALIDITY_YEARS} years after the "
                               "reference period)", fix="publish a footprint of a later year")
    allocation = fp["allocation"]
    factors = fp["allocation_factors"][allocation]
    basis = fp["allocation_basis"][allocation]
    others = {a: v for a, v in fp["by_allocation_kg_co2e"].items() if a != allocation}
    dq = fp["data_quality"]
    excluded = exclusions_of(fp)
    own = [k for k in fp["contributions_kg_co2e"] if k in fp.get("direct_emissions_by_line_kg_co2e", {})]
    bought = [k for k in fp["contributions_kg_co2e"] if k not in own]
    u = fp.get("uncertainty")
    prov = fp["provenance"]
    comment = [f"Calculated by rareeco {prov['software_version']} from the activity data of {prof.org_id} for "
               f"{year} (footprint result {prov.get('result_id')}, inputs sha256 {prov['input_sha256'][:16]}, "
               f"settings sha256 {prov['settings_sha256'][:16]}), GWP100 {fp['gwp_set'].upper()}.",
               f"{allocation.capitalize()} allocation"
               + "".join(f"; under {a} allocation the footprint is {v:.4g} kg CO2e" for a, v in others.items())
               + "."]
    if u:
        comment.append(f"Monte Carlo ({u['iterations']} iterations): 95 % interval "
                       f"{u['percentiles']['p2.5']:.4g}–{u['percentiles']['p97.5']:.4g} kg CO2e per declared unit.")
    comment.append("Biogenic and land-use parts: " + split.get("basis", "") + ".")
    comment += [f"Note: {n}." for n in fp.get("notes", [])]
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": "kilogram",
        "declaredUnitAmount": dec(amount_kg),
        "productMassPerDeclaredUnit": dec(mass_kg),
        "referencePeriodStart": iso(ref_start),
        "referencePeriodEnd": iso(ref_end),
    }
    if SUBDIVISION.match(country):
        pcf["geographyCountrySubdivision"] = country
    else:
        pcf["geographyCountry"] = country
    pcf.update({
        "boundaryProcessesDescription": (
            f"Cradle-to-gate, {fp['name']} made on {fp['line']}. Direct emissions of the producer's own lines "
            "(metered and invoiced activity data): "
            + (", ".join(f"{line_of.get(k, k)} ({k})" for k in own) or "none")
            + ". Purchased inputs and energy (secondary or supplier factors): "
            + (", ".join(label(k) for k in bought) or "none") + "."),
        "pcfExcludingBiogenicUptake": dec(excluding),
        "pcfIncludingBiogenicUptake": dec(excluding + uptake),
        "fossilCarbonContent": "0",
        "biogenicCarbonContent": "0",
        "fossilGhgEmissions": dec(fossil),
        "landUseChangeGhgEmissions": dec(luc),
        "biogenicCO2Uptake": dec(uptake),
        "biogenicNonCO2Emissions": dec(biogenic),
        "aircraftGhgEmissions": dec(aircraft),
        "packagingEmissionsIncluded": False,
        "ipccCharacterizationFactors": [fp["gwp_set"].upper()],
        "crossSectoralStandards": list(CROSS_SECTORAL),
        "productOrSectorSpecificRules": [json.loads(json.dumps(PCR))],
        "exemptedEmissionsPercent": "0",
        "exemptedEmissionsDescription": (
            "No emissions exempted by a cut-off rule. Not counted (not quantified): "
            + "; ".join(f"{x.get('activity') or x.get('feed') or x.get('line')}: {x['reason']}" for x in excluded)
            if excluded else ""),
        "allocationRulesDescription": (
            f"{allocation} allocation of the line {fp['line']} between its co-products: "
            + "; ".join(f"{p} {100 * s:.2f} % ({basis.get(p, '')})" for p, s in factors.items()) + "."),
        "secondaryEmissionFactorSources": [{"name": k, "version": v}
                                           for k, v in sorted(prov.get("factor_sets", {}).items())],
        "primaryDataShare": dec(float(fp["primary_data_share_pct"]), 2),
        "dqi": {"technologicalDQR": dec(float(dq["technological"]), 2),
                "geographicalDQR": dec(float(dq["geographical"]), 2),
                "temporalDQR": dec(float(dq["temporal"]), 2)},
    })
    if verification is not None:
        ver: dict[str, Any] = {"providerName": verification.locked_by,
                               "completedAt": iso(aware(verification.locked_at) or created),
                               "comments": f"The activity data of {year} were verified and the period "
                                           f"{verification.period} locked in rareeco by {verification.locked_by}"
                                           + (f": {verification.comment}" if verification.comment else ".")}
        if prof.verification_coverage:
            ver["coverage"] = prof.verification_coverage
        if prof.verification_standard:
            ver["standardName"] = prof.verification_standard
        pcf["verification"] = ver
    pf: dict[str, Any] = {
        "id": pf_id,
        "specVersion": SPEC_VERSION,
        "version": 1,
        "created": iso(created),
        "status": "Active",
        "validityPeriodStart": iso(valid_start),
        "validityPeriodEnd": iso(valid_end),
        "companyName": prof.company_name,
        "companyIds": list(prof.company_ids),
        "productDescription": (f"{fp['name']}" + (f" ({fp['name_zh']})" if fp.get("name_zh") else "")
                               + f", made on {fp['line']}; declared unit {fp['declared_unit']}."),
        "productIds": prof.product_ids(code),
        "productNameCompany": fp["name"],
        "comment": " ".join(comment),
        "pcf": pcf,
    }
    if preceding:
        pf["precedingPfIds"] = list(dict.fromkeys(preceding))
    classes = prof.classifications(code)
    if classes:
        pf["productClassifications"] = classes
    return pf


def content_digest(pf: dict[str, Any]) -> str:
    """What a footprint says, without what changes with every publication (id, times, status, lineage)."""
    keep = {k: v for k, v in pf.items() if k not in ("id", "created", "status", "precedingPfIds",
                                                     "validityPeriodStart")}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def product_history(session: Session, org_id: str, product: str) -> list[PactFootprint]:
    """The product's published footprints, oldest first."""
    return list(session.execute(select(PactFootprint).where(PactFootprint.org_id == org_id,
                                                            PactFootprint.product_code == product)
                                .order_by(PactFootprint.created_at, PactFootprint.id)).scalars())


def publish(session: Session, org_id: str, product: str, year: int, actor: str = "cli",
            allocation: str | None = None, created: datetime | None = None) -> PactFootprint:
    """Publish ``product``'s ``year`` footprint as a PACT v3 ``ProductFootprint``.

    The footprint comes from the stored result (computed if the inputs changed); the payload is validated
    against the specification's schema before anything is stored.  Earlier Active footprints of the product
    become ``Deprecated`` and are named in ``precedingPfIds``.  Publishing what is already the Active
    footprint (same figures and settings) is refused: nothing would change for a buyer.
    """
    from rareeco.footprint.service import footprints, product_footprint
    from rareeco.reference.catalogue import activities

    get_org(session, org_id)
    payload = footprints(session, org_id, year, actor=actor)
    fp = product_footprint(payload, product, allocation)
    prof = profile(session, org_id)
    site = _line_site(session, org_id, fp["line"])
    country = (site.province.split("-")[0] if site else "CN")
    created = (created or now()).replace(microsecond=0)
    history = product_history(session, org_id, product)
    active = [h for h in history if h.status == "Active"]
    preceding = [h.id for h in reversed(active)]
    for h in reversed(history):
        preceding += [p for p in h.payload.get("precedingPfIds", []) if p not in preceding]
    cat = activities()
    pf = build(fp, prof, pf_id=str(uuid.uuid4()), created=created, country=country,
               verification=year_verification(session, org_id, year), preceding=preceding,
               labels=lambda a: cat[a].label_en if a in cat else a,
               lines={p: str(v["line"]) for p, v in payload["products"].items()})
    validate(pf)
    digest = content_digest(pf)
    same = [h for h in active if content_digest(h.payload) == digest]
    if same:
        raise ConflictError(f"{product} {year} is already published with these figures as {same[0].id}",
                            fix="nothing changed; publish again after the data, settings or profile change")
    for h in active:
        h.status = "Deprecated"
        h.updated_at = created
        h.payload = {**h.payload, "status": "Deprecated"}
    row = PactFootprint(id=pf["id"], org_id=org_id, product_code=product, status="Active", created_at=created,
                        updated_at=None, valid_from=parse_time(pf["validityPeriodStart"]),
                        valid_until=parse_time(pf["validityPeriodEnd"]), result_id=payload.get("result_id"),
                        payload=pf)
    session.add(row)
    session.flush()
    audit.append(session, actor, "pact.publish", f"{org_id}/{product}/{year}", org_id,
                 {"id": row.id, "result_id": row.result_id, "deprecated": [h.id for h in active],
                  "pcf_kg_co2e": pf["pcf"]["pcfExcludingBiogenicUptake"]})
    return row


def published(session: Session, org_id: str, product: str | None = None,
              status: str | None = None) -> list[PactFootprint]:
    """The organisation's published footprints, newest first."""
    q = select(PactFootprint).where(PactFootprint.org_id == org_id)
    if product:
        q = q.where(PactFootprint.product_code == product)
    if status:
        q = q.where(PactFootprint.status == status)
    return list(session.execute(q.order_by(PactFootprint.created_at.desc(), PactFootprint.id)).scalars())


# ------------------------------------------------------------------ filtering (ListFootprints and requests)

class CriteriaError(ValueError):
    """A filter value that cannot be read (a malformed date-time)."""


@dataclass(frozen=True)
class Criteria:
    """The filters of ListFootprints and of a RequestCreated event (PACT v3, Action ListFootprints §Filtering):
    several values of one criterion are ORed, different criteria ANDed; matching is case-insensitive."""

    product_ids: frozenset[str] = frozenset()
    company_ids: frozenset[str] = frozenset()
    geography: frozenset[str] = frozenset()
    classifications: frozenset[str] = frozenset()
    valid_on: datetime | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    status: str | None = None

    @classmethod
    def parse(cls, get: Callable[[str], list[str]]) -> Criteria:
        """From ``get(name) -> values`` (query parameters, or the ``data`` of a request event)."""
        def lower(name: str) -> frozenset[str]:
            return frozenset(v.strip().lower() for v in get(name) if v and v.strip())

        def when(name: str) -> datetime | None:
            values = [v for v in get(name) if v and v.strip()]
            if not values:
                return None
            if len(values) > 1:
                raise CriteriaError(f"{name} takes one date-time")
            try:
                return parse_time(values[0])
            except ValueError:
                raise CriteriaError(f"{name} is not an ISO 8601 date-time: {values[0]!r}") from None

        status = [v for v in get("status") if v and v.strip()]
        if len(status) > 1:
            raise CriteriaError("status takes one value")
        return cls(lower("productId"), lower("companyId"), lower("geography"), lower("classification"),
                   when("validOn"), when("validAfter"), when("validBefore"),
                   status[0].strip().lower() if status else None)

    @classmethod
    def from_event_data(cls, data: dict[str, Any]) -> Criteria:
        def get(name: str) -> list[str]:
            v = data.get(name)
            if v is None:
                return []
            if isinstance(v, str):
                return [v]
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return list(v)
            raise CriteriaError(f"{name} must be a string or a list of strings")
        return cls.parse(get)

    def empty(self) -> bool:
        return self == EMPTY


EMPTY = Criteria()


@dataclass(frozen=True)
class Keys:
    """What filters look at in one published footprint (lower-cased)."""

    id: str
    org_id: str
    product_code: str
    status: str
    created: datetime
    valid_from: datetime
    valid_until: datetime
    product_ids: frozenset[str]
    company_ids: frozenset[str]
    geography: frozenset[str]
    classifications: frozenset[str]

    @classmethod
    def of(cls, org_id: str, product_code: str, status: str, created: datetime,
           payload: dict[str, Any]) -> Keys:
        pcf = payload.get("pcf", {})
        ref_end = parse_time(pcf["referencePeriodEnd"])
        start = parse_time(payload["validityPeriodStart"]) if payload.get("validityPeriodStart") else ref_end
        end = (parse_time(payload["validityPeriodEnd"]) if payload.get("validityPeriodEnd")
               else ref_end.replace(year=ref_end.year + VALIDITY_YEARS))
        geo = set()
        for k in ("geographyRegionOrSubregion", "geographyCountry", "geographyCountrySubdivision"):
            if pcf.get(k):
                geo.add(str(pcf[k]).lower())
        if pcf.get("geographyCountrySubdivision"):
            geo.add(str(pcf["geographyCountrySubdivision"]).split("-")[0].lower())   # CN-NM lies within CN
        return cls(str(payload["id"]), org_id, product_code, status, aware(created) or created, start, end,
                   frozenset(str(x).lower() for x in payload.get("productIds", [])),
                   frozenset(str(x).lower() for x in payload.get("companyIds", [])),
                   frozenset(geo),
                   frozenset(str(x).lower() for x in payload.get("productClassifications", [])))

    def matches(self, c: Criteria) -> bool:
        if c is EMPTY:
            return True
        if c.product_ids and not (c.product_ids & self.product_ids):
            return False
        if c.company_ids and not (c.company_ids & self.company_ids):
            return False
        if c.geography and not (c.geography & self.geography):
            return False
        if c.classifications and not (c.classifications & self.classifications):
            return False
        if c.valid_on is not None and not (self.valid_from <= c.valid_on <= self.valid_until):
            return False
        if c.valid_after is not None and not (self.valid_from > c.valid_after):
            return False
        if c.valid_before is not None and not (self.valid_until < c.valid_before):
            return False
        return not (c.status is not None and c.status != self.status.lower())


# ------------------------------------------------------------------ v2.3 for recipients still on v2

def to_v2(pf: dict[str, Any], cpc: str | None) -> dict[str, Any]:
    """The v2.3 shape of a v3 footprint (for ``GET /2/footprints``); ``cpc`` is the product's UN CPC code
    (v2.3 requires ``productCategoryCpc``)."""
    p = pf["pcf"]
    geo = {k: p[k] for k in ("geographyRegionOrSubregion", "geographyCountry", "geographyCountrySubdivision")
           if k in p}
    pcf2: dict[str, Any] = {
        "declaredUnit": p["declaredUnitOfMeasurement"],
        "unitaryProductAmount": p["declaredUnitAmount"],
        "productMassPerDeclaredUnit": p["productMassPerDeclaredUnit"],
        "pCfExcludingBiogenic": p["pcfExcludingBiogenicUptake"],
        "pCfIncludingBiogenic": p["pcfIncludingBiogenicUptake"],
        "fossilGhgEmissions": p["fossilGhgEmissions"],
        "fossilCarbonContent": p["fossilCarbonContent"],
        "biogenicCarbonContent": p.get("biogenicCarbonContent", "0"),
        "dLucGhgEmissions": p.get("landUseChangeGhgEmissions", "0"),
        "biogenicCarbonWithdrawal": p.get("biogenicCO2Uptake", "0"),
        "aircraftGhgEmissions": p.get("aircraftGhgEmissions", "0"),
        "characterizationFactors": p["ipccCharacterizationFactors"][-1],
        "ipccCharacterizationFactorsSources": p["ipccCharacterizationFactors"],
        "crossSectoralStandardsUsed": [{"ISO14067": "ISO Standard 14067", "GHGP-Product":
                                        "GHG Protocol Product standard", "ISO14040-44": "ISO Standard 14044"}[s]
                                       for s in p["crossSectoralStandards"]
                                       if s in ("ISO14067", "GHGP-Product", "ISO14040-44")],
        "crossSectoralStandards": [s for s in p["crossSectoralStandards"]
                                   if s in ("ISO14067", "ISO14083", "ISO14040-44", "GHGP-Product", "PEF")],
        "productOrSectorSpecificRules": p.get("productOrSectorSpecificRules"),
        "boundaryProcessesDescription": p.get("boundaryProcessesDescription", ""),
        "referencePeriodStart": p["referencePeriodStart"],
        "referencePeriodEnd": p["referencePeriodEnd"],
        **geo,
        "exemptedEmissionsPercent": float(p["exemptedEmissionsPercent"]),
        "exemptedEmissionsDescription": p.get("exemptedEmissionsDescription", ""),
        "packagingEmissionsIncluded": bool(p.get("packagingEmissionsIncluded", False)),
        "allocationRulesDescription": p.get("allocationRulesDescription"),
        "secondaryEmissionFactorSources": p.get("secondaryEmissionFactorSources"),
        "primaryDataShare": float(p["primaryDataShare"]),
    }
    if "verification" in p:
        v = p["verification"]
        pcf2["assurance"] = {"assurance": True, "providerName": v.get("providerName", ""),
                             **{k: v[k] for k in ("completedAt", "standardName", "comments") if k in v}}
    pcf2 = {k: v for k, v in pcf2.items() if v is not None}
    out: dict[str, Any] = {k: pf[k] for k in ("id", "created", "status", "validityPeriodStart",
                                              "validityPeriodEnd", "companyName", "companyIds",
                                              "productDescription", "productIds", "productNameCompany")
                           if k in pf}
    out.update({"specVersion": SPEC_VERSION_V2, "version": 1, "comment": pf.get("comment", ""),
                "productCategoryCpc": cpc or "", "pcf": pcf2})
    if pf.get("precedingPfIds"):
        out["precedingPfIds"] = pf["precedingPfIds"]
    if pf.get("productClassifications"):
        out["productClassifications"] = pf["productClassifications"]
    if pf.get("status") == "Deprecated":
        out["statusComment"] = "superseded by a later publication of the product"
    return out


# ------------------------------------------------------------------ buyers: API clients and their grants

ALL_PRODUCTS = "*"
HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
                  r"|\[[0-9a-f:.]+\])(?::\d{1,5})?$")


@cache
def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def callback_host(text: str) -> str:
    """A callback host as stored: lower-case ``host`` or ``host:port`` (no scheme, no path)."""
    h = text.strip().lower()
    if h.startswith("https://"):
        h = h[len("https://"):]
    h = h.rstrip("/")
    if not HOST.match(h) or (":" in h and not h.startswith("[") and not 0 < int(h.rsplit(":", 1)[1]) < 65536):
        raise ValidationFailed(f"callback host {text!r} is not a host name", fix="write e.g. buyer.example.com or "
                               "buyer.example.com:8443 (no path; events go to https://HOST/3/events)")
    return h


def add_client(session: Session, org_id: str, name: str, actor: str = "cli", callback_hosts: Iterable[str] = (),
               grants: Iterable[str] = (), company_ids: Iterable[str] = ()) -> tuple[PactClient, str]:
    """Register a buyer: returns the client and its secret (shown once; only an argon2 hash is stored)."""
    get_org(session, org_id)
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("the client needs a name (at most 200 characters)", fix="name it after the buyer")
    client_id = f"pact-{org_id}-{secrets.token_hex(6)}"
    secret = secrets.token_urlsafe(32)
    c = PactClient(org_id=org_id, client_id=client_id, secret_hash=_hasher().hash(secret), name=name,
                   company_ids=_check_urns(company_ids, "buyer company ids"),
                   callback_hosts=list(dict.fromkeys(callback_host(h) for h in callback_hosts)),
                   created_at=now(), revoked_at=None)
    session.add(c)
    session.flush()
    audit.append(session, actor, "pact.client.add", f"{org_id}/{client_id}", org_id,
                 {"name": name, "callback_hosts": c.callback_hosts})
    for product in grants:
        grant(session, org_id, client_id, product, actor)
    return c, secret


def clients(session: Session, org_id: str) -> list[PactClient]:
    get_org(session, org_id)
    return list(session.execute(select(PactClient).where(PactClient.org_id == org_id)
                                .order_by(PactClient.created_at, PactClient.id)).scalars())


def get_client(session: Session, org_id: str, client_id: str | int) -> PactClient:
    """One of the organisation's clients, by client id (or row id); another organisation's is not found."""
    col = PactClient.id if isinstance(client_id, int) else PactClient.client_id
    c = session.execute(select(PactClient).where(col == client_id, PactClient.org_id == org_id)).scalar_one_or_none()
    if c is None:
        raise NotFoundError(f"no PACT client {client_id!r} in {org_id}", fix="list them: rareeco pact client list ORG")
    return c


def grants_of(session: Session, client: PactClient) -> list[str]:
    return sorted(session.execute(select(PactGrant.product_code).where(PactGrant.client_pk == client.id)).scalars())


def grant(session: Session, org_id: str, client_id: str | int, product: str, actor: str = "cli") -> PactGrant:
    """Let the client see the organisation's footprints of ``product`` (``*``: of every product)."""
    c = get_client(session, org_id, client_id)
    if c.revoked_at is not None:
        raise ConflictError(f"client {c.client_id} is revoked", fix="register a new client")
    if product != ALL_PRODUCTS:
        codes = {p.code for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
        if product not in codes:
            raise NotFoundError(f"no product {product!r} in {org_id}",
                                fix="products: " + ", ".join(sorted(codes)) + " (or * for all)")
    existing = session.execute(select(PactGrant).where(PactGrant.client_pk == c.id,
                                                       PactGrant.product_code == product)).scalar_one_or_none()
    if existing is not None:
        return existing
    g = PactGrant(client_pk=c.id, product_code=product, granted_by=actor, granted_at=now())
    session.add(g)
    session.flush()
    audit.append(session, actor, "pact.grant", f"{org_id}/{c.client_id}/{product}", org_id, {})
    return g


def ungrant(session: Session, org_id: str, client_id: str | int, product: str, actor: str = "cli") -> None:
    c = get_client(session, org_id, client_id)
    g = session.execute(select(PactGrant).where(PactGrant.client_pk == c.id,
                                                PactGrant.product_code == product)).scalar_one_or_none()
    if g is None:
        raise NotFoundError(f"client {c.client_id} has no grant for {product!r}", fix="see: rareeco pact client list")
    session.delete(g)
    audit.append(session, actor, "pact.ungrant", f"{org_id}/{c.client_id}/{product}", org_id, {})


def revoke_client(session: Session, org_id: str, client_id: str | int, actor: str = "cli") -> PactClient:
    """Revoke a client: its tokens stop working at once (AccessDenied) and it gets no new ones."""
    c = get_client(session, org_id, client_id)
    if c.revoked_at is not None:
        raise ConflictError(f"client {c.client_id} is already revoked", fix="nothing to do")
    c.revoked_at = now()
    audit.append(session, actor, "pact.client.revoke", f"{org_id}/{c.client_id}", org_id, {})
    return c


def host_of(entry: Any) -> str:
    """The host of a ``callback_hosts`` entry: a string, or an object with the host and the credentials the host
    system uses to authenticate at that buyer (see :func:`set_callback_auth`)."""
    return str(entry.get("host") if isinstance(entry, dict) else entry).lower()


def callback_hosts_of(client: PactClient) -> list[str]:
    """The client's callback hosts (never their credentials)."""
    return [host_of(e) for e in client.callback_hosts or []]


def set_callback_hosts(session: Session, org_id: str, client_id: str | int, hosts: Iterable[str],
                       actor: str = "cli") -> PactClient:
    """Replace the client's callback hosts; the credentials of hosts that stay are kept."""
    c = get_client(session, org_id, client_id)
    kept = {host_of(e): e for e in c.callback_hosts or []}
    c.callback_hosts = [kept.get(h, h) for h in dict.fromkeys(callback_host(h) for h in hosts)]
    audit.append(session, actor, "pact.client.callbacks", f"{org_id}/{c.client_id}", org_id,
                 {"callback_hosts": callback_hosts_of(c)})
    return c


def set_callback_auth(session: Session, org_id: str, client_id: str | int, host: str, auth_client_id: str | None,
                      auth_secret: str | None = None, token_url: str | None = None,
                      actor: str = "cli") -> PactClient:
    """The credentials the buyer gave the producer for its own ``/auth/token`` (PACT: events are sent with a
    bearer token of the recipient).  Stored with the host (the host system must present them, so they are kept
    as given, not hashed); ``auth_client_id`` None removes them.  ``token_url``: the buyer's token endpoint if
    it is not ``https://HOST/auth/token`` or announced by ``https://HOST/.well-known/openid-configuration``."""
    from urllib.parse import urlsplit

    c = get_client(session, org_id, client_id)
    h = callback_host(host)
    hosts = callback_hosts_of(c)
    if h not in hosts:
        raise NotFoundError(f"{h} is not a callback host of {c.client_id}", fix="add it first: rareeco pact client "
                            "callbacks ORG CLIENT HOST…")
    entry: Any = h
    if auth_client_id:
        if not auth_secret:
            raise ValidationFailed("the buyer's client secret is missing", fix="give the secret the buyer issued")
        if token_url and (urlsplit(token_url).scheme != "https" or not urlsplit(token_url).hostname):
            raise ValidationFailed(f"token URL {token_url!r} is not an https URL", fix="write https://host/path")
        entry = {"host": h, "client_id": auth_client_id, "client_secret": auth_secret}
        if token_url:
            entry["token_url"] = token_url
    c.callback_hosts = [entry if host_of(e) == h else e for e in c.callback_hosts or []]
    audit.append(session, actor, "pact.client.callback_auth", f"{org_id}/{c.client_id}/{h}", org_id,
                 {"client_id": auth_client_id, "token_url": token_url})
    return c


def authenticate(session: Session, client_id: str, secret: str) -> PactClient | None:
    """The active client with these credentials, else None (argon2 verification; the same work for an unknown
    client id, so timing does not tell which ids exist)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    c = session.execute(select(PactClient).where(PactClient.client_id == client_id)).scalar_one_or_none()
    stored = c.secret_hash if c is not None else _dummy_hash()
    try:
        ok = bool(_hasher().verify(stored, secret))
    except (VerificationError, InvalidHashError):
        ok = False
    return c if ok and c is not None and c.revoked_at is None else None


@cache
def _dummy_hash() -> str:
    return str(_hasher().hash(secrets.token_urlsafe(16)))


def event_target(source: str, hosts: Iterable[Any]) -> str | None:
    """Where to answer an event whose ``source`` is given: ``https://HOST/…/3/events`` if HOST is one of the
    client's callback hosts, else None (no requests to arbitrary hosts)."""
    from urllib.parse import urlsplit

    s = source.strip()
    if s.startswith("//"):
        s = "https:" + s
    try:
        u = urlsplit(s)
        port = u.port
    except ValueError:
        return None
    if u.scheme != "https" or not u.hostname:
        return None
    host = u.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, 443) else f"{host}:{port}"
    allowed = {host_of(h) for h in hosts}
    if netloc not in allowed:
        return None
    path = u.path.rstrip("/")
    if not path.endswith("/events"):
        path += "/3/events"
    return f"https://{netloc}{path}"
