"""An organisation's year as a product system: its lines' measured data, allocated, over cited background.

The steps are pure functions over what the ledger holds (docs/footprints.md):

1. :func:`line_years` — the year's records per line: products made [t], own products used as feed [t],
   and every other activity [catalogue unit];
2. :func:`background` — one background process per purchased input with its cited factor: grid and PV
   electricity from the electricity carbon-footprint factors (not the scope 2 grid factors: ISO 14067 /
   GB/T 24067 use life-cycle factors), purchased goods, freight and waste from the chosen factor sets,
   secondary feeds burden-free under the cut-off rule;
3. :func:`build` — one foreground process per product: its line's shared inputs and direct emissions
   times the product's allocation factor, per t of product, plus the feeds that go wholly into it.

Allocation (ISO 14067:2018 6.4.6.2): a feed named for one product in the settings goes to that product
(subdivision, step a); everything else a line uses is shared by mass or by economic value (steps b, c);
the factors of each line are printed and sum to 1.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from rareeco.errors import FactorNotFoundError, UnitError, ValidationFailed
from rareeco.footprint.config import FootprintConfig
from rareeco.inventory.calculate import coefficient_frame, gwp_multipliers, split_by_month
from rareeco.lca import (
    BiosphereExchange,
    Flow,
    Method,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
    allocation_factors,
)
from rareeco.reference import Factor, FactorTable
from rareeco.reference.catalogue import activities
from rareeco.units import conversion_factor

METHOD = "gwp100"
FLOW_BACKGROUND = "CO2e-background"
STRUCTURAL = ("production.output", "consumption.product")
ELECTRICITY_CFP = {"electricity.grid": "CN", "electricity.onsite_solar": "pv"}
"""Activities priced with an electricity carbon-footprint factor (kind electricity_cfp) and its key."""
NOT_IN_FOOTPRINT = {
    "electricity.green_certificate": "green certificates are reported but not applied: the footprint uses the "
                                     "grid's life-cycle factor (contractual instruments per ISO 14067:2018 "
                                     "6.4.9.4 need the buyer's acceptance)",
}


@dataclass(frozen=True)
class LineYear:
    """What one line used and made in the year, in catalogue units (products in t)."""

    key: str                         # "site / line"
    site: str
    made_t: dict[str, float]         # product code → t made
    feeds_t: dict[str, float]        # product code → t of own product used as feed
    amounts: dict[str, float]        # activity → amount [catalogue unit]
    records: int


@dataclass(frozen=True)
class SupplierInput:
    """A supplier's own product footprint (PACT) pricing a purchased input: supplier-specific primary data that
    replace the secondary factor (ISO 14067:2018 6.3.5; docs/suppliers.md)."""

    activity: str                    # the purchased input it prices
    pf_id: str                       # the supplier's PACT footprint id
    supplier: str
    sha256: str                      # checksum of the stored payload
    t_co2e_per_unit: float           # per catalogue unit of the activity (converted with rareeco.units)
    kg_co2e_per_declared_unit: float
    declared_unit: str
    primary_data_share_pct: float | None   # the supplier's own primaryDataShare (None: not stated, counted 0)
    reference_year: int | None       # year of the footprint's referencePeriodEnd
    verified: bool                   # the footprint carries a verification statement
    source: str = ""


@dataclass(frozen=True)
class BackgroundProcess:
    """A purchased input with its cited cradle-to-gate factor (or burden-free under the cut-off rule, or priced
    with a supplier's own footprint)."""

    id: str                          # the activity id, e.g. purchased.hcl
    name: str
    unit: str                        # catalogue unit of the activity
    t_co2e_per_unit: float
    factor: Factor | None            # None: cut-off (no burden) or a supplier footprint
    note: str = ""
    supplier: SupplierInput | None = None


@dataclass
class FootprintSystem:
    """The product system of an organisation's year, with what a reader needs to trust it."""

    system: ProductSystem
    year: int
    allocation: str
    lines: list[LineYear]
    line_of: dict[str, str]                           # product code → line key
    allocation_factors: dict[str, dict[str, float]]   # line key → product → factor (sum 1)
    allocation_basis: dict[str, dict[str, str]]       # line key → product → what the factor rests on
    background: dict[str, BackgroundProcess]
    direct_factors: dict[str, list[Factor]]           # activity → factors of its direct emissions
    gas_gwp: dict[str, float]                         # t CO2e per t of gas
    gwp_factors: list[Factor]
    notes: list[str] = field(default_factory=list)
    excluded: list[dict[str, object]] = field(default_factory=list)


def line_years(records: pd.DataFrame, year: int, line_keys: dict[int, tuple[str, str]],
               product_codes: dict[int, str]) -> tuple[list[LineYear], list[dict[str, object]]]:
    """Sum the year's records per line (records cut at the year's bounds pro rata by day).

    ``line_keys``: line id → (site code, line code).  Records without a line cannot be given to a
    product; they are returned as exclusions with their amounts.
    """
    pieces = split_by_month(records, year)
    excluded: list[dict[str, object]] = []
    no_line = pieces[pieces["line_id"].isna() & ~pieces["activity"].isin(STRUCTURAL)]
    for act, amount in no_line.groupby("activity")["amount"].sum().items():
        excluded.append({"activity": act, "amount": round(float(amount), 6), "unit": activities()[str(act)].unit,
                         "reason": "recorded for a site, not a line: give the line column to count it in a "
                                   "product footprint"})
    out = []
    lined = pieces[pieces["line_id"].notna()].astype({"line_id": "int64"})   # a float column when some lack one
    for line_id, grp in lined.groupby("line_id"):
        site, line = line_keys[int(str(line_id))]
        by_product = grp[grp["product_id"].notna()]

        def per_product(activity: str, rows: pd.DataFrame = by_product) -> dict[str, float]:
            sel = rows[rows["activity"] == activity]
            sums = sel.groupby("product_id")["amount"].sum()
            return {product_codes[int(k)]: float(v) for k, v in zip(sums.index, sums.to_numpy(), strict=True)}

        other = grp[~grp["activity"].isin(STRUCTURAL)]
        out.append(LineYear(f"{site} / {line}", site, per_product("production.output"),
                            per_product("consumption.product"),
                            {str(k): float(v) for k, v in other.groupby("activity")["amount"].sum().items()},
                            int(grp["id"].nunique())))
    return sorted(out, key=lambda ly: ly.key), excluded


def _dated(table: FactorTable, kind: str, key: str, year: int) -> tuple[Factor, str]:
    """The factor for ``year``, else the latest earlier year (said so), else the earliest later one (said so)."""
    years = table.years(kind, key)
    if not years:
        f = table.find(kind, key)
        if f is None:
            raise FactorNotFoundError(f"no factor of kind {kind!r} for {key!r}",
                                      fix=f"add a factor set with a row kind={kind}, key={key} and choose it")
        return f, ""
    if year in years:
        return table.find(kind, key, year) or table.get(kind, key), ""
    earlier = [y for y in years if y < year]
    use = max(earlier) if earlier else min(years)
    f = table.find(kind, key, use) or table.get(kind, key)
    return f, f"no {kind} {key} for {year}; {use} used ({f.factor_id})"


def background(acts: set[str], year: int, table: FactorTable, gwp_set: str,
               suppliers: dict[str, SupplierInput] | None = None
               ) -> tuple[dict[str, BackgroundProcess], dict[str, list[Factor]], list[str],
                          list[dict[str, object]], pd.DataFrame]:
    """Background processes of the purchased inputs in ``acts`` and coefficients of the direct emissions.

    ``suppliers``: activity → a supplier's footprint valid in ``year``; it prices that input instead of the
    factor set (supplier-specific data before secondary data, ISO 14067:2018 6.3.5).

    Returns (background by activity, factors of direct emissions by activity, notes, unquantified
    activities, the coefficient frame of direct emissions: activity, gas, t_per_unit).
    """
    cat = activities()
    bg: dict[str, BackgroundProcess] = {}
    notes: list[str] = []
    for act in sorted(a for a in acts if a in ELECTRICITY_CFP):
        f, note = _dated(table, "electricity_cfp", ELECTRICITY_CFP[act], year)
        if note:
            notes.append(note)
        per_unit = f.value * conversion_factor(f.unit, f"t CO2e/{cat[act].unit}")
        bg[act] = BackgroundProcess(act, cat[act].label_en, cat[act].unit, per_unit, f, note)
    for act in sorted(a for a in acts if cat[a].calc == "cut_off"):
        bg[act] = BackgroundProcess(act, cat[act].label_en, cat[act].unit, 0.0, None,
                                    "cut-off rule: secondary material enters burden-free (ISO 14067:2018 6.4.6.3)")
    rest = sorted(a for a in acts if a not in ELECTRICITY_CFP and a not in bg and a not in NOT_IN_FOOTPRINT)
    calc = coefficient_frame(rest, {}, year, "ghg-protocol", table, gwp_set)
    coef = calc.lines
    direct: dict[str, list[Factor]] = defaultdict(list)
    for row in coef.to_dict("records"):
        ids = [i.strip() for i in str(row["factor_ids"]).split("×") if i.strip()]
        used = [calc.factors[i] for i in ids]
        act = str(row["activity"])
        if row["gas"] == "CO2e":          # a cradle-to-gate factor: the input's own background process
            bg[act] = BackgroundProcess(act, cat[act].label_en, cat[act].unit, float(row["t_per_unit"]),
                                        used[0] if used else None)
        else:
            direct[act] += [f for f in used if f not in direct[act]]
    direct_coef = coef[coef["gas"] != "CO2e"][["activity", "gas", "t_per_unit"]]
    unquantified = calc.unquantified
    for act, sup in sorted((suppliers or {}).items()):
        if act in acts and act not in direct:
            bg[act] = BackgroundProcess(act, cat[act].label_en, cat[act].unit, sup.t_co2e_per_unit, None,
                                        f"supplier-specific: PACT footprint {sup.pf_id} of {sup.supplier}, "
                                        f"{sup.kg_co2e_per_declared_unit:g} kg CO2e per {sup.declared_unit}",
                                        sup)
            unquantified = [u for u in unquantified if u["activity"] != act]
    return bg, dict(direct), notes + calc.notes, unquantified, direct_coef


def allocation_quantities(line: LineYear, method: str, config: FootprintConfig, table: FactorTable,
                          year: int) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Quantities to allocate a line by: t made (mass) or t made × price (economic) — with their basis."""
    made = {p: t for p, t in line.made_t.items() if t > 0}
    if len(made) == 1:
        return {p: 1.0 for p in made}, {p: "single output: no allocation" for p in made}, []
    if method == "mass":
        return made, {p: f"{t:,.1f} t" for p, t in made.items()}, []
    quantities, basis, notes = {}, {}, []
    ref_unit = ""                         # the first price's unit: the others are converted to it
    for p, t in made.items():
        f, note = _dated(table, "price", config.price_key(p), year)
        ref_unit = ref_unit or f.unit
        try:
            quantities[p] = t * f.value * conversion_factor(f.unit, ref_unit)
        except UnitError as exc:          # e.g. CNY/kg beside USD/kg: an exchange rate is dated data, not a unit
            raise FactorNotFoundError(f"prices of {line.key} in {f.unit} and {ref_unit}: no common currency",
                                      fix="give the co-products of a line prices in one currency") from exc
        basis[p] = f"{t:,.1f} t × {f.value:g} {f.unit} [{f.factor_id}, {f.tag}]"
        if note:
            notes.append(note)
    return quantities, basis, notes


def build(lines: list[LineYear], year: int, config: FootprintConfig, table: FactorTable, gwp_set: str = "ar6",
          allocation: str = "mass", excluded: list[dict[str, object]] | None = None,
          suppliers: dict[str, SupplierInput] | None = None) -> FootprintSystem:
    """The product system: one process per product made in ``year`` (per t), one per purchased input
    (priced with the supplier's footprint where ``suppliers`` has one)."""
    acts = {a for ly in lines for a in ly.amounts}
    bg, direct, notes, unquantified, coef = background(acts, year, table, gwp_set, suppliers)
    excluded = list(excluded or [])
    for u in unquantified:
        excluded.append({"activity": u["activity"], "reason": u["reason"]})
    for act, why in NOT_IN_FOOTPRINT.items():
        if act in acts:
            excluded.append({"activity": act, "reason": why})
    gases = set(coef["gas"])
    direct_per_unit: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in coef.to_dict("records"):
        direct_per_unit[str(row["activity"])].append((str(row["gas"]), float(row["t_per_unit"])))
    gwp, gwp_used = gwp_multipliers(table, gwp_set, gases)

    made_by: dict[str, str] = {}
    for ly in lines:
        for p in (p for p, t in ly.made_t.items() if t > 0):
            if p in made_by:
                raise ValidationFailed(f"{p} is made on two lines ({made_by[p]}, {ly.key}) in {year}",
                                       fix="give each line its own product id (e.g. one per plant)")
            made_by[p] = ly.key
    processes = [Process(p, p, p, "t", ly.site) for ly in lines for p in ly.made_t if made_by.get(p) == ly.key]
    processes += [Process(b.id, b.name, b.id, b.unit) for b in bg.values()]
    flows = [Flow(g, g, "t") for g in sorted(gases)] + [Flow(FLOW_BACKGROUND, "CO2e of background factors", "t")]
    gsd_measured = Uncertainty.lognormal(gsd=config.measured_gsd)
    tech: list[TechnosphereExchange] = []
    bio: list[BiosphereExchange] = []
    for b in bg.values():
        if b.t_co2e_per_unit:
            tag = b.factor.tag if b.factor else ("V" if b.supplier.verified else "S") if b.supplier else None
            spread = Uncertainty.lognormal(gsd=config.factor_gsd[tag]) if tag else None
            bio.append(BiosphereExchange(b.id, FLOW_BACKGROUND, b.t_co2e_per_unit, uncertainty=spread))

    factors: dict[str, dict[str, float]] = {}
    basis: dict[str, dict[str, str]] = {}
    for ly in lines:
        if not any(t > 0 for t in ly.made_t.values()):
            excluded.append({"line": ly.key, "reason": "made nothing in the year: its inputs are in no footprint"})
            continue
        quantities, basis[ly.key], alloc_notes = allocation_quantities(ly, allocation, config, table, year)
        notes += [n for n in alloc_notes if n not in notes]
        factors[ly.key] = allocation_factors(quantities)
        outputs = set(factors[ly.key])
        whole = {feed: config.feed_target(feed, outputs) for feed in ly.feeds_t}
        for feed in (f for f in ly.feeds_t if f not in made_by):
            excluded.append({"line": ly.key, "feed": feed, "reason": f"{feed} was not made in {year}: its "
                             "footprint is unknown (record its production)"})
        for p, share in factors[ly.key].items():
            per_t = share / ly.made_t[p]
            for act, amount in ly.amounts.items():
                if not amount:
                    continue
                if act in bg and amount * per_t:     # a denormal amount can underflow to 0
                    tech.append(TechnosphereExchange(p, act, amount * per_t, uncertainty=gsd_measured))
                for gas, t_per_unit in direct_per_unit.get(act, []):
                    if amount * t_per_unit * per_t:
                        bio.append(BiosphereExchange(p, gas, amount * t_per_unit * per_t, uncertainty=gsd_measured))
            for feed, t in ly.feeds_t.items():
                if feed not in made_by:
                    continue
                amount = (t / ly.made_t[p] if whole[feed] == p else 0.0) if whole[feed] else t * per_t
                if amount:
                    tech.append(TechnosphereExchange(p, feed, amount, uncertainty=gsd_measured))
    method = Method(METHOD, "t CO2e", {**{g: gwp[g] for g in gases}, FLOW_BACKGROUND: 1.0},
                    f"GWP100 ({gwp_set.upper()})")
    system = ProductSystem(tuple(processes), tuple(flows), tuple(tech), tuple(bio), {METHOD: method})
    return FootprintSystem(system, year, allocation, lines, made_by, factors, basis, bg, direct, gwp, gwp_used,
                           notes, excluded)
