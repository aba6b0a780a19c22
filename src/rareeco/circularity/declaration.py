"""EU CRMA Art. 29 recycled-content declaration of a magnet product, from the ledger's scrap mass balance.

Regulation (EU) 2024/1252 Art. 29(1): products with more than 0.2 kg of NdFeB, SmCo or AlNiCo magnets must make
public the share of neodymium, dysprosium, praseodymium, terbium, boron, samarium, nickel and cobalt recovered
from **post-consumer** waste in those magnets (REFERENCE.md §8).  The declaration states that share per element,
the pre-consumer share beside it (kept apart, not counted by Art. 29), the mass balance behind every figure and
the method.  The Commission's act on the calculation and verification method is pending; Art. 29 applies from
24 May 2027 at the earliest.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

import rareeco
from rareeco.circularity.massbalance import (
    DECLARED,
    KINDS,
    WHEN_PRESENT,
    Assumptions,
    LineMonth,
    Stock,
    load_assumptions,
    run_chain,
    shares,
)
from rareeco.errors import Finding, NotFoundError
from rareeco.footprint.service import config_of
from rareeco.inventory.calculate import split_by_month
from rareeco.inventory.service import input_batches, input_sha256, load_records
from rareeco.ledger.models import Line, Product, Site
from rareeco.ledger.structure import get_org, now

REGULATION = "Regulation (EU) 2024/1252 (Critical Raw Materials Act), Article 29"
METHOD = (
    "Mass balance (ISO 22095:2020 mass-balance chain of custody) per calendar month over the organisation's own "
    "chain, from its ledger: the rare earths entering the recycling line with pre-consumer and with post-consumer "
    "scrap (scrap bought × assumed element content) are followed into the oxides it makes (stoichiometry), the "
    "line's loss taking both kinds in proportion; own products used as feed carry their shares to the products "
    "they feed (a feed named for one product in the footprint settings goes wholly to it, others by mass made); "
    "purchased inputs that bring an element (boron with ferroboron) bring none recycled. A product's share of an "
    "element is the recycled element entering ÷ all of that element entering, summed over the year's months.")
CAVEATS = (
    "The Commission's implementing act laying down the calculation and verification method for the recycled "
    "share (Art. 29) is pending: this declaration follows the mass-balance method stated here and will need "
    "re-checking against that act.",
    "Art. 29 applies from 24 May 2027 at the earliest (REFERENCE.md §8).",
    "Element contents of scrap and products are assumptions (tag U) until replaced with assays.",
    "Only post-consumer recycled content counts for Art. 29; pre-consumer content is shown apart.",
)


def _months(session: Session, org_id: str, year: int) -> tuple[list[LineMonth], dict[str, str], pd.DataFrame]:
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    lines = {ln.id: f"{sites[ln.site_id]} / {ln.code}"
             for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    products = {p.id: p.code for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
    records = load_records(session, org_id, date(year, 1, 1), date(year, 12, 31))
    pieces = split_by_month(records, year)
    pieces = pieces[pieces["line_id"].notna()]
    out: list[LineMonth] = []
    for (line_id, month), grp in pieces.groupby(["line_id", "month"]):
        def per_product(activity: str, g: pd.DataFrame = grp) -> dict[str, float]:
            sel = g[(g["activity"] == activity) & g["product_id"].notna()]
            sums = sel.groupby("product_id")["amount"].sum()
            return {products[int(float(str(k)))]: float(v) for k, v in zip(sums.index, sums.to_numpy(), strict=True)}

        other = grp[~grp["activity"].isin(("production.output", "consumption.product"))]
        out.append(LineMonth(lines[int(float(str(line_id)))], int(float(str(month))), per_product("production.output"),
                             per_product("consumption.product"),
                             {str(k): float(v) for k, v in other.groupby("activity")["amount"].sum().items()}))
    return out, {p.code: p.name for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}, \
        pieces


def _sum(stocks: list[Stock]) -> Stock:
    acc = Stock(0.0)
    for s in stocks:
        acc.made_t += s.made_t
        acc.add(s, 1.0)
    return acc


def declare(session: Session, org_id: str, product: str, year: int,
            assumptions: Assumptions | str | Path | None = None) -> dict[str, Any]:
    """The Art. 29 declaration of ``product`` for ``year`` (see the module's docstring), as a JSON-ready dict."""
    get_org(session, org_id)
    a = assumptions if isinstance(assumptions, Assumptions) else load_assumptions(assumptions)
    months, names, _ = _months(session, org_id, year)
    made_anywhere = {p for lm in months for p, t in lm.made_t.items() if t > 0}
    if product not in made_anywhere:
        raise NotFoundError(f"{product} was not made by {org_id} in {year}",
                            fix="products made that year: " + (", ".join(sorted(made_anywhere)) or "none"))
    cfg = config_of(session, org_id)
    chain = run_chain(months, a, cfg.feed_target)
    monthly = []
    for m in sorted(chain.stocks):
        s = chain.stocks[m].get(product)
        if s is None or not s.made_t:
            continue
        monthly.append({"month": f"{year}-{m:02d}", "made_t": s.made_t,
                        "elements": {el: v for el, v in shares(s).items() if v["present"]}})
    total = _sum([chain.stocks[m][product] for m in chain.stocks if product in chain.stocks[m]])
    declared = shares(total)
    findings = list(chain.findings)
    findings += _supply_findings(months)
    recycling = _recycling_summary(chain.balances)
    transfers = _transfer_summary(chain.transfers)
    batches = input_batches(session, org_id, date(year, 1, 1), date(year, 12, 31))
    return {
        "regulation": REGULATION, "organisation": org_id, "product": product, "product_name": names.get(product),
        "year": year, "made_t": total.made_t,
        "post_consumer_share_pct": {el: v["post_consumer_pct"] for el, v in declared.items()},
        "elements": declared,
        "elements_declared": list(DECLARED), "elements_when_present": list(WHEN_PRESENT),
        "monthly": monthly,
        "chain_of_custody": {
            "model": "mass balance (ISO 22095:2020), proportional, per calendar month",
            "recycling_lines": recycling, "transfers": transfers,
            "stages": _stages(months, transfers),
        },
        "method": METHOD, "caveats": list(CAVEATS), "assumptions": a.to_dict(),
        "findings": [f.to_dict() for f in findings],
        "provenance": {"input_batches": batches, "input_sha256": input_sha256(batches),
                       "assumptions_sha256": a.sha256, "footprint_settings_sha256": cfg.sha256,
                       "software_version": rareeco.__version__, "calculated_at": now().isoformat(timespec="seconds")},
    }


def _supply_findings(months: list[LineMonth]) -> list[Finding]:
    """A feed used beyond what was made in the year claims recycled content nobody made (stock or purchases)."""
    made: dict[str, float] = defaultdict(float)
    used: dict[str, float] = defaultdict(float)
    for lm in months:
        for p, t in lm.made_t.items():
            made[p] += t
        for p, t in lm.feeds_t.items():
            used[p] += t
    return [Finding("feed_exceeds_production", f"{p}: {used[p]:.1f} t used as feed but {made[p]:.1f} t made in the "
                    "year; the difference is given the year's average content", "advisory",
                    fix="record opening stock or purchases of the feed") for p in used if used[p] > made[p] + 1e-6]


def _recycling_summary(balances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for b in balances:
        acc = out.setdefault(b["line"], {"line": b["line"], "scrap_t": dict.fromkeys(KINDS, 0.0), "in_t": {},
                                         "out_t": {}, "loss_t": {}, "months": []})
        for k in KINDS:
            acc["scrap_t"][k] += b["scrap_t"][k]
        for el, v in b["in_t"].items():
            d = acc["in_t"].setdefault(el, {"pre_consumer": 0.0, "post_consumer": 0.0, "total": 0.0})
            for k in d:
                d[k] += v[k]
            for p, t in b["out_t"][el].items():
                acc["out_t"].setdefault(el, {}).setdefault(p, 0.0)
                acc["out_t"][el][p] += t
            acc["loss_t"][el] = acc["loss_t"].get(el, 0.0) + b["loss_t"][el]
        total = sum(b["scrap_t"].values())
        acc["months"].append({"month": b["month"], "scrap_t": b["scrap_t"],
                              "post_consumer_share_of_scrap_pct": 100 * b["scrap_t"]["post_consumer"] / total
                              if total else None,
                              "in_t": b["in_t"], "out_t": b["out_t"], "loss_t": b["loss_t"]})
    for acc in out.values():
        acc["recovery_pct"] = {el: 100 * sum(acc["out_t"].get(el, {}).values()) / v["total"] if v["total"] else None
                               for el, v in acc["in_t"].items()}
    return list(out.values())


def _transfer_summary(transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str, str], dict[str, Any]] = {}
    for t in transfers:
        d = acc.setdefault((t["line"], t["feed"], t["into"]), {"line": t["line"], "feed": t["feed"], "into": t["into"],
                                                               "t": 0.0, "element_t": {}, "pre_t": {}, "post_t": {}})
        d["t"] += t["t"]
        for key in ("element_t", "pre_t", "post_t"):
            for el, v in t[key].items():
                d[key][el] = d[key].get(el, 0.0) + v
    return sorted(acc.values(), key=lambda d: (d["line"], d["into"], d["feed"]))


def _stages(months: list[LineMonth], transfers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each own product used as feed: t made in the year, t used on each line, the rest (sold or stocked)."""
    made: dict[str, float] = defaultdict(float)
    line_of: dict[str, str] = {}
    for lm in months:
        for p, t in lm.made_t.items():
            made[p] += t
            line_of[p] = lm.line
    used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for tr in transfers:
        used[tr["feed"]][tr["into"]] += tr["t"]
    return [{"product": p, "made_on": line_of.get(p), "made_t": made[p], "used_t": dict(used[p]),
             "not_used_in_the_chain_t": made[p] - sum(used[p].values())} for p in sorted(used)]
