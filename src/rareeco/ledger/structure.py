"""Organisations and what they own: sites, lines, products, meters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import ConflictError, NotFoundError, ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.models import Line, Meter, Organisation, Product, Site
from rareeco.reference.catalogue import activities, grid_regions

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PROVINCE = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}$")


def _check_code(kind: str, code: str) -> None:
    if not CODE.match(code):
        raise ValidationFailed(f"{kind} id {code!r} is not valid",
                               fix="use lower case letters, digits, '-' or '_' (e.g. prnd-oxide), at most 64")


def now() -> datetime:
    return datetime.now(UTC)


def get_org(session: Session, org_id: str) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFoundError(f"organisation {org_id!r} not found", fix="create it with: rareeco org create ORG")
    return org


def create_org(session: Session, org_id: str, name: str | None = None, actor: str = "cli") -> Organisation:
    _check_code("organisation", org_id)
    if session.get(Organisation, org_id) is not None:
        raise ConflictError(f"organisation {org_id!r} already exists", fix="choose another id")
    org = Organisation(id=org_id, name=name or org_id, created_at=now())
    session.add(org)
    session.flush()
    audit.append(session, actor, "org.create", org_id, org_id, {"name": org.name})
    return org


def get_site(session: Session, org_id: str, code: str) -> Site:
    site = session.execute(select(Site).where(Site.org_id == org_id, Site.code == code)).scalar_one_or_none()
    if site is None:
        raise NotFoundError(f"site {code!r} not found in organisation {org_id!r}",
                            fix=f"add it with: rareeco site add {org_id} {code} --province CN-XX")
    return site


def add_site(session: Session, org_id: str, code: str, province: str, name: str | None = None,
             grid_region: str | None = None, actor: str = "cli") -> Site:
    get_org(session, org_id)
    _check_code("site", code)
    if not PROVINCE.match(province):
        raise ValidationFailed(f"province {province!r} is not an ISO 3166-2 code",
                               fix="write the province as e.g. CN-NM (Inner Mongolia) or CN-JX (Jiangxi)")
    region = grid_region or grid_regions().get(province)
    if region is None:
        raise ValidationFailed(f"no default grid region for {province}", fix="give --grid-region, e.g. CN-NORTH")
    if session.execute(select(Site).where(Site.org_id == org_id, Site.code == code)).first():
        raise ConflictError(f"site {code!r} already exists in {org_id!r}", fix="choose another site id")
    site = Site(org_id=org_id, code=code, name=name or code, province=province, grid_region=region)
    session.add(site)
    session.flush()
    audit.append(session, actor, "site.add", f"{org_id}/{code}", org_id,
                 {"province": province, "grid_region": region, "name": site.name})
    return site


def add_line(session: Session, org_id: str, site_code: str, code: str, name: str | None = None,
             capacity_t_reo_per_yr: float | None = None, actor: str = "cli") -> Line:
    site = get_site(session, org_id, site_code)
    _check_code("line", code)
    if session.execute(select(Line).where(Line.site_id == site.id, Line.code == code)).first():
        raise ConflictError(f"line {code!r} already exists at site {site_code!r}", fix="choose another line id")
    line = Line(org_id=org_id, site_id=site.id, code=code, name=name or code,
                capacity_t_reo_per_yr=capacity_t_reo_per_yr)
    session.add(line)
    session.flush()
    audit.append(session, actor, "line.add", f"{org_id}/{site_code}/{code}", org_id, {"name": line.name})
    return line


def add_product(session: Session, org_id: str, code: str, name: str | None = None, name_zh: str = "",
                unit: str = "t", actor: str = "cli") -> Product:
    get_org(session, org_id)
    _check_code("product", code)
    if session.execute(select(Product).where(Product.org_id == org_id, Product.code == code)).first():
        raise ConflictError(f"product {code!r} already exists in {org_id!r}", fix="choose another product id")
    product = Product(org_id=org_id, code=code, name=name or code, name_zh=name_zh, unit=unit)
    session.add(product)
    session.flush()
    audit.append(session, actor, "product.add", f"{org_id}/{code}", org_id, {"name": product.name})
    return product


METER_ROLES = ("main", "sub", "generation")


def add_meter(session: Session, org_id: str, site_code: str, code: str, carrier: str,
              line_code: str | None = None, actor: str = "cli", parent: str | None = None, role: str = "main",
              name: str = "", unit: str | None = None, interval_s: int | None = None) -> Meter:
    """Register a meter: its id goes in an activity file's meter column and names its interval series.

    ``parent``: the meter this one is a sub-meter of (the meter tree site → line → equipment); ``role``:
    main, sub or generation; ``unit``: unit of its interval readings (default the carrier's unit);
    ``interval_s``: expected spacing of its readings [s], for the gap check.
    """
    from rareeco.timeseries.store import ensure_series
    from rareeco.units import conversion_factor

    site = get_site(session, org_id, site_code)
    cat = activities()
    if carrier not in cat:
        raise ValidationFailed(f"unknown carrier {carrier!r}", fix="use an activity id from: rareeco activities")
    if role not in METER_ROLES:
        raise ValidationFailed(f"unknown meter role {role!r}", fix=f"use one of {', '.join(METER_ROLES)}")
    unit = unit or cat[carrier].unit
    conversion_factor(unit, cat[carrier].unit)  # refuses a unit that is not one of the carrier's quantity
    line_id = None
    if line_code:
        line = session.execute(select(Line).where(Line.site_id == site.id, Line.code == line_code)).scalar_one_or_none()
        if line is None:
            raise NotFoundError(f"line {line_code!r} not found at {site_code!r}", fix="add it with rareeco line add")
        line_id = line.id
    parent_id = None
    if parent:
        up = session.execute(select(Meter).where(Meter.org_id == org_id, Meter.code == parent)).scalar_one_or_none()
        if up is None:
            raise NotFoundError(f"parent meter {parent!r} not found in {org_id!r}", fix="add the parent meter first")
        if up.carrier.split(".")[0] != carrier.split(".")[0]:
            raise ValidationFailed(f"meter {code!r} ({carrier}) cannot sit under {parent!r} ({up.carrier})",
                                   fix="a sub-meter measures the same carrier as its parent")
        parent_id = up.id
    if session.execute(select(Meter).where(Meter.org_id == org_id, Meter.code == code)).scalar_one_or_none():
        raise ConflictError(f"meter {code!r} already exists in {org_id!r}", fix="choose another meter id")
    series = ensure_series(session, org_id, f"meter:{code}", unit, interval_s)
    meter = Meter(org_id=org_id, site_id=site.id, line_id=line_id, code=code, carrier=carrier,
                  unit=cat[carrier].unit, parent_id=parent_id, role=role, name=name or code, series_id=series.id)
    session.add(meter)
    session.flush()
    audit.append(session, actor, "meter.add", f"{org_id}/{code}", org_id,
                 {"carrier": carrier, "parent": parent, "role": role, "unit": unit, "interval_s": interval_s})
    return meter


def sites(session: Session, org_id: str) -> list[Site]:
    return list(session.execute(select(Site).where(Site.org_id == org_id).order_by(Site.code)).scalars())


def lines(session: Session, org_id: str) -> list[Line]:
    return list(session.execute(select(Line).where(Line.org_id == org_id).order_by(Line.id)).scalars())


def products(session: Session, org_id: str) -> list[Product]:
    return list(session.execute(select(Product).where(Product.org_id == org_id).order_by(Product.code)).scalars())
