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
    production = {y: _production(ledger[y]) for y in YEARS}
    for parent, subs in _by_parent(spec).items():
        main, m = main_values[parent], mains[parent]
        metered = sum(_share(s) for s in subs)
        free = [s for s in subs if "measure" not in s]
        taken = np.zeros(len(hours))
        for s in subs:
            if "measure" in s:
                values = s["share"] * main
                start, kwh_per_yr = _motor_measure(s["measure"])
                monthly_main = {y * 100 + mo: float(main[months == y * 100 + mo].sum()) for y in YEARS
                                for mo in range(1, 13)}
                a, b = _fit(production[YEARS[0]], monthly_main, m["site"], m["line"], YEARS[0])
                for y in YEARS:
                    for mo in range(1, 13):
                        sel = (months == y * 100 + mo) & (hours >= start)
                        if not sel.any():
                            continue
                        # without the measure: its share of the incomer at this month's production; less the saving
                        would = s["share"] * (a + b * production[y].get((m["site"], m["line"], mo), 0.0))
                        saved = kwh_per_yr * sel.sum() / (8784 if y % 4 == 0 else 8760)
                        w = main[sel] / main[sel].sum()
                        values[sel] = (would - saved) * w
                out[s["code"]] = values
                taken += values
        rest = sum(_share(s) for s in free)
        for s in free:
            out[s["code"]] = (metered * main - taken) * _share(s) / rest
    return out.round(2)


def _share(meter: dict[str, Any]) -> float:
    return float(meter["share"])


def _production(rows: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """Tonnes made per (site, line, month) [t]."""
    made = rows[rows["activity"] == "production.output"]
    t = made["amount"].astype(float) * made["unit"].map(lambda u: conversion_factor(u, "t"))
    sums = t.groupby([made["site"], made["line"], made["month"]]).sum()
    return {(str(k[0]), str(k[1]), int(k[2])): float(v) for k, v in sums.items()}  # type: ignore[index]


def _fit(production: dict[tuple[str, str, int], float], monthly: dict[int, float], site: str, line: str,
         year: int) -> tuple[float, float]:
    """Intercept and slope of the incomer's monthly energy on the line's production in ``year`` (least squares)."""
    x = np.array([production.get((site, line, mo), 0.0) for mo in range(1, 13)])
    y = np.array([monthly[year * 100 + mo] for mo in range(1, 13)])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


def _motor_measure(code: str) -> tuple[pd.Timestamp, float]:
    """In-service date and estimated annual saving [kWh] of a motor-replacement measure of measures.yaml
    (:func:`rareeco.energy.measures.motors_estimate`, IEC 60034-30-1 efficiencies)."""
    from rareeco.energy.measures import MotorGroup, motors_estimate

    data = yaml.safe_load(resources.files("rareeco.demo").joinpath("measures.yaml").read_text("utf-8"))
    m = next(x for x in data["measures"] if x["code"] == code)
    rows, _ = motors_estimate([MotorGroup(**g) for g in m["spec"]["motors"]])
    return pd.Timestamp(m["in_service"]), float(sum(r["kwh_saved"] for r in rows))


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


TEMPERATURES_SOURCE = "demo-temperatures-2024-2025"


def temperatures(site: str) -> pd.Series:
    """Daily mean temperatures [°C] of a demo site for 2024–2025: the monthly means of climate.yaml, interpolated
    between mid-months, with day-to-day weather (an AR(1) anomaly of about 2.5 °C)."""
    normals = yaml.safe_load(resources.files("rareeco.demo").joinpath("climate.yaml").read_text("utf-8"))[site]
    days = pd.date_range(f"{YEARS[0]}-01-01", f"{YEARS[-1]}-12-31", freq="D")
    mids = pd.DatetimeIndex([pd.Timestamp(y, mo, 15) for y in (YEARS[0] - 1, *YEARS, YEARS[-1] + 1)
                             for mo in range(1, 13)])
    means = np.tile(normals, len(YEARS) + 2)
    smooth = np.interp(days.asi8, mids.asi8, means)
    rng = np.random.default_rng(sum(map(ord, site)))
    anomaly = np.zeros(len(days))
    for i in range(1, len(days)):
        anomaly[i] = 0.7 * anomaly[i - 1] + 1.8 * rng.standard_normal()
    return pd.Series(np.round(smooth + anomaly, 1), index=days, name="temperature_c")


def load_temperatures(session: Any, org_id: str) -> str | None:
    """Store the demo sites' daily temperatures once (idempotent)."""
    from sqlalchemy import select

    from rareeco.energy.climate import store
    from rareeco.ledger.models import SeriesBatch

    if session.execute(select(SeriesBatch.id).where(SeriesBatch.org_id == org_id,
                                                    SeriesBatch.source.like(TEMPERATURES_SOURCE + "%"))).first():
        return None
    days = 0
    for site in ("baotou", "ganzhou"):
        days += store(session, org_id, site, temperatures(site), f"{TEMPERATURES_SOURCE} {site}")["days_stored"]
    return f"{TEMPERATURES_SOURCE}: {days} daily temperatures of 2 sites"
