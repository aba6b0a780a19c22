"""The demo producer's meters and their hourly readings, 2024 and 2025 (deterministic).

Each main meter's month is exactly the ledger's invoices of its line (``sources`` in meters.yaml), spread over
the hours with a day/night and weekday load shape (PV: a daylight curve); a sub-meter reads its ``share`` of
its main meter, so the balance leaves the rest unaccounted.  The readings are one wide CSV, imported like any
user's file (:mod:`rareeco.ingest.meter_csv`), so the demo exercises the real path.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rareeco.demo.downstream import downstream_rows
from rareeco.demo.generate import activity_rows
from rareeco.units import conversion_factor

YEARS = (2024, 2025)
TZ = "Asia/Shanghai"


def tree() -> list[dict[str, Any]]:
    data: dict[str, Any] = yaml.safe_load(resources.files("rareeco.demo").joinpath("meters.yaml").read_text("utf-8"))
    return list(data["meters"])


def _monthly(year: int) -> pd.DataFrame:
    """The ledger's amounts per site, line, activity and month of ``year`` (activity unit as written)."""
    rows = pd.concat([activity_rows(year), downstream_rows(year)], ignore_index=True)
    rows["month"] = pd.to_datetime(rows["period_start"]).dt.month
    return rows


def _shape(hours: pd.DatetimeIndex, profile: str, seed: int) -> np.ndarray:
    """Relative load per hour [-]: process plants run day and night with a mild afternoon peak and a quieter
    Sunday; PV follows the sun from 06:00 to 18:00."""
    h = hours.hour.to_numpy()
    if profile == "solar":
        return np.clip(np.sin(math.pi * (h + 0.5 - 6) / 12), 0, None)
    rng = np.random.default_rng(seed)
    day = 1 + 0.08 * np.sin(2 * math.pi * (h - 8) / 24)
    week = np.where(hours.day_of_week.to_numpy() == 6, 0.96, 1.0)
    return day * week * (1 + 0.02 * rng.standard_normal(len(h)))


def readings() -> pd.DataFrame:
    """Hourly readings of every demo meter (wide: ``timestamp`` in local time, one column per meter)."""
    spec = tree()
    hours = pd.date_range(f"{YEARS[0]}-01-01", f"{YEARS[-1]}-12-31 23:00", freq="h")
    out = pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%dT%H:%M:%S")})
    months = hours.year * 100 + hours.month
    ledger = {y: _monthly(y) for y in YEARS}
    mains = {m["code"]: m for m in spec if "sources" in m}
    main_values: dict[str, np.ndarray] = {}
    for i, m in enumerate(mains.values()):
        weights = _shape(hours, m.get("profile", "plant"), seed=i)
        values = np.zeros(len(hours))
        for y in YEARS:
            rows = ledger[y]
            rows = rows[(rows["site"] == m["site"]) & (rows["line"] == m["line"]) & rows["activity"].isin(m["sources"])]
            for month in range(1, 13):
                sel = months == y * 100 + month
                got = rows[rows["month"] == month]
                total = sum(float(a) * conversion_factor(u, m["unit"]) for a, u in zip(got["amount"], got["unit"],
                                                                                        strict=True))
                w = weights[sel]
                values[sel] = total * w / w.sum() if w.sum() > 0 else 0.0
        main_values[m["code"]] = values
    for m in spec:
        if m["code"] in mains:
            out[m["code"]] = main_values[m["code"]]
    for parent, subs in _by_parent(spec).items():
        main = main_values[parent]
        base = {s["code"]: _share(s, YEARS[0]) for s in subs}
        metered = sum(base.values())
        for s in subs:
            share = np.zeros(len(hours))
            for y in YEARS:
                sel = hours.year == y
                fixed = {c: _share(x, y) for c, x in ((x["code"], x) for x in subs) if isinstance(x["share"], dict)}
                free = metered - sum(fixed.values())
                rest = sum(v for c, v in base.items() if c not in fixed)
                share[sel] = fixed.get(s["code"], base[s["code"]] * free / rest if rest else 0.0)
            out[s["code"]] = main * share
    return out.round(2)


def _share(meter: dict[str, Any], year: int) -> float:
    share = meter["share"]
    return float(share[year] if isinstance(share, dict) else share)


def _by_parent(spec: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in spec:
        if m.get("parent"):
            out.setdefault(m["parent"], []).append(m)
    return out


FILE_NAME = "demo-meters-2024-2025.csv"


def load_meters(session: Any, org_id: str, actor: str) -> str | None:
    """Register the demo meters and import their readings once (idempotent); returns what was done."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import select

    from rareeco.ingest.meter_csv import import_csv
    from rareeco.ledger import structure
    from rareeco.ledger.models import Meter, SeriesBatch

    have = set(session.execute(select(Meter.code).where(Meter.org_id == org_id)).scalars())
    for m in tree():
        if m["code"] not in have:
            structure.add_meter(session, org_id, m["site"], m["code"], m["carrier"], m.get("line"), actor,
                                parent=m.get("parent"), role=m.get("role", "main"), name=m["name"], unit=m["unit"],
                                interval_s=m["interval_s"])
    if session.execute(select(SeriesBatch.id).where(SeriesBatch.org_id == org_id,
                                                    SeriesBatch.source == FILE_NAME)).first():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / FILE_NAME
        readings().to_csv(path, index=False)
        r = import_csv(session, org_id, path, actor=actor)
    return f"{FILE_NAME}: {r['points_stored']:,} hourly readings of {len(tree())} meters (batch {r['batch']})"
