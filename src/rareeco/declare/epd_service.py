"""EPDs on the ledger: build a declaration from the stored footprint, and the verification workflow.

``draft → in_verification → verified → published``; a new version of a published EPD supersedes it when the new
one is published.  One EPD (one ``uuid``) per organisation, product and reference year; each version is a row of
``epds`` with its own stable id.  Rules (docs/epd.md):

* **build** (declarant: admin or steward) makes version 1, or refreshes the latest version while it is not
  published (a changed declaration goes back to draft and loses its verification), or — when the latest is
  published and the declaration changed — makes version n + 1 (a draft, ``supersedes_id`` the published one).
  Building an unchanged declaration changes nothing.
* **submit** (declarant): draft → in_verification.
* **comment** (verifier or declarant) while not published.
* **verify**: in_verification → verified, only by a user with the *verifier* role in the organisation, never by
  the user who built the version (ISO 14025: the verification is independent of
  the declarant).
* **publish** (declarant): verified → published; earlier published versions become ``superseded``.
* A published version is immutable: its ``content_sha256`` is checked before every use
  (:func:`check_content`), and no step changes it.

Every step is written to the audit log (:func:`rareeco.ledger.audit.append`).
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.declare import epd as model
from rareeco.errors import ConflictError, ForbiddenError, NotFoundError, RareecoError, ValidationFailed
from rareeco.footprint.config import ALLOCATIONS
from rareeco.footprint.service import config_of, footprints, product_footprint, read_year, systems
from rareeco.ledger import accounts, audit
from rareeco.ledger.models import Epd, EpdComment, Organisation, PeriodLock, Site
from rareeco.ledger.structure import get_org, now
from rareeco.reference import FactorTable
from rareeco.units import conversion_factor


class IntegrityError(RareecoError, ValueError):
    """A stored declaration no longer matches its checksum."""

    code = "integrity_error"
    http_status = 409


EDITABLE = ("draft", "in_verification", "verified")
SETTINGS_KEY = "epd"


# ------------------------------------------------------------------ settings

def settings_of(session: Session, org_id: str) -> model.EpdSettings:
    """The organisation's EPD settings (``organisations.settings["epd"]``; the defaults when none)."""
    org = get_org(session, org_id)
    stored = (getattr(org, "settings", None) or {}).get(SETTINGS_KEY) or {}
    return model.parse_settings(stored)


def set_settings(session: Session, org_id: str, changes: dict[str, Any], actor: str) -> model.EpdSettings:
    """Check and store new EPD settings (only the given keys change); audited."""
    org = get_org(session, org_id)
    if not hasattr(org, "settings"):
        raise RareecoError("this ledger cannot store organisation settings", fix="run the migrations (rareeco db)")
    merged = {**settings_of(session, org_id).to_dict(), **{k: v for k, v in changes.items() if v is not None}}
    st = model.parse_settings(merged)
    org.settings = {**(org.settings or {}), SETTINGS_KEY: st.to_dict()}   # a new dict: JSON change detected
    audit.append(session, actor, "epd.settings", org_id, org_id, st.to_dict())
    return st


# ------------------------------------------------------------------ building the declaration

def _sites(session: Session, org_id: str) -> dict[str, Site]:
    return {s.code: s for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}


def _period(session: Session, org_id: str, year: int) -> dict[str, Any]:
    lock = session.execute(select(PeriodLock).where(
        PeriodLock.org_id == org_id, PeriodLock.unlocked_at.is_(None), PeriodLock.start <= date(year, 12, 31),
        PeriodLock.end >= date(year, 1, 1)).order_by(PeriodLock.id)).scalars().first()
    if lock is None:
        return {"year": year, "locked": False}
    return {"year": year, "locked": True, "period": lock.period, "by": lock.locked_by,
            "at": lock.locked_at.date().isoformat()}


def declaration_for(session: Session, org_id: str, product: str, year: int, settings: model.EpdSettings,
                    uuid: str, version: int, actor: str = "cli") -> dict[str, Any]:
    """The declaration of ``product`` in ``year`` from the organisation's stored footprint (computed if needed)."""
    org = get_org(session, org_id)
    payload = footprints(session, org_id, year, actor=actor)
    fp = product_footprint(payload, product)                      # raises NotFoundError for unknown products
    allocation = fp["allocation"]
    shown = [a for a in ALLOCATIONS if a in payload["footprints"]]
    fps = {a: product_footprint(payload, product, a) for a in shown}
    ly = read_year(session, org_id, year)
    built, _ = systems(ly, payload["gwp_set"])
    per_declared_t = model.declared_kg(fp) / 1000.0
    terms = model.module_terms(built[allocation], product, per_declared_t)
    sites = _sites(session, org_id)
    line_site = {info["line"].split(" / ")[0] for p, info in payload["products"].items()
                 if p in {t.consumer for t in terms} | {product}}
    own_site = fp["line"].split(" / ")[0]
    site = sites.get(own_site)
    made = next((ln["made_t"].get(product, 0.0) for ln in payload["lines"] if ln["line"] == fp["line"]), 0.0)
    cfg = config_of(session, org_id)
    oxides = {settings.substitutes, settings.route}
    return model.declaration(model.DeclarationInput(
        uuid=uuid, version=version, footprint=fp, footprints=fps, terms=terms,
        declarant={"organisation": org_id, "name": org.name,
                   "sites": [{"code": c, "name": sites[c].name if c in sites else c,
                              "province": sites[c].province if c in sites else ""}
                             for c in sorted(line_site)]},
        product={"code": product, "name": fp["name"], "name_zh": fp.get("name_zh") or "", "line": fp["line"],
                 "site": own_site, "site_name": site.name if site else own_site,
                 "province": site.province if site else "", "made_t": float(made)},
        settings=settings,
        background=[b for b in payload.get("background", []) if b["activity"] in {t.process for t in terms}],
        lines=payload["lines"],
        feeds={p: tuple(cfg.product(p).feeds) for p in payload["products"]},
        line_of={p: info["line"] for p, info in payload["products"].items()},
        oxide_footprints={a: {ox: product_footprint(payload, ox, a) for ox in oxides if ox in payload["products"]}
                          for a in shown},
        ledger_period=_period(session, org_id, year),
        measured=measured_input(ly.table, fp),
    ))


def measured_input(table: FactorTable, fp: dict[str, Any]) -> dict[str, Any]:
    """The product's CEMS-measured direct emissions (``direct_emissions_kg`` of its footprint) with the
    characterisation factors of the chosen factor sets (kind ``characterisation``, key ``<indicator>:<substance>``),
    converted to :data:`rareeco.declare.epd.CHARACTERISATION_UNITS`; empty when the line has none."""
    kg = dict(fp.get("direct_emissions_kg") or {})
    if not kg:
        return {}
    year = int(fp["year"])
    factors: dict[str, dict[str, dict[str, Any]]] = {}
    for ind in model.MEASURED:
        for substance in kg:
            key = f"{ind}:{substance}"
            f = table.find(model.CHARACTERISATION_KIND, key, year) or table.find(model.CHARACTERISATION_KIND, key)
            if f is None:
                continue
            value = f.value * conversion_factor(f.unit, model.CHARACTERISATION_UNITS[ind])
            factors.setdefault(ind, {})[substance] = {"value": value, "factor_id": f.factor_id, "cite": f.cite(),
                                                      "tag": f.tag, "set_id": f.set_id}
    return {"year": year, "line": fp["line"], "kg": kg, "outlets": list(fp.get("measured_outlets") or []),
            "factors": factors}


# ------------------------------------------------------------------ reading

def get(session: Session, org_id: str, epd_id: int) -> Epd:
    """Version ``epd_id`` of the organisation (NotFoundError for another organisation's: isolation)."""
    e = session.get(Epd, epd_id)
    if e is None or e.org_id != org_id:
        raise NotFoundError(f"EPD {epd_id} not found", fix=f"list them with: rareeco epd list --org {org_id}")
    return e


def by_version(session: Session, uuid: str, version: int) -> Epd:
    e = session.execute(select(Epd).where(Epd.uuid == uuid, Epd.version == version)).scalar_one_or_none()
    if e is None:
        raise NotFoundError(f"EPD {uuid} version {version} not found", fix="check the address")
    return e


def list_epds(session: Session, org_id: str) -> list[Epd]:
    """Every version of every EPD of the organisation, newest first."""
    return list(session.execute(select(Epd).where(Epd.org_id == org_id)
                                .order_by(Epd.product_code, Epd.year.desc(), Epd.version.desc())).scalars())


def versions(session: Session, e: Epd) -> list[Epd]:
    return list(session.execute(select(Epd).where(Epd.uuid == e.uuid, Epd.org_id == e.org_id)
                                .order_by(Epd.version.desc())).scalars())


def comments(session: Session, e: Epd) -> list[EpdComment]:
    return list(session.execute(select(EpdComment).where(EpdComment.epd_id == e.id)
                                .order_by(EpdComment.at, EpdComment.id)).scalars())


def check_content(e: Epd) -> None:
    """Raise :class:`IntegrityError` if the stored declaration does not match its checksum."""
    if model.content_sha256(e.content) != e.content_sha256:
        raise IntegrityError(f"EPD {e.uuid} version {e.version}: the stored declaration does not match its "
                             "SHA-256", fix="the row was changed outside rareeco; restore it from a backup")


def valid_until(verified_at: datetime | None) -> date | None:
    """The date five years after verification (29 February: 28 February)."""
    if verified_at is None:
        return None
    d = verified_at.date()
    try:
        return d.replace(year=d.year + model.VALIDITY_YEARS)
    except ValueError:                               # 29 February
        return d.replace(year=d.year + model.VALIDITY_YEARS, day=28)


def meta(session: Session, e: Epd) -> dict[str, Any]:
    """The workflow facts the outputs print beside the declaration (status, verifier, dates, newer version)."""
    newer = session.execute(select(Epd.version).where(Epd.uuid == e.uuid, Epd.version > e.version,
                                                      Epd.status == "published")
                            .order_by(Epd.version.desc())).scalars().first()
    vu = valid_until(e.verified_at)
    return {"id": e.id, "uuid": e.uuid, "version": e.version, "status": e.status, "org_id": e.org_id,
            "product": e.product_code, "year": e.year, "created_by": e.created_by,
            "created_at": e.created_at.isoformat(timespec="seconds"),
            "verified_by": e.verified_by, "verified_at": e.verified_at.date().isoformat() if e.verified_at else None,
            "published_at": e.published_at.date().isoformat() if e.published_at else None,
            "valid_until": vu.isoformat() if vu else None, "content_sha256": e.content_sha256,
            "superseded_by_version": newer, "public_path": f"/epd/{e.uuid}/v{e.version}"}


def summary(session: Session, e: Epd) -> dict[str, Any]:
    """One EPD version for lists and the API: its workflow facts and its GWP-total of A1–A3 (and D)."""
    gwp = model.result(e.content, "GWP-total")["values"]
    return {**meta(session, e), "name": e.content["product"]["name"], "name_zh": e.content["product"]["name_zh"],
            "declared_unit": e.content["product"]["declared_unit"],
            "gwp_total_a1_a3_kg_co2e": gwp.get(model.AGGREGATE), "gwp_total_d_kg_co2e": gwp.get("D"),
            "allocation": e.content["allocation"]["used"]}


# ------------------------------------------------------------------ workflow

def _series(session: Session, org_id: str, product: str, year: int) -> list[Epd]:
    return list(session.execute(select(Epd).where(Epd.org_id == org_id, Epd.product_code == product,
                                                  Epd.year == year).order_by(Epd.version.desc())).scalars())


def build(session: Session, org_id: str, product: str, year: int, actor: str,
          overrides: dict[str, Any] | None = None) -> tuple[Epd, str]:
    """Create or refresh the draft of ``product``'s EPD for ``year``; returns (version, what happened).

    What happened: ``created`` (version 1), ``refreshed`` (the unpublished latest version got new content and is
    a draft again), ``unchanged`` (the declaration is the same as the latest version's), ``new_version``
    (the latest is published and the declaration changed: version n + 1 supersedes it once published).
    ``overrides`` change the organisation's EPD settings for this build only.
    """
    series = _series(session, org_id, product, year)
    latest = series[0] if series else None
    base = dict(latest.content.get("settings", {})) if latest else settings_of(session, org_id).to_dict()
    st = model.parse_settings({**base, **{k: v for k, v in (overrides or {}).items() if v is not None}})
    if latest is None:
        uid = str(uuidlib.uuid4())
        content = declaration_for(session, org_id, product, year, st, uid, 1, actor)
        e = Epd(uuid=uid, version=1, org_id=org_id, product_code=product, year=year, status="draft",
                supersedes_id=None, result_id=content["provenance"].get("result_id"), content=content,
                content_sha256=model.content_sha256(content), created_by=actor, created_at=now())
        session.add(e)
        session.flush()
        audit.append(session, actor, "epd.build", f"{org_id}/epd/{e.id}", org_id, _details(e))
        return e, "created"
    check_content(latest)
    content = declaration_for(session, org_id, product, year, st, latest.uuid, latest.version, actor)
    sha = model.content_sha256(content)
    if sha == latest.content_sha256:
        return latest, "unchanged"
    if latest.status in EDITABLE:
        was = latest.status
        latest.content, latest.content_sha256 = content, sha
        latest.result_id = content["provenance"].get("result_id")
        latest.status, latest.verified_by, latest.verified_at = "draft", None, None
        latest.created_by, latest.created_at = actor, now()
        audit.append(session, actor, "epd.refresh", f"{org_id}/epd/{latest.id}", org_id,
                     {**_details(latest), "was": was})
        return latest, "refreshed"
    published = next((x for x in series if x.status == "published"), latest)
    content = declaration_for(session, org_id, product, year, st, latest.uuid, latest.version + 1, actor)
    e = Epd(uuid=latest.uuid, version=latest.version + 1, org_id=org_id, product_code=product, year=year,
            status="draft", supersedes_id=published.id, result_id=content["provenance"].get("result_id"),
            content=content, content_sha256=model.content_sha256(content), created_by=actor, created_at=now())
    session.add(e)
    session.flush()
    audit.append(session, actor, "epd.new_version", f"{org_id}/epd/{e.id}", org_id,
                 {**_details(e), "supersedes": published.id})
    return e, "new_version"


def _details(e: Epd) -> dict[str, Any]:
    return {"epd_id": e.id, "uuid": e.uuid, "version": e.version, "product": e.product_code, "year": e.year,
            "status": e.status, "content_sha256": e.content_sha256}


def _need(e: Epd, status: str, doing: str) -> None:
    if e.status != status:
        raise ConflictError(f"EPD {e.id} is {e.status}: {doing} needs status {status}",
                            fix={"draft": "build a draft first (rareeco epd build)",
                                 "in_verification": "submit it first (rareeco epd submit)",
                                 "verified": "a verifier must verify it first (rareeco epd verify)"}[status])


def submit(session: Session, org_id: str, epd_id: int, actor: str) -> Epd:
    e = get(session, org_id, epd_id)
    _need(e, "draft", "submitting")
    check_content(e)
    e.status = "in_verification"
    audit.append(session, actor, "epd.submit", f"{org_id}/epd/{e.id}", org_id, _details(e))
    return e


def add_comment(session: Session, org_id: str, epd_id: int, actor: str, text: str) -> EpdComment:
    e = get(session, org_id, epd_id)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("the comment is empty", fix="write the comment")
    if e.status not in EDITABLE:
        raise ConflictError(f"EPD {e.id} is {e.status}: it takes no more comments",
                            fix="comment on a new version (rareeco epd build)")
    c = EpdComment(epd_id=e.id, author=actor, at=now(), text=text[:10_000])
    session.add(c)
    session.flush()
    audit.append(session, actor, "epd.comment", f"{org_id}/epd/{e.id}", org_id,
                 {"epd_id": e.id, "comment_id": c.id, "chars": len(c.text)})
    return c


def verifier_role(session: Session, org_id: str, username: str) -> str | None:
    """The role of user ``username`` in the organisation (None: no such user, or not a member)."""
    try:
        u = accounts.get_user(session, username)
    except NotFoundError:
        return None
    return accounts.role_in(session, u.id, org_id)


def verify(session: Session, org_id: str, epd_id: int, actor: str) -> Epd:
    """Verify a submitted version: ``actor`` must be a user with the verifier role, not the declarant."""
    e = get(session, org_id, epd_id)
    role = verifier_role(session, org_id, actor)
    if role != "verifier":
        raise ForbiddenError(f"{actor!r} is not a verifier of {org_id!r} (role: {role or 'none'})",
                             fix=f"a user with the verifier role verifies: rareeco user grant NAME {org_id} verifier")
    if actor == e.created_by:
        raise ForbiddenError(f"{actor!r} built this version and cannot verify it",
                             fix="an independent verifier must verify the declaration (ISO 14025)")
    _need(e, "in_verification", "verifying")
    check_content(e)
    e.status, e.verified_by, e.verified_at = "verified", actor, now()
    audit.append(session, actor, "epd.verify", f"{org_id}/epd/{e.id}", org_id,
                 {**_details(e), "kind": e.content["verification"]["kind"]})
    return e


def publish(session: Session, org_id: str, epd_id: int, actor: str) -> Epd:
    e = get(session, org_id, epd_id)
    _need(e, "verified", "publishing")
    check_content(e)
    e.status, e.published_at = "published", now()
    for old in versions(session, e):
        if old.id != e.id and old.status == "published":
            old.status = "superseded"
            audit.append(session, actor, "epd.supersede", f"{org_id}/epd/{old.id}", org_id,
                         {"epd_id": old.id, "uuid": old.uuid, "version": old.version, "by_version": e.version})
    audit.append(session, actor, "epd.publish", f"{org_id}/epd/{e.id}", org_id, _details(e))
    return e


def org_name(session: Session, org_id: str) -> str:
    org = session.get(Organisation, org_id)
    return org.name if org else org_id
