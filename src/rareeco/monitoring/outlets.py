"""Compliance settings of an organisation: its outlets, their CEMS channels, permit limits and targets
(docs/compliance.md).

The settings are the organisation's own decisions — what its pollutant-discharge permit says — so they live in
``organisations.settings["compliance"]``, imported from a YAML file (``rareeco compliance settings import``).
No limit value ships in code: GB 26451-2011's air limits are U in REFERENCE.md §5, so its tables are offered as a
template (``reference/data/gb26451-template.yaml``) whose values the user fills in from the standard or permit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ledger.structure import get_org
from rareeco.monitoring.cems import Validity
from rareeco.monitoring.limits import Limit

#: HJ 212-2017 codes of the channels an outlet's conversions read (REFERENCE.md §6).
O2 = "a19001"
TEMPERATURE = "a01012"   # °C
PRESSURE = "a01013"      # kPa, absolute flue-gas pressure
MOISTURE = "a01014"      # %
FLOW_UNITS = {"m3/h": 1.0, "m3/s": 3600.0}
BASES = ("standard_dry", "actual_wet")
LIMIT_KINDS = ("permit", "target")


@dataclass(frozen=True)
class LimitSpec:
    """A limit with its kind: ``permit`` (the permit's limit; an exceedance is a violation) or ``target``
    (e.g. an ultra-low emission target; an exceedance is reported, not a violation)."""

    limit: Limit
    kind: str = "permit"


@dataclass(frozen=True)
class Pollutant:
    code: str                  # HJ 212 code, e.g. a21026
    name: str
    name_zh: str
    unit: str                  # of the concentration channel: mg/m3
    limits: tuple[LimitSpec, ...] = ()
    max_potential: float | None = None    # 40 CFR 75.33 tier below 80 % availability [mg/m3]


@dataclass(frozen=True)
class Outlet:
    """One monitored outlet (a stack) and the CEMS station (MN) that reports it."""

    code: str
    name: str
    name_zh: str
    mn: str
    site: str
    line: str | None
    pollutants: tuple[Pollutant, ...]
    interval_s: int = 60
    reference_o2_pct: float | None = None   # None: concentrations are not converted to a reference O2
    basis: str = "standard_dry"             # what the CEMS reports; actual_wet is converted (HJ 75 appendix)
    flow_code: str = "a00000"
    flow_unit: str = "m3/h"                 # of the flow channel (standard state, dry)
    substitution: bool = False              # 40 CFR 75.33 for missing hours in quantities

    def pollutant(self, code: str) -> Pollutant:
        for p in self.pollutants:
            if p.code == code:
                return p
        raise NotFoundError(f"outlet {self.code} has no pollutant {code}", fix="see rareeco compliance settings show")


@dataclass(frozen=True)
class Settings:
    outlets: tuple[Outlet, ...] = ()
    validity: Validity = field(default_factory=Validity)
    webhook_url: str | None = None
    webhook_secret_env: str | None = None   # the environment variable holding the HMAC secret

    def outlet(self, code: str) -> Outlet:
        for o in self.outlets:
            if o.code == code:
                return o
        raise NotFoundError(f"no outlet {code!r}", fix=f"use one of {', '.join(o.code for o in self.outlets)}"
                            if self.outlets else "import the compliance settings: rareeco compliance settings import")

    def by_mn(self) -> dict[str, Outlet]:
        return {o.mn: o for o in self.outlets}


def _need(d: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], fix: str) -> Any:
    v = d.get(key)
    if v is None or not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise ValidationFailed(f"{where}: {key} is missing or not a {getattr(kind, '__name__', kind)}", fix=fix)
    return v


def parse(raw: Any, source: str = "settings") -> Settings:
    """Compliance settings from their YAML/JSON form; every problem names its place (``outlets[1].pollutants[0]
    .limits[2].value``) and how to fix it."""
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{source}: expected a mapping with 'outlets'", fix="see docs/compliance.md")
    v = raw.get("validity") or {}
    try:
        validity = Validity(float(v.get("hour_min_valid_fraction", Validity.hour_min_valid_fraction)),
                            int(v.get("day_min_valid_hours", Validity.day_min_valid_hours)))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{source}: validity: {exc}", fix="give a fraction 0–1 and a number of hours") from None
    if not 0 < validity.hour_min_valid_fraction <= 1 or not 1 <= validity.day_min_valid_hours <= 24:
        raise ValidationFailed(f"{source}: validity out of range", fix="hour fraction in (0, 1], day hours 1–24")
    outlets = []
    seen: set[str] = set()
    for i, o in enumerate(raw.get("outlets") or []):
        at = f"{source}: outlets[{i}]"
        if not isinstance(o, dict):
            raise ValidationFailed(f"{at} is not a mapping", fix="give code, name, mn, site, pollutants")
        code = str(_need(o, "code", at, (str, int), "give the outlet's permit code, e.g. DA001"))
        at = f"{source}: outlet {code}"
        if code in seen:
            raise ValidationFailed(f"{at} appears twice", fix="one entry per outlet")
        seen.add(code)
        basis = o.get("basis", "standard_dry")
        if basis not in BASES:
            raise ValidationFailed(f"{at}: basis {basis!r}", fix=f"use one of {', '.join(BASES)}")
        flow = o.get("flow") or {}
        flow_unit = flow.get("unit", "m3/h")
        if flow_unit not in FLOW_UNITS:
            raise ValidationFailed(f"{at}: flow unit {flow_unit!r}", fix="use m3/h or m3/s (standard state, dry)")
        ref = o.get("reference_o2_pct")
        if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int | float) or not 0 <= ref < 21):
            raise ValidationFailed(f"{at}: reference_o2_pct {ref!r}", fix="give the permit's reference O2 in % "
                                   "(0–21), or leave it out when the standard sets none for this outlet")
        pollutants = []
        for j, p in enumerate(o.get("pollutants") or []):
            pat = f"{at}: pollutants[{j}]"
            pcode = str(_need(p, "code", pat, str, "give the HJ 212 code, e.g. a21026"))
            pat = f"{at}: pollutant {pcode}"
            limits = []
            for k, lim in enumerate(p.get("limits") or []):
                lat = f"{pat}: limits[{k}]"
                value = lim.get("value")
                if value is None:
                    raise ValidationFailed(f"{lat}: no value", fix="fill in the value from your permit or the "
                                           "standard's table (the template leaves it empty on purpose)")
                kind = lim.get("kind", "permit")
                if kind not in LIMIT_KINDS:
                    raise ValidationFailed(f"{lat}: kind {kind!r}", fix="use permit or target")
                period = str(lim.get("period", "h"))
                unit = str(lim.get("unit", "t" if period == "y" else p.get("unit", "mg/m3")))
                try:
                    limit = Limit(pcode, float(value), unit, period, str(lim.get("source", "")))
                except ValidationFailed as exc:   # before ValueError: ValidationFailed is one
                    raise ValidationFailed(f"{lat}: {exc.message}", fix=exc.fix) from None
                except (TypeError, ValueError):
                    raise ValidationFailed(f"{lat}: value {value!r} is not a number", fix="give a number") from None
                limits.append(LimitSpec(limit, kind))
            mp = p.get("max_potential")
            pollutants.append(Pollutant(pcode, str(p.get("name", pcode)), str(p.get("name_zh", p.get("name", pcode))),
                                        str(p.get("unit", "mg/m3")), tuple(limits),
                                        None if mp is None else float(mp)))
        if not pollutants:
            raise ValidationFailed(f"{at}: no pollutants", fix="list the pollutants its CEMS measures")
        interval = int(o.get("interval_s", 60))
        if interval <= 0 or 3600 % interval:
            raise ValidationFailed(f"{at}: interval_s {interval}", fix="a divisor of 3600, e.g. 60")
        outlets.append(Outlet(
            code=code, name=str(o.get("name", code)), name_zh=str(o.get("name_zh", o.get("name", code))),
            mn=str(_need(o, "mn", at, (str, int), "give the data logger's MN")),
            site=str(_need(o, "site", at, str, "give the site code")), line=o.get("line"),
            pollutants=tuple(pollutants), interval_s=interval, reference_o2_pct=None if ref is None else float(ref),
            basis=basis, flow_code=str(flow.get("code", "a00000")), flow_unit=flow_unit,
            substitution=bool(o.get("substitution", False))))
    hook = raw.get("webhook") or {}
    return Settings(tuple(outlets), validity, hook.get("url"), hook.get("secret_env"))


def load(session: Session, org_id: str) -> Settings:
    """The organisation's compliance settings (empty when none were imported)."""
    return parse((get_org(session, org_id).settings or {}).get("compliance") or {}, f"settings of {org_id}")


def save(session: Session, org_id: str, raw: dict[str, Any]) -> Settings:
    """Check and store the compliance settings (replacing the previous ones)."""
    parsed = parse(raw)
    org = get_org(session, org_id)
    org.settings = {**(org.settings or {}), "compliance": raw}
    return parsed
