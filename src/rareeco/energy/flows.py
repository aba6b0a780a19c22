"""Energy by carrier, site and line, and the energy-flow (Sankey) graph carriers → sites → lines → products.

Pure functions over the ledger frame of :func:`rareeco.inventory.service.load_records`: no session, no files.
The carriers and their coal-equivalent coefficients are those of :mod:`rareeco.energy.enpi` (GB/T 2589-2020,
electricity in the convention named), so the flows add up to the EnPI's energy exactly.  A line's energy is
passed on to its products by the mass each made (the mass basis of the EnPI): a flow, not an allocation
method of a footprint.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from rareeco.energy.enpi import coefficients
from rareeco.inventory.calculate import split_by_month
from rareeco.reference import FactorTable
from rareeco.reference.catalogue import activities

#: Line key of energy a site records without a line (shown, never dropped).
NO_LINE = "{site} / (no line)"


def carrier_monthly(records: pd.DataFrame, year: int, table: FactorTable, line_keys: dict[int, str],
                    site_keys: dict[int, str], convention: str = "equivalent") -> pd.DataFrame:
    """One row per site, line, carrier and month of ``year``.

    Parameters
    ----------
    records : pandas.DataFrame
        Ledger frame (``site_id``, ``line_id``, ``activity``, ``period_start``, ``period_end``, ``amount``).
    year : int
        Calendar year; records are cut into months pro rata by days.
    table : FactorTable
        Factor table with the GB/T 2589 ``coal_equivalent`` coefficients and ``coal_equivalent_energy``.
    line_keys, site_keys : dict
        Line id → ``"site / line"``; site id → site code.
    convention : {"equivalent", "generation"}
        Electricity to coal equivalent (GB/T 2589-2020).

    Returns
    -------
    pandas.DataFrame
        Columns ``site``, ``line`` (``"site / (no line)"`` for energy without a line), ``carrier`` (activity id),
        ``month`` (1–12), ``amount`` [catalogue unit of the carrier], ``unit``, ``kgce`` [kgce] and ``gj`` [GJ].

    Notes
    -----
    kgce = amount · coefficient (GB/T 2589-2020, Appendix A); GJ = kgce · 29.3076 MJ/kgce / 1000.
    """
    coef = coefficients(table, convention)
    mj_per_kgce = table.get("coal_equivalent_energy", "kgce").value
    cols = ["site", "line", "carrier", "month", "amount", "unit", "kgce", "gj"]
    pieces = split_by_month(records, year)
    energy = pieces[pieces["activity"].isin(list(coef))].copy()
    if energy.empty:
        return pd.DataFrame(columns=cols)
    energy["site"] = energy["site_id"].map(lambda i: site_keys.get(int(i), str(i)))
    energy["line"] = [line_keys[int(ln)] if pd.notna(ln) else NO_LINE.format(site=s)
                      for ln, s in zip(energy["line_id"], energy["site"], strict=True)]
    energy["carrier"] = energy["activity"]
    energy["kgce"] = energy["amount"] * energy["activity"].map({a: c[0] for a, c in coef.items()})
    out = energy.groupby(["site", "line", "carrier", "month"], as_index=False)[["amount", "kgce"]].sum()
    cat = activities()
    out["unit"] = out["carrier"].map(lambda a: cat[a].unit)
    out["gj"] = out["kgce"] * mj_per_kgce / 1000.0
    return out[cols].sort_values(["site", "line", "carrier", "month"]).reset_index(drop=True)


def production_by_line(records: pd.DataFrame, year: int, line_keys: dict[int, str],
                       product_codes: dict[int, str]) -> pd.DataFrame:
    """Mass made per line, product and month of ``year``: columns ``line``, ``product``, ``month``, ``t``."""
    pieces = split_by_month(records, year)
    made = pieces[(pieces["activity"] == "production.output") & pieces["line_id"].notna()
                  & pieces["product_id"].notna()].copy()
    if made.empty:
        return pd.DataFrame(columns=["line", "product", "month", "t"])
    made["line"] = made["line_id"].map(lambda i: line_keys[int(i)])
    made["product"] = made["product_id"].map(lambda i: product_codes[int(i)])
    out = made.groupby(["line", "product", "month"], as_index=False)[["amount"]].sum()
    return out.rename(columns={"amount": "t"})


def sankey(carriers: pd.DataFrame, made: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The energy-flow graph of a period: carriers → sites → lines → products [kgce].

    Parameters
    ----------
    carriers : pandas.DataFrame
        Output of :func:`carrier_monthly` (any months: they are summed).
    made : pandas.DataFrame
        Output of :func:`production_by_line` for the same months.
    labels : dict, optional
        Carrier activity id → display label (default: the id).

    Returns
    -------
    dict
        ``nodes``: ``{"id", "label", "level"}`` with level ``carrier | site | line | product`` (ids are prefixed
        ``c:``, ``s:``, ``l:``, ``p:`` so a product may share a code with a site); ``links``: ``{"source",
        "target", "kgce"}``; ``total_kgce``.  A line's energy goes to its products by mass made; a line that
        made nothing ends at the line (its energy is in ``unassigned_kgce``).
    """
    labels = labels or {}
    nodes: dict[str, dict[str, str]] = {}
    links: dict[tuple[str, str], float] = {}

    def node(kind: str, key: str, label: str) -> str:
        nid = f"{kind[0]}:{key}"
        nodes.setdefault(nid, {"id": nid, "label": label, "level": kind})
        return nid

    def link(a: str, b: str, v: float) -> None:
        if v > 0:
            links[(a, b)] = links.get((a, b), 0.0) + v

    by_carrier_site = carriers.groupby(["carrier", "site"], as_index=False)["kgce"].sum()
    for carrier, site, v in by_carrier_site[["carrier", "site", "kgce"]].itertuples(index=False):
        link(node("carrier", str(carrier), labels.get(str(carrier), str(carrier))), node("site", str(site), str(site)),
             float(v))
    by_line = carriers.groupby(["site", "line"], as_index=False)["kgce"].sum()
    unassigned = 0.0
    for site, line, v in by_line[["site", "line", "kgce"]].itertuples(index=False):
        lid = node("line", str(line), str(line))
        link(node("site", str(site), str(site)), lid, float(v))
        out = made[made["line"] == line].groupby("product")["t"].sum()
        total_t = float(out.sum())
        if total_t <= 0:
            unassigned += float(v)
            continue
        for product, t in out.items():
            link(lid, node("product", str(product), str(product)), float(v) * float(t) / total_t)
    used = {n for pair in links for n in pair}
    return {"nodes": [n for nid, n in nodes.items() if nid in used],
            "links": [{"source": a, "target": b, "kgce": v} for (a, b), v in links.items()],
            "total_kgce": float(carriers["kgce"].sum()) if len(carriers) else 0.0,
            "unassigned_kgce": unassigned}
