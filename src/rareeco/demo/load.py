"""Load the demo organisation ``demo`` into a ledger — idempotently.

Structure from ``organisation.toml``; 2024 and 2025 activity files from
:mod:`rareeco.demo.generate` (deterministic); an invented scope 3 factor set marked as
such.  A second run finds everything in place and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.demo.downstream import downstream_rows
from rareeco.demo.generate import activity_rows, load_structure
from rareeco.demo.meters import FILE_NAME, load_meters, load_temperatures
from rareeco.energy.measures_service import add_file as add_measures
from rareeco.footprint.service import set_config
from rareeco.ingest.activity import import_activity, sha256
from rareeco.ledger import structure
from rareeco.ledger.accounts import ensure_demo_users
from rareeco.ledger.models import ApiToken, FactorSetRecord, ImportBatch, Line, Organisation, Product, Site
from rareeco.ledger.structure import now
from rareeco.ledger.tokens import digest
from rareeco.reference.usersets import add_factor_set, choose_sets

ORG = "demo"
YEARS = (2024, 2025)
FACTOR_SET = "demo-supplier-factors"
#: Demo characterisation factors (AP, EP) for the EPDs' measured module A3 — demo values, not EF 3.1 (docs/epd.md).
CHARACTERISATION_SET = "demo-characterisation"
# Demo only: a published token so the README's API examples work out of the box.
DEMO_TOKEN = "rk_demo_public-demo-token-not-for-production"
ACTOR = "demo-loader"
ZLD_FILE = "demo-zld-2025.yaml"
#: The salts the demo's zero-liquid-discharge plant recovers, as products (zld.yaml; docs/zld.md).
ZLD_PRODUCTS = {"nh4cl": ("Ammonium chloride, recovered (ZLD)", "氯化铵（零排放回收）"),
                "na2so4": ("Sodium sulfate, anhydrous, recovered (ZLD)", "无水硫酸钠（零排放回收）")}


def year_csv(year: int) -> bytes:
    return activity_rows(year).to_csv(index=False).encode("utf-8")


def demo_files() -> list[tuple[str, bytes]]:
    """The demo's activity files: per year the oxide plants, then the product chain (feeds, metal, magnets).

    Two files per year, so a ledger loaded before the chain existed gains the second file without the
    first one changing (a changed first file would overlap its earlier version).
    """
    files = []
    for year in YEARS:
        files.append((f"demo-activity-{year}.csv", year_csv(year)))
        files.append((f"demo-chain-{year}.csv", downstream_rows(year).to_csv(index=False).encode("utf-8")))
    return files


def _add_missing_structure(session: Session, st: dict[str, Any]) -> None:
    """Sites, lines and products of organisation.toml that the ledger does not hold yet (idempotent)."""
    sites = {s.code: s for s in session.execute(select(Site).where(Site.org_id == ORG)).scalars()}
    lines = {(ln.site_id, ln.code) for ln in session.execute(select(Line).where(Line.org_id == ORG)).scalars()}
    products = {p.code for p in session.execute(select(Product).where(Product.org_id == ORG)).scalars()}
    for code, site in st["sites"].items():
        if code not in sites:
            sites[code] = structure.add_site(session, ORG, code, site["province"], site["name"], site["grid_region"],
                                             ACTOR)
        for lcode, line in site.get("lines", {}).items():
            if (sites[code].id, lcode) not in lines:
                structure.add_line(session, ORG, code, lcode, line["name"], line.get("capacity_t_reo_per_yr"), ACTOR)
    for pcode, p in st["products"].items():
        if pcode not in products:
            structure.add_product(session, ORG, pcode, p["name"], p.get("name_zh", ""), p.get("unit", "t"), ACTOR)


def load_demo(session: Session, progress: Callable[[str], None] | None = None,
              declarations: bool = False) -> dict[str, Any]:
    """Load the demo organisation; ``declarations`` also publishes its PACT footprints and EPDs
    (:func:`publish_declarations`, what ``rareeco demo`` does)."""
    say = progress or (lambda _m: None)
    st = load_structure()
    created = session.get(Organisation, ORG) is None
    if created:
        o = st["organisation"]
        structure.create_org(session, ORG, o["name"], ACTOR)
    _add_missing_structure(session, st)
    text = resources.files("rareeco.demo").joinpath(f"{FACTOR_SET}.csv").read_text("utf-8")
    latest = session.execute(select(FactorSetRecord.content).where(FactorSetRecord.org_id == ORG,
                                                                   FactorSetRecord.set_id == FACTOR_SET)
                             .order_by(FactorSetRecord.id.desc()).limit(1)).scalar_one_or_none()
    if latest != text:   # new, or a newer version of the file than the ledger holds
        add_factor_set(session, ORG, text, FACTOR_SET, ACTOR)
        if latest is None:
            choose_sets(session, ORG, [FACTOR_SET], None, ACTOR)
    _add_characterisation(session)
    imported = []
    for name, data in demo_files():
        if session.execute(select(ImportBatch).where(ImportBatch.org_id == ORG, ImportBatch.sha256 == sha256(data),
                                                     ImportBatch.status == "active")).first():
            continue
        say(f"importing {name}")
        # a newer version of a demo file (e.g. the chain file once it split pre- and post-consumer scrap)
        # supersedes the version the ledger holds, instead of overlapping it
        old = session.execute(select(ImportBatch.id).where(ImportBatch.org_id == ORG, ImportBatch.file_name == name,
                                                           ImportBatch.status == "active")
                              .order_by(ImportBatch.id.desc()).limit(1)).scalar_one_or_none()
        r = import_activity(session, ORG, data, name, ACTOR, replace=old)
        imported.append(f"{name}: {r.rows_stored} rows (batch {r.batch_id})")
    settings = resources.files("rareeco.demo").joinpath("footprint.yaml").read_text("utf-8")
    set_config(session, ORG, settings, ACTOR)   # a new version only when the file changed
    if not session.execute(select(ApiToken).where(ApiToken.token_sha256 == digest(DEMO_TOKEN))).first():
        session.add(ApiToken(org_id=ORG, name="demo (public)", token_sha256=digest(DEMO_TOKEN), role="admin",
                      created_at=now()))
    ensure_demo_users(session, ORG)
    meters = load_meters(session, ORG, ACTOR)
    if meters:
        say(f"importing {FILE_NAME}")
        imported.append(meters)
        imported.append(load_temperatures(session, ORG) or "")
    zld = _load_zld(session)
    if zld:
        say(f"importing {ZLD_FILE}")
        imported.append(zld)
    _set_targets(session)
    # the energy-saving measures and energy prices (after the meters their option B reads); a changed file updates them
    changed = add_measures(session, ORG, resources.files("rareeco.demo").joinpath("measures.yaml").read_text("utf-8"),
                           ACTOR, replace=True)
    published = [f"measures {k}: {', '.join(changed[k])}" for k in ("added", "updated") if changed[k]]
    published += publish_declarations(session) if declarations and not _has_declarations(session) else []
    if imported:   # store the inventories so the pages and API show them at once
        from rareeco.inventory.service import inventory

        for year in YEARS:
            inventory(session, ORG, year, actor=ACTOR)
    msg = ("demo organisation 'demo' loaded: " + "; ".join(imported + published)) if imported or published else \
        "demo organisation 'demo' already loaded — nothing changed"
    return {"created": created, "imported": imported, "token": DEMO_TOKEN, "message": msg}


def _add_characterisation(session: Session) -> None:
    """The demo's characterisation factor set, added (a changed file: its new version) and chosen beside the others."""
    from rareeco.reference.usersets import chosen_sets

    text = resources.files("rareeco.demo").joinpath(f"{CHARACTERISATION_SET}.csv").read_text("utf-8")
    latest = session.execute(select(FactorSetRecord.content).where(FactorSetRecord.org_id == ORG,
                                                                   FactorSetRecord.set_id == CHARACTERISATION_SET)
                             .order_by(FactorSetRecord.id.desc()).limit(1)).scalar_one_or_none()
    if latest != text:
        add_factor_set(session, ORG, text, CHARACTERISATION_SET, ACTOR)
    chosen = chosen_sets(session, ORG, YEARS[-1])
    if CHARACTERISATION_SET not in chosen:
        choose_sets(session, ORG, [*chosen, CHARACTERISATION_SET], None, ACTOR)


def _load_zld(session: Session) -> str | None:
    """The ZLD plant's records (November 2025 open, December 2025 verified) with its salt products, once; a changed
    file replaces the periods it holds."""
    from rareeco.monitoring.zld_records import import_records

    data = resources.files("rareeco.demo").joinpath("zld.yaml").read_bytes()
    if session.execute(select(ImportBatch).where(ImportBatch.org_id == ORG, ImportBatch.sha256 == sha256(data),
                                                 ImportBatch.status == "active")).first():
        return None
    have = {p.code for p in session.execute(select(Product).where(Product.org_id == ORG)).scalars()}
    for code, (name, name_zh) in ZLD_PRODUCTS.items():
        if code not in have:
            structure.add_product(session, ORG, code, name, name_zh, "t", ACTOR)
    r = import_records(session, ORG, data, ZLD_FILE, ACTOR)
    return f"{ZLD_FILE}: {len(r.periods)} periods of {r.plant}, {r.coproduct_rows} co-product rows (batch {r.batch_id})"


def _set_targets(session: Session) -> None:
    """The demo's energy targets, once (a user's later change is kept)."""
    from rareeco.energy.targets import set_target, targets

    text = resources.files("rareeco.demo").joinpath("energy-targets.yaml").read_text("utf-8")
    for year, lines in yaml.safe_load(text).items():
        if not targets(session, ORG, int(year)):
            for line, value in lines.items():
                set_target(session, ORG, int(year), line, float(value), actor=ACTOR)


DECLARED_YEAR = 2025
PACT_PRODUCTS = ("prnd-oxide", "ndfeb-magnet-recycled")
EPD_PRODUCTS = ("prnd-oxide", "ndfeb-magnet-recycled")


def _has_declarations(session: Session) -> bool:
    from rareeco.ledger.models import Epd, PactFootprint

    return bool(session.execute(select(PactFootprint.id).where(PactFootprint.org_id == ORG).limit(1)).first()
                or session.execute(select(Epd.id).where(Epd.org_id == ORG).limit(1)).first())


def publish_declarations(session: Session) -> list[str]:
    """What the demo producer shows its buyers: PACT footprints and EPDs of PrNd oxide and the recycled magnet
    (2025), each EPD through the whole workflow — built and submitted by ``demo``, verified by
    ``demo-verifier``, published.  Skipped for what is already published (idempotent)."""
    from rareeco.declare import epd_service, pact
    from rareeco.ledger.accounts import DEMO_USER

    out = []
    active = {f.product_code for f in pact.published(session, ORG, status="Active")}
    for product in PACT_PRODUCTS:
        if product not in active:
            f = pact.publish(session, ORG, product, DECLARED_YEAR, ACTOR)
            out.append(f"PACT footprint {product} {DECLARED_YEAR} ({f.id})")
    done = {(e.product_code, e.year) for e in epd_service.list_epds(session, ORG) if e.status == "published"}
    for product in EPD_PRODUCTS:
        if (product, DECLARED_YEAR) in done:
            continue
        e, _ = epd_service.build(session, ORG, product, DECLARED_YEAR, DEMO_USER)
        epd_service.submit(session, ORG, e.id, DEMO_USER)
        epd_service.add_comment(session, ORG, e.id, "demo-verifier",
                                "Checked against the 2025 ledger and the footprint result; demo verification only.")
        epd_service.verify(session, ORG, e.id, "demo-verifier")
        epd_service.publish(session, ORG, e.id, DEMO_USER)
        out.append(f"EPD {product} {DECLARED_YEAR} v{e.version} (verified, published)")
    return out
