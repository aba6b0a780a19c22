"""Zero-liquid-discharge (ZLD) water and salt balance of an evaporation-crystallisation plant, per period.

Water in (feed plus what the tanks gave up) must equal water out (distillate reused, purge, water leaving with
the salts, vented vapour, discharge). A period is *zero discharge* only when the discharge meter reads zero **and**
the balance closes within the stated tolerance — an unexplained loss could be an unmetered discharge. Pure
function; volumes in m3 (water taken as 1 t/m3), masses in t, energy in kWh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rareeco.errors import ValidationFailed


@dataclass(frozen=True)
class Salt:
    """A recovered salt of the period: ``wet_t`` as weighed, ``moisture_pct`` of water in it [%]."""

    kind: str                 # e.g. NH4Cl, Na2SO4, MgSO4·7H2O
    wet_t: float
    moisture_pct: float

    @property
    def dry_t(self) -> float:
        return self.wet_t * (1.0 - self.moisture_pct / 100.0)

    @property
    def water_m3(self) -> float:
        return self.wet_t * self.moisture_pct / 100.0


@dataclass(frozen=True)
class Period:
    """What the plant's meters and weighbridge recorded over one period."""

    feed_m3: float
    distillate_reused_m3: float
    purge_m3: float
    discharge_m3: float
    tank_start_m3: float = 0.0
    tank_end_m3: float = 0.0
    vented_m3: float = 0.0
    salts: tuple[Salt, ...] = field(default_factory=tuple)
    feed_tds_g_l: float | None = None        # dissolved solids of the feed [g/L], for the salt balance
    purge_tds_g_l: float | None = None
    energy_kwh: float = 0.0                  # electricity (MVR) and steam as kWh of the period

    def __post_init__(self) -> None:
        for name in ("feed_m3", "distillate_reused_m3", "purge_m3", "discharge_m3", "tank_start_m3",
                     "tank_end_m3", "vented_m3", "energy_kwh"):
            if getattr(self, name) < 0:
                raise ValidationFailed(f"{name} is negative", fix="enter the meter's reading for the period (≥ 0)")
        if self.feed_m3 <= 0:
            raise ValidationFailed("no feed in the period", fix="a ZLD balance needs the metered feed volume")


def balance(p: Period, tolerance_pct: float) -> dict[str, Any]:
    """Water and salt balance of one period, the water-recovery rate, specific energy and the zero-discharge verdict.

    Water: ``in = feed + tank_start − tank_end``; ``out = distillate + purge + Σ salt water + vented + discharge``;
    ``closure_pct = 100 × (in − out) / in``. Recovery rate = distillate reused / feed. Specific energy per m3
    evaporated (distillate + vented) and per m3 of feed. Salts (when the feed's dissolved solids are given):
    ``in = feed × TDS``; ``out = Σ dry salts + purge × TDS_purge``.
    """
    if tolerance_pct <= 0:
        raise ValidationFailed("the balance tolerance must be positive", fix="state it, e.g. 2 (%)")
    water_in = p.feed_m3 + p.tank_start_m3 - p.tank_end_m3
    salt_water = sum(s.water_m3 for s in p.salts)
    water_out = p.distillate_reused_m3 + p.purge_m3 + salt_water + p.vented_m3 + p.discharge_m3
    closure = 100.0 * (water_in - water_out) / water_in if water_in else float("nan")
    evaporated = p.distillate_reused_m3 + p.vented_m3
    closes = abs(closure) <= tolerance_pct
    reasons = []
    if p.discharge_m3 > 0:
        reasons.append(f"the discharge meter reads {p.discharge_m3:g} m3")
    if not closes:
        reasons.append(f"the water balance does not close: {closure:+.2f} % against ± {tolerance_pct:g} %")
    out: dict[str, Any] = {
        "water_in_m3": water_in, "water_out_m3": water_out, "salt_water_m3": salt_water,
        "closure_pct": closure, "closes": closes, "tolerance_pct": tolerance_pct,
        "recovery_pct": 100.0 * p.distillate_reused_m3 / p.feed_m3,
        "kwh_per_m3_evaporated": p.energy_kwh / evaporated if evaporated else None,
        "kwh_per_m3_feed": p.energy_kwh / p.feed_m3,
        "salts": [{"kind": s.kind, "wet_t": s.wet_t, "dry_t": s.dry_t, "moisture_pct": s.moisture_pct}
                  for s in p.salts],
        "zero_discharge": not reasons, "reasons": reasons,
    }
    if p.feed_tds_g_l is not None:
        salt_in = p.feed_m3 * p.feed_tds_g_l / 1000.0
        salt_out = sum(s.dry_t for s in p.salts) + p.purge_m3 * (p.purge_tds_g_l or 0.0) / 1000.0
        out.update({"salt_in_t": salt_in, "salt_out_t": salt_out,
                    "salt_closure_pct": 100.0 * (salt_in - salt_out) / salt_in if salt_in else None})
    return out
