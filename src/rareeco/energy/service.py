"""Energy indicators on the ledger: read the year and the year before, report (see :mod:`rareeco.energy.enpi`)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.energy.enpi import monthly, report
from rareeco.inventory.service import factor_table, load_records
from rareeco.ledger.models import Line, Product, Site
from rareeco.ledger.structure import get_org
from rareeco.reference.usersets import chosen_sets


def enpi(session: Session, org_id: str, year: int, convention: str = "equivalent") -> dict[str, Any]:
    """Energy per unit of product of ``year`` per line and product, with the change from the year before."""
    get_org(session, org_id)
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    line_keys = {ln.id: f"{sites[ln.site_id]} / {ln.code}"
                 for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    codes = {p.id: p.code for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}

    def year_frame(y: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        records = load_records(session, org_id, date(y, 1, 1), date(y, 12, 31))
        table = factor_table(session, org_id, chosen_sets(session, org_id, y))
        return monthly(records, y, table, line_keys, convention), records

    this, records = year_frame(year)
    before, _ = year_frame(year - 1)
    made = records[(records["activity"] == "production.output") & records["line_id"].notna()]
    products = {codes[int(p)]: line_keys[int(ln)] for p, ln in zip(made["product_id"], made["line_id"], strict=True)}
    return {"organisation": org_id, **report(this, before if len(before) else None, products, convention, year)}
