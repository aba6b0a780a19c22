"""Product footprints on the ledger: read the year, build, assess both allocations, store with provenance."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import rareeco
from rareeco.errors import FactorNotFoundError, NotFoundError, ValidationFailed
from rareeco.footprint import cems
from rareeco.footprint.assess import assess
from rareeco.footprint.config import ALLOCATIONS, DEFAULT_FACTOR_GSD, FootprintConfig, parse_config
from rareeco.footprint.system import FootprintSystem, LineYear, SupplierInput, build, line_years
from rareeco.inventory.service import factor_table, input_batches, input_sha256, load_records
from rareeco.ledger import audit
from rareeco.ledger.models import FootprintConfig as ConfigRecord
from rareeco.ledger.models import Line, Product, Result, Site
from rareeco.ledger.structure import get_org, now
from rareeco.reference import FactorTable
from rareeco.reference.usersets import chosen_sets
from rareeco.units import conversion_factor

KIND = "footprint"
DEFAULT_GWP = "ar6"
DEFAULT_ITERATIONS = 2000


def config_of(session: Session, org_id: str) -> FootprintConfig:
    """The organisation's latest footprint settings (the defaults when it has none)."""
    rec = session.execute(select(ConfigRecord).where(ConfigRecord.org_id == org_id)
                          .order_by(ConfigRecord.id.desc()).limit(1)).scalar_one_or_none()
    return parse_config(rec.content, f"footprint settings of {org_id}") if rec else FootprintConfig()


def set_config(session: Session, org_id: str, text: str, actor: str) -> FootprintConfig:
    """Check and store new footprint settings (a new version; earlier results keep the sha they used)."""
    get_org(session, org_id)
    cfg = parse_config(text)
    if config_of(session, org_id).sha256 != cfg.sha256:
        session.add(ConfigRecord(org_id=org_id, sha256=cfg.sha256, content=text, added_by=actor, added_at=now()))
        audit.append(session, actor, "footprint.settings", org_id, org_id, {"sha256": cfg.sha256})
    return cfg


@dataclass
class LedgerYear:
    """What the ledger says about an organisation's year, ready to build product systems from."""

    org_id: str
    year: int
    config: FootprintConfig
    table: FactorTable
    lines: list[LineYear]
    excluded: list[dict[str, object]]
    records: int
    products: dict[str, Product]
    suppliers: dict[str, SupplierInput] = field(default_factory=dict)   # activity → supplier footprint in use
    supplier_notes: list[str] = field(default_factory=list)


def read_year(session: Session, org_id: str, year: int) -> LedgerYear:
    """The year's records per line, the organisation's settings and its chosen factor sets."""
    get_org(session, org_id)
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    line_keys = {ln.id: (sites[ln.site_id], ln.code)
                 for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    products = {p.id: p for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
    records = load_records(session, org_id, date(year, 1, 1), date(year, 12, 31))
    lines, excluded = line_years(records, year, line_keys, {i: p.code for i, p in products.items()})
    if not any(t > 0 for ly in lines for t in ly.made_t.values()):
        raise NotFoundError(f"no production recorded for {org_id} in {year}",
                            fix="import production.output rows (with the product column) for the year")
    suppliers, supplier_notes = supplier_footprints(session, org_id, year)
    return LedgerYear(org_id, year, config_of(session, org_id),
                      factor_table(session, org_id, chosen_sets(session, org_id, year)), lines, excluded,
                      int(records.shape[0]), {p.code: p for p in products.values()}, suppliers, supplier_notes)


def supplier_footprints(session: Session, org_id: str, year: int) -> tuple[dict[str, SupplierInput], list[str]]:
    """The suppliers' footprints the organisation's products use in ``year`` (rareeco.ingest.pact_client)."""
    from rareeco.ingest.pact_client import in_use

    return in_use(session, org_id, year)


def systems(ly: LedgerYear, gwp_set: str = DEFAULT_GWP) -> tuple[dict[str, FootprintSystem], dict[str, str]]:
    """The product system under each allocation, the settings' first; and why an allocation is unavailable
    (e.g. a co-product without a price: the other allocation is still shown)."""
    out: dict[str, FootprintSystem] = {}
    unavailable: dict[str, str] = {}
    for allocation in (ly.config.allocation, *(a for a in ALLOCATIONS if a != ly.config.allocation)):
        try:
            out[allocation] = build(ly.lines, ly.year, ly.config, ly.table, gwp_set, allocation, ly.excluded,
                                    ly.suppliers)
        except FactorNotFoundError as exc:
            if allocation == ly.config.allocation:
                raise
            unavailable[allocation] = f"{exc.message} — {exc.fix}"
    return out, unavailable


_CEMS_CACHE: dict[tuple[str, int], tuple[str, list[dict[str, Any]]]] = {}


def _cems_fingerprint(session: Session, org_id: str, year: int) -> str:
    """A cheap checksum of what the year's CEMS quantities are computed from: the compliance settings, the
    organisation's time zone and, per CEMS series, the count, sum, time-weighted sum, flags and latest batch of
    its points in the year (padded by a day each side for the local-time boundaries)."""
    from sqlalchemy import func

    from rareeco.ingest.meter_csv import org_timezone
    from rareeco.ledger.models import Point, Series

    org = get_org(session, org_id)
    lo = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) - 86400
    hi = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) + 86400
    rows = session.execute(
        select(Series.key, func.count(), func.sum(Point.value), func.sum(Point.value * (Point.ts - lo)),
               func.count(Point.flag), func.max(Point.batch_id))
        .join(Point, Point.series_id == Series.id)
        .where(Series.org_id == org_id, Series.key.like("cems:%"), Point.ts >= lo, Point.ts < hi)
        .group_by(Series.key).order_by(Series.key)).all()
    text = json.dumps([(org.settings or {}).get("compliance"), org_timezone(session, org_id),
                       [[str(v) for v in r] for r in rows]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cems_quantities(session: Session, org_id: str, year: int) -> list[dict[str, Any]]:
    """The year's CEMS quantities per outlet and pollutant (:func:`rareeco.monitoring.compliance.yearly_quantities`;
    empty when the organisation has no outlets).

    Computing them reads every hour of the year, so they are kept in memory by (organisation, year) with the
    fingerprint of their inputs (:func:`_cems_fingerprint`): a new point, a changed value or flag, changed
    settings compute them again."""
    from rareeco.monitoring.compliance import yearly_quantities
    from rareeco.monitoring.outlets import load

    if not load(session, org_id).outlets:
        return []
    fp = _cems_fingerprint(session, org_id, year)
    hit = _CEMS_CACHE.get((org_id, year))
    if hit is not None and hit[0] == fp:
        return [dict(r) for r in hit[1]]
    rows = yearly_quantities(session, org_id, year)
    _CEMS_CACHE[(org_id, year)] = (fp, [dict(r) for r in rows])
    return rows


def add_measured(by_allocation: dict[str, dict[str, Any]], built: dict[str, FootprintSystem],
                 measured: dict[str, cems.LineEmissions]) -> None:
    """Give every product footprint its measured direct emissions [kg per declared unit] by substance
    (``direct_emissions_kg``), allocated with the allocation's factors (:func:`rareeco.footprint.cems
    .product_emissions`)."""
    for allocation, fps in by_allocation.items():
        fs = built[allocation]
        made = {p: ly.made_t[p] for ly in fs.lines for p in ly.made_t if fs.line_of.get(p) == ly.key}
        for p, fp in fps.items():
            line = fs.line_of[p]
            amount, _, unit = str(fp["declared_unit"]).partition(" ")
            declared_t = float(amount) * conversion_factor(unit, "t")
            share = fs.allocation_factors.get(line, {}).get(p, 0.0)
            fp["direct_emissions_kg"] = cems.product_emissions(measured.get(line), share, made.get(p, 0.0),
                                                               declared_t)


def compute(session: Session, org_id: str, year: int, gwp_set: str = DEFAULT_GWP,
            iterations: int = DEFAULT_ITERATIONS, cems_rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Footprints of every product the organisation made in ``year``, under mass and economic allocation.

    ``cems_rows``: the year's CEMS quantities (:func:`cems_quantities`, read when not given) — the measured
    non-GHG direct emissions of the lines (``direct_emissions_kg`` of each product; docs/footprints.md)."""
    ly = read_year(session, org_id, year)
    config, table, lines, products = ly.config, ly.table, ly.lines, ly.products
    built, unavailable = systems(ly, gwp_set)
    by_allocation = {a: assess(fs, iterations=iterations, declared={p: config.declared(p) for p in fs.line_of})
                     for a, fs in built.items()}
    if cems_rows is None:
        cems_rows = cems_quantities(session, org_id, year)
    measured, cems_notes = cems.by_line(cems_rows, year)
    add_measured(by_allocation, built, measured)
    fs = built[config.allocation]
    start, end = date(year, 1, 1), date(year, 12, 31)
    batches = input_batches(session, org_id, start, end)
    return {
        "organisation": org_id, "year": year, "gwp_set": gwp_set, "default_allocation": config.allocation,
        "products": {p: {"name": products[p].name, "name_zh": products[p].name_zh, "line": fs.line_of[p]}
                     for p in fs.line_of},
        "footprints": by_allocation,
        "unavailable_allocations": unavailable,
        "allocation_factors": {a: s.allocation_factors for a, s in built.items()},
        "allocation_basis": {a: s.allocation_basis for a, s in built.items()},
        "lines": [{"line": ly.key, "made_t": ly.made_t, "feeds_t": ly.feeds_t, "amounts": ly.amounts,
                   "records": ly.records,
                   "measured_t": measured[ly.key].t if ly.key in measured else {},
                   "measured_outlets": measured[ly.key].outlets if ly.key in measured else []} for ly in lines],
        "measured_emissions": {"year_h": cems.year_hours(year), "outlets": cems_rows,
                               "sha256": cems.digest(cems_rows) if cems_rows else None},
        "background": [{"activity": b.id, "name": b.name, "unit": b.unit, "t_co2e_per_unit": b.t_co2e_per_unit,
                        "factor": b.factor.cite() if b.factor else None,
                        "tag": b.factor.tag if b.factor else None, "note": b.note,
                        "supplier_pf_id": b.supplier.pf_id if b.supplier else None}
                       for b in fs.background.values()],
        "supplier_footprints": [_supplier_record(sup) for sup in ly.suppliers.values()],
        "direct_emission_factors": {a: [f.cite() for f in fs_] for a, fs_ in fs.direct_factors.items()},
        "gwp": {g: v for g, v in fs.gas_gwp.items() if g != "CO2e"},
        "gwp_factors": [f.cite() for f in fs.gwp_factors],
        "notes": fs.notes + ly.supplier_notes + cems_notes, "excluded": fs.excluded,
        "assumptions": {"measured_gsd": config.measured_gsd, "factor_gsd": config.factor_gsd,
                        "defaults": config.factor_gsd == DEFAULT_FACTOR_GSD,
                        "monte_carlo_iterations": iterations},
        "provenance": {"factor_sets": table.versions(), "input_batches": batches,
                       "input_sha256": input_sha256(batches), "settings_sha256": config.sha256,
                       "supplier_footprints": {s.pf_id: s.sha256 for s in ly.suppliers.values()},
                       "cems_sha256": cems.digest(cems_rows) if cems_rows else None,
                       "records": ly.records, "software_version": rareeco.__version__,
                       "calculated_at": now().isoformat(timespec="seconds")},
    }


def _supplier_record(sup: SupplierInput) -> dict[str, Any]:
    return {"activity": sup.activity, "pf_id": sup.pf_id, "supplier": sup.supplier, "sha256": sup.sha256,
            "kg_co2e_per_declared_unit": sup.kg_co2e_per_declared_unit, "declared_unit": sup.declared_unit,
            "t_co2e_per_unit": sup.t_co2e_per_unit, "primary_data_share_pct": sup.primary_data_share_pct,
            "reference_year": sup.reference_year, "verified": sup.verified, "source": sup.source}


def _digest(input_sha256: str, settings_sha256: str, suppliers: dict[str, SupplierInput] | None = None,
            cems_rows: list[dict[str, Any]] | None = None) -> str:
    """The checksum a stored footprint is found by: its input batches, its settings, the suppliers'
    footprints in use (a changed supplier footprint makes a new result) and the year's CEMS quantities
    (changed CEMS data make a new result)."""
    text = f"{input_sha256}|{settings_sha256}"
    if suppliers:
        text += "|" + ",".join(f"{a}={s.pf_id}:{s.sha256}" for a, s in sorted(suppliers.items()))
    if cems_rows:
        text += "|cems=" + cems.digest(cems_rows)
    return hashlib.sha256(text.encode()).hexdigest()


def footprints(session: Session, org_id: str, year: int, gwp_set: str = DEFAULT_GWP,
               iterations: int = DEFAULT_ITERATIONS, actor: str = "cli") -> dict[str, Any]:
    """The stored footprints of ``year`` when inputs, settings, factor sets and software are unchanged; else new ones.

    Stored as a result (kind ``footprint``) with the checksums of the input batches and the settings, the
    factor-set versions, the GWP set and the software version (DESIGN.md style 8).
    """
    start, end = date(year, 1, 1), date(year, 12, 31)
    versions = factor_table(session, org_id, chosen_sets(session, org_id, year)).versions()
    cems_rows = cems_quantities(session, org_id, year)
    digest = _digest(input_sha256(input_batches(session, org_id, start, end)), config_of(session, org_id).sha256,
                     supplier_footprints(session, org_id, year)[0], cems_rows)
    q = (select(Result).where(Result.org_id == org_id, Result.kind == KIND, Result.period == str(year),
                              Result.gwp_set == gwp_set, Result.input_sha256 == digest,
                              Result.software_version == rareeco.__version__).order_by(Result.id.desc()))
    for r in session.execute(q).scalars():
        if r.factor_sets == versions and r.payload.get("assumptions", {}).get("monte_carlo_iterations") == iterations:
            return {**r.payload, "result_id": r.id}
    payload = compute(session, org_id, year, gwp_set, iterations, cems_rows)
    r = Result(org_id=org_id, kind=KIND, period=str(year), method=payload["default_allocation"], gwp_set=gwp_set,
               factor_sets=versions, input_sha256=digest, software_version=rareeco.__version__, created_at=now(),
               frozen=False, payload=payload)
    session.add(r)
    session.flush()
    audit.append(session, actor, "footprint.calculate", f"{org_id}/{year}", org_id,
                 {"result_id": r.id, "input_sha256": digest,
                  "products": {p: round(v["kg_co2e_per_declared_unit"], 6)
                               for p, v in payload["footprints"][payload["default_allocation"]].items()}})
    return {**payload, "result_id": r.id}


def product_footprint(payload: dict[str, Any], product: str, allocation: str | None = None) -> dict[str, Any]:
    """One product's footprint from :func:`footprints`, under ``allocation`` (default: the settings'),
    with the other allocation beside it."""
    if product not in payload["products"]:
        raise NotFoundError(f"no footprint for product {product!r} in {payload['year']}",
                            fix="products made that year: " + ", ".join(sorted(payload["products"])))
    allocation = allocation or payload["default_allocation"]
    if allocation not in ALLOCATIONS:
        raise ValidationFailed(f"allocation {allocation!r} unknown", fix="use mass or economic")
    if allocation not in payload["footprints"]:
        raise FactorNotFoundError(f"{allocation} allocation is not available: "
                                  f"{payload['unavailable_allocations'][allocation]}")
    line = payload["products"][product]["line"]
    shown = list(payload["footprints"])
    out = dict(payload["footprints"][allocation][product])
    out.update({
        "organisation": payload["organisation"], "year": payload["year"], "gwp_set": payload["gwp_set"],
        "name": payload["products"][product]["name"], "name_zh": payload["products"][product]["name_zh"],
        "by_allocation_kg_co2e": {a: payload["footprints"][a][product]["kg_co2e_per_declared_unit"]
                                  for a in shown},
        "allocation_factors": {a: payload["allocation_factors"][a][line] for a in shown},
        "allocation_basis": {a: payload["allocation_basis"][a][line] for a in shown},
        "unavailable_allocations": payload["unavailable_allocations"],
        "notes": payload["notes"], "excluded": payload["excluded"],
        "measured_outlets": next((ln.get("measured_outlets", []) for ln in payload["lines"] if ln["line"] == line),
                                 []),
        "provenance": {**payload["provenance"], "result_id": payload.get("result_id")},
    })
    return out


def summary(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per product of ``payload`` (sorted by line, then code): the figure under the default
    allocation, both allocations side by side, the 95 % interval, the primary-data share, the declared unit."""
    default = payload["default_allocation"]
    rows = []
    for code, info in payload["products"].items():
        fp = payload["footprints"][default][code]
        u = fp.get("uncertainty")
        rows.append({
            "product": code, "name": info.get("name"), "name_zh": info.get("name_zh"), "line": info["line"],
            "declared_unit": fp["declared_unit"], "allocation": default,
            "kg_co2e_per_declared_unit": fp["kg_co2e_per_declared_unit"],
            "by_allocation_kg_co2e": {a: payload["footprints"][a][code]["kg_co2e_per_declared_unit"]
                                      for a in ALLOCATIONS if a in payload["footprints"]},
            "interval_95_kg_co2e": ([u["percentiles"]["p2.5"], u["percentiles"]["p97.5"]] if u else None),
            "primary_data_share_pct": fp["primary_data_share_pct"],
            "result_id": payload.get("result_id"),
        })
    return sorted(rows, key=lambda r: (r["line"], r["product"]))
