"""The register of energy-saving measures on the ledger, their estimated and verified savings, and how much of the
organisation's EnPI change they explain (ISO 50001:2018 §6.2, §9.1; IPMVP options B and C).

A measure is a row of ``energy_measures`` (:class:`rareeco.ledger.models.Measure`): kind (``motors``, ``solar``,
``process``), site and line, in-service date, IPMVP option, the measure's meter (option B), investment [CNY] and
the kind's parameters (``spec``).  Energy prices are the organisation's configuration (REFERENCE.md: prices are
U, user-supplied — nothing here has a default price), kept in ``organisations.settings["energy"]["prices"]``.

Every function returns plain JSON-serialisable data (numbers, strings, lists, dicts; a missing number is None).

File format of :func:`add_file` (YAML or JSON)::

    prices:                       # optional; replaces the stored list
      - {carrier: electricity.grid, site: baotou, value: 0.52, unit: CNY/kWh, source: "2025 tariff"}
    measures:                     # or a single measure, or a list of measures
      - code: bt-pm-motors
        name: Permanent-magnet motors on the separation line
        kind: motors              # motors | solar | process
        site: baotou
        line: separation          # optional (option C and per-tonne savings need it)
        in_service: 2025-01-01
        ipmvp_option: C           # B (the measure's meter) | C (whole line or site)
        meter: BT-SEP-AGIT        # optional; option B reads it
        cost_cny: 2400000
        spec:
          motors:
            - {count: 240, rated_kw: 1.5, poles: 4, load_factor: 0.6, hours_per_yr: 7600,
               old_class: IE2, new_class: IE4}       # or old_efficiency_pct / new_efficiency_pct

``spec`` of ``solar``: ``kwp``, ``specific_yield_kwh_per_kwp`` (per year), ``self_consumed_share``; of
``process``: ``savings`` — a list of ``{carrier, amount, unit}`` per tonne (``Nm3/t``) or per year (``kWh``) — and
optionally ``production_t`` (otherwise the line's production from the ledger).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import pandas as pd
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

import rareeco
from rareeco.energy import enpi as enpi_mod
from rareeco.energy import measures as mm
from rareeco.energy.service import CDD, HDD
from rareeco.errors import ConflictError, Finding, NotFoundError, RareecoError, ValidationFailed
from rareeco.inventory import grid, sources
from rareeco.inventory.calculate import split_by_month
from rareeco.inventory.service import DEFAULT_METHOD, factor_table, load_records
from rareeco.ledger import audit
from rareeco.ledger.models import Line, Measure, Meter, Series, Site
from rareeco.ledger.structure import CODE, get_org, now
from rareeco.reference import Factor
from rareeco.reference.catalogue import activities
from rareeco.reference.motors import efficiency_table
from rareeco.reference.usersets import chosen_sets
from rareeco.units import UnitError, conversion_factor

KINDS = ("motors", "solar", "process")
OPTIONS = ("B", "C")
EXPORT = "electricity.export"
"""Price key of PV electricity fed into the grid (a feed-in price, not a carrier of the site's energy)."""
SETTINGS_KEY = "energy"
FIELDS = ("code", "name", "name_zh", "kind", "site", "line", "in_service", "ipmvp_option", "meter", "cost_cny",
          "spec", "note")
SOLAR_NOTE = ("self-consumed PV counts as consumed energy in the EnPI (rareeco.energy.enpi.CARRIERS): it lowers "
              "grid purchases and location-based scope 2, not the energy per tonne")


# ------------------------------------------------------------------------------------------ validation

class _Checker:
    """Collects every problem of a measure, each naming its field and how to fix it."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.findings: list[Finding] = []

    def bad(self, field: str, message: str, fix: str, value: Any = None) -> None:
        self.findings.append(Finding("measure_invalid", f"{self.where}: {message}", column=field,
                                     value=None if value is None else str(value), fix=fix))

    def number(self, d: dict[str, Any], key: str, path: str, lo: float, hi: float, fix: str,
               required: bool = True, lo_open: bool = False) -> float | None:
        v = d.get(key)
        if v is None:
            if required:
                self.bad(f"{path}{key}", "missing", fix)
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            self.bad(f"{path}{key}", f"{v!r} is not a number", fix, v)
            return None
        x = float(v)
        if x < lo or x > hi or (lo_open and x == lo):
            self.bad(f"{path}{key}", f"{x:g} is out of range ({'>' if lo_open else '≥'} {lo:g}, ≤ {hi:g})", fix, v)
            return None
        return x

    def raise_if_any(self) -> None:
        if self.findings:
            raise ValidationFailed(f"{len(self.findings)} problem(s) in {self.where}",
                                   fix="correct the fields listed and add the measure again", findings=self.findings)


def _check_motors(c: _Checker, spec: dict[str, Any]) -> dict[str, Any]:
    groups = spec.get("motors")
    if not isinstance(groups, list) or not groups:
        c.bad("spec.motors", "no motor groups", "list the groups replaced: count, rated_kw, poles, load_factor, "
              "hours_per_yr, old_class or old_efficiency_pct, new_class or new_efficiency_pct")
        return spec
    out = []
    for i, g in enumerate(groups):
        p = f"spec.motors[{i}]."
        if not isinstance(g, dict):
            c.bad(p[:-1], "is not a mapping", "write each group as {count: …, rated_kw: …, …}", g)
            continue
        count = g.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            c.bad(f"{p}count", f"{count!r} is not a whole number ≥ 1", "give the number of motors replaced", count)
        kw = c.number(g, "rated_kw", p, 0.0, 100_000.0, "give the rated output power in kW, e.g. 55", lo_open=True)
        c.number(g, "load_factor", p, 0.0, 1.0, "give the mean shaft load / rated power, e.g. 0.6", lo_open=True)
        c.number(g, "hours_per_yr", p, 0.0, 8784.0, "give the operating hours per year, e.g. 7600", lo_open=True)
        poles = g.get("poles")
        if poles is not None and poles not in mm.POLES:
            c.bad(f"{p}poles", f"{poles!r} is not 2, 4, 6 or 8", "give the pole count (a 1500 rpm motor has 4)", poles)
        etas: dict[str, float] = {}
        for side in ("old", "new"):
            cls, pct = g.get(f"{side}_class"), g.get(f"{side}_efficiency_pct")
            if (cls is None) == (pct is None):
                c.bad(f"{p}{side}_class", f"give either {side}_class or {side}_efficiency_pct",
                      f"an IE class ({', '.join(mm.IE_CLASSES)}) with poles, or the nameplate efficiency in %")
                continue
            if pct is not None:
                v = c.number(g, f"{side}_efficiency_pct", p, 0.0, 100.0, "give the nameplate efficiency in %, e.g. "
                             "91.4", lo_open=True)
                if v is not None:
                    etas[side] = v
                continue
            if poles is None:
                c.bad(f"{p}poles", "missing", "an IE class needs the pole count (2, 4, 6 or 8)")
                continue
            if kw is None:
                continue
            try:
                etas[side] = mm.ie_efficiency_pct(str(cls), int(poles), kw)
            except ValidationFailed as e:
                c.bad(f"{p}{side}_class", e.message, e.fix or "", cls)
        if len(etas) == 2 and etas["new"] <= etas["old"]:
            c.bad(f"{p}new_class", f"the new motor ({etas['new']:g} %) is not more efficient than the old "
                  f"({etas['old']:g} %)", "check the classes or efficiencies")
        out.append({k: v for k, v in g.items() if v is not None})
    return {**spec, "motors": out}


def _check_solar(c: _Checker, spec: dict[str, Any]) -> dict[str, Any]:
    c.number(spec, "kwp", "spec.", 0.0, 10_000_000.0, "give the peak power of the plant in kWp", lo_open=True)
    c.number(spec, "specific_yield_kwh_per_kwp", "spec.", 0.0, 3_000.0,
             "give the expected yearly yield in kWh per kWp (e.g. 1580 in Inner Mongolia)", lo_open=True)
    c.number(spec, "self_consumed_share", "spec.", 0.0, 1.0,
             "give the share of the generation used on site, e.g. 0.93")
    return spec


def _check_process(c: _Checker, spec: dict[str, Any], has_line: bool) -> dict[str, Any]:
    items = spec.get("savings")
    cat = activities()
    if not isinstance(items, list) or not items:
        c.bad("spec.savings", "no savings", "list {carrier, amount, unit}, e.g. {carrier: fuel.natural_gas, "
              "amount: 35, unit: Nm3/t}")
        return spec
    for i, it in enumerate(items):
        p = f"spec.savings[{i}]."
        if not isinstance(it, dict):
            c.bad(p[:-1], "is not a mapping", "write {carrier: …, amount: …, unit: …}", it)
            continue
        carrier = it.get("carrier")
        if carrier not in enpi_mod.CARRIERS:
            c.bad(f"{p}carrier", f"{carrier!r} is not an energy carrier with a coal-equivalent coefficient",
                  f"use one of {', '.join(enpi_mod.CARRIERS)}", carrier)
            continue
        c.number(it, "amount", p, 0.0, 1e12, "give the amount saved (per tonne or per year)", lo_open=True)
        canon, unit = cat[carrier].unit, str(it.get("unit", ""))
        saving = mm.CarrierSaving(carrier, 0.0, unit)
        try:
            per_t = saving.per_tonne(canon)
            conversion_factor(unit, f"{canon}/t" if per_t else canon)
        except UnitError:
            c.bad(f"{p}unit", f"{unit!r} is neither an amount of {carrier} nor one per tonne",
                  f"write e.g. {'kWh' if canon == 'MWh' else canon} or {'kWh' if canon == 'MWh' else canon}/t", unit)
            continue
        if per_t and not has_line and spec.get("production_t") is None:
            c.bad(f"{p}unit", "a saving per tonne needs a production", "give the measure a line, or production_t in "
                  "its spec, or write the saving per year")
    if spec.get("production_t") is not None:
        c.number(spec, "production_t", "spec.", 0.0, 1e9, "give the yearly production in t", lo_open=True)
    return spec


def _as_date(v: Any) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        return None


def _validate(session: Session, org_id: str, d: dict[str, Any]) -> dict[str, Any]:
    """A checked measure ready to store (site, line and meter resolved to rows); ValidationFailed lists every
    problem."""
    code = str(d.get("code") or "")
    c = _Checker(f"measure {code!r}" if code else "measure")
    unknown = sorted(set(d) - set(FIELDS))
    if unknown:
        c.bad(unknown[0], "unknown field", f"the fields are {', '.join(FIELDS)}")
    if not CODE.match(code):
        c.bad("code", f"{code!r} is not a valid id", "use lower case letters, digits, '-' or '_' (e.g. bt-pm-motors)")
    if not str(d.get("name") or "").strip():
        c.bad("name", "missing", "give the measure a name")
    kind = d.get("kind")
    if kind not in KINDS:
        c.bad("kind", f"{kind!r} is not a kind of measure", f"use one of {', '.join(KINDS)}", kind)
    site = line = meter = None
    site_code = d.get("site")
    if not site_code:
        c.bad("site", "missing", "give the site code (rareeco site list ORG)")
    else:
        site = session.execute(select(Site).where(Site.org_id == org_id, Site.code == str(site_code))
                               ).scalar_one_or_none()
        if site is None:
            c.bad("site", f"no site {site_code!r} in {org_id!r}", "give a site of rareeco site list ORG", site_code)
    if d.get("line") and site is not None:
        line = session.execute(select(Line).where(Line.site_id == site.id, Line.code == str(d["line"]))
                               ).scalar_one_or_none()
        if line is None:
            c.bad("line", f"no line {d['line']!r} at site {site_code!r}", "give a line of the site (rareeco line list)",
                  d["line"])
    in_service = _as_date(d.get("in_service"))
    if in_service is None:
        c.bad("in_service", f"{d.get('in_service')!r} is not a date", "write the in-service date as YYYY-MM-DD",
              d.get("in_service"))
    option = str(d.get("ipmvp_option") or "").upper()
    if option not in OPTIONS:
        c.bad("ipmvp_option", f"{d.get('ipmvp_option')!r} is not B or C",
              "B: verified on the measure's own meter; C: on the whole line (or site) from its baseline")
    elif kind == "solar" and option != "B":
        c.bad("ipmvp_option", "a solar plant is verified on its own meter (B)", "set ipmvp_option: B — " + SOLAR_NOTE)
    if d.get("meter"):
        meter = session.execute(select(Meter).where(Meter.org_id == org_id, Meter.code == str(d["meter"]))
                                ).scalar_one_or_none()
        if meter is None:
            c.bad("meter", f"no meter {d['meter']!r} in {org_id!r}", "register it with rareeco meter add", d["meter"])
        elif site is not None and meter.site_id != site.id:
            c.bad("meter", f"meter {d['meter']!r} is not at site {site_code!r}", "give a meter of the measure's site")
        elif kind in ("motors", "solar") and not meter.carrier.startswith("electricity."):
            c.bad("meter", f"meter {d['meter']!r} measures {meter.carrier}", "a motor or PV meter measures electricity")
    c.number(d, "cost_cny", "", 0.0, 1e13, "give the investment in CNY (0 when none)")
    spec = d.get("spec")
    if not isinstance(spec, dict):
        c.bad("spec", "missing or not a mapping", "give the kind's parameters (see docs/energy-measures.md)")
        spec = {}
    elif kind == "motors":
        spec = _check_motors(c, spec)
    elif kind == "solar":
        spec = _check_solar(c, spec)
    elif kind == "process":
        spec = _check_process(c, spec, line is not None)
    c.raise_if_any()
    assert site is not None and in_service is not None
    return {"code": code, "name": str(d["name"]).strip(), "name_zh": str(d.get("name_zh") or ""), "kind": kind,
            "site_id": site.id, "line_id": line.id if line else None, "in_service": in_service,
            "ipmvp_option": option, "meter_id": meter.id if meter else None, "cost_cny": float(d["cost_cny"]),
            "spec": spec, "note": str(d.get("note") or "")}


# --------------------------------------------------------------------------------------------- register

def _maps(session: Session, org_id: str) -> tuple[dict[int, Site], dict[int, Line], dict[int, Meter]]:
    sites = {s.id: s for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    lines = {ln.id: ln for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    meters = {m.id: m for m in session.execute(select(Meter).where(Meter.org_id == org_id)).scalars()}
    return sites, lines, meters


def _as_dict(m: Measure, sites: dict[int, Site], lines: dict[int, Line], meters: dict[int, Meter]) -> dict[str, Any]:
    return {"code": m.code, "name": m.name, "name_zh": m.name_zh, "kind": m.kind, "site": sites[m.site_id].code,
            "line": lines[m.line_id].code if m.line_id else None, "in_service": m.in_service.isoformat(),
            "ipmvp_option": m.ipmvp_option, "meter": meters[m.meter_id].code if m.meter_id else None,
            "cost_cny": m.cost_cny, "spec": m.spec, "note": m.note}


def _rows(session: Session, org_id: str) -> list[Measure]:
    return list(session.execute(select(Measure).where(Measure.org_id == org_id)
                                .order_by(Measure.in_service, Measure.code)).scalars())


def measures(session: Session, org_id: str) -> list[dict[str, Any]]:
    """The organisation's measures, by in-service date: ``code``, ``name``, ``name_zh``, ``kind``, ``site``,
    ``line``, ``in_service`` (ISO date), ``ipmvp_option``, ``meter``, ``cost_cny``, ``spec``, ``note``."""
    get_org(session, org_id)
    maps = _maps(session, org_id)
    return [_as_dict(m, *maps) for m in _rows(session, org_id)]


def get(session: Session, org_id: str, code: str) -> dict[str, Any]:
    """One measure (the fields of :func:`measures`)."""
    get_org(session, org_id)
    m = session.execute(select(Measure).where(Measure.org_id == org_id, Measure.code == code)).scalar_one_or_none()
    if m is None:
        raise NotFoundError(f"no measure {code!r} in {org_id!r}", fix=f"list them with: rareeco energy measure list "
                                                                    f"--org {org_id}")
    return _as_dict(m, *_maps(session, org_id))


def add(session: Session, org_id: str, data: dict[str, Any], actor: str = "cli",
        replace: bool = False) -> tuple[str, dict[str, Any]]:
    """Register one measure (``replace``: update the measure of the same code).

    Returns
    -------
    (status, measure)
        ``status`` is ``added``, ``updated`` or ``unchanged``; ``measure`` as :func:`get` returns it.
    """
    get_org(session, org_id)
    v = _validate(session, org_id, data)
    m = session.execute(select(Measure).where(Measure.org_id == org_id, Measure.code == v["code"])).scalar_one_or_none()
    if m is not None and not replace:
        raise ConflictError(f"measure {v['code']!r} already exists in {org_id!r}",
                            fix="choose another code, or pass --replace to update it")
    if m is None:
        m = Measure(org_id=org_id, **v)
        session.add(m)
        status = "added"
    else:
        before = {k: getattr(m, k) for k in v}
        if before == v:
            return "unchanged", get(session, org_id, v["code"])
        for k, value in v.items():
            setattr(m, k, value)
        status = "updated"
    session.flush()
    audit.append(session, actor, f"measure.{'add' if status == 'added' else 'update'}", f"{org_id}/{v['code']}",
                 org_id, {k: (value.isoformat() if isinstance(value, date) else value) for k, value in v.items()})
    return status, get(session, org_id, v["code"])


def parse_file(text: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Measures and prices of a YAML or JSON file (one measure, a list, or ``{prices: …, measures: […]}``)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValidationFailed(f"the file is not YAML or JSON: {str(e).splitlines()[0]}",
                               fix="check the indentation and quoting") from e
    prices = None
    if isinstance(raw, dict) and ("measures" in raw or "prices" in raw):
        prices = raw.get("prices")
        raw = raw.get("measures") or []
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(i, dict) for i in items):
        raise ValidationFailed("every measure must be a mapping of fields", fix=f"the fields are {', '.join(FIELDS)}")
    if prices is not None and not isinstance(prices, list):
        raise ValidationFailed("prices must be a list", fix="write prices: [{carrier: …, value: …, unit: …}]")
    return items, prices


def add_file(session: Session, org_id: str, text: str, actor: str = "cli", replace: bool = False) -> dict[str, Any]:
    """Register the measures of a file and store its prices (when it has a ``prices`` list).

    Every measure is checked before any is stored: one bad measure stores nothing.

    Returns
    -------
    dict
        ``added``, ``updated``, ``unchanged`` (lists of codes) and ``prices`` (the number stored, or None).
    """
    items, prices = parse_file(text)
    findings: list[Finding] = []
    codes = [str(i.get("code")) for i in items]
    for i in items:
        try:
            _validate(session, org_id, i)
        except ValidationFailed as e:
            findings += e.findings
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        findings.append(Finding("measure_invalid", f"measure {dup[0]!r} is in the file twice", column="code",
                                fix="give every measure its own code"))
    if findings:
        raise ValidationFailed(f"{len(findings)} problem(s) in the measures file", fix="correct the fields listed",
                               findings=findings)
    out: dict[str, Any] = {"added": [], "updated": [], "unchanged": [], "prices": None}
    if prices is not None:
        out["prices"] = len(set_prices(session, org_id, prices, actor))
    for i in items:
        status, m = add(session, org_id, i, actor, replace)
        out[status].append(m["code"])
    return out


# ------------------------------------------------------------------------------------------------- prices

def _price_per_canonical(p: dict[str, Any]) -> float:
    canon = "MWh" if p["carrier"] == EXPORT else activities()[p["carrier"]].unit
    return float(p["value"]) * conversion_factor(str(p["unit"]), f"CNY/{canon}")


def set_prices(session: Session, org_id: str, prices: list[dict[str, Any]], actor: str = "cli") -> list[dict[str, Any]]:
    """Store the organisation's energy prices (replacing the list): each ``{carrier, value, unit, site?, source?}``;
    ``carrier`` an energy carrier of the EnPI or ``electricity.export`` (the feed-in price of exported PV);
    ``unit`` CNY per an amount of the carrier (``CNY/kWh``, ``CNY/Nm3``); ``site`` limits it to one site."""
    org = get_org(session, org_id)
    c = _Checker("prices")
    sites = {s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    out = []
    for i, p in enumerate(prices):
        path = f"prices[{i}]."
        if not isinstance(p, dict):
            c.bad(path[:-1], "is not a mapping", "write {carrier: …, value: …, unit: …}")
            continue
        carrier = p.get("carrier")
        if carrier != EXPORT and carrier not in enpi_mod.CARRIERS:
            c.bad(f"{path}carrier", f"{carrier!r} has no price here",
                  f"use one of {', '.join([*enpi_mod.CARRIERS, EXPORT])}", carrier)
            continue
        if p.get("site") is not None and p["site"] not in sites:
            c.bad(f"{path}site", f"no site {p['site']!r}", "give a site code or leave site out (every site)",
                  p["site"])
        value = c.number(p, "value", path, 0.0, 1e9, "give the price as a number, e.g. 0.52")
        try:
            if value is not None:
                _price_per_canonical(p)
        except UnitError:
            c.bad(f"{path}unit", f"{p.get('unit')!r} is not CNY per an amount of {carrier}",
                  "write e.g. CNY/kWh or CNY/Nm3", p.get("unit"))
            continue
        out.append({"carrier": carrier, "site": p.get("site"), "value": value, "unit": str(p["unit"]),
                    "source": str(p.get("source") or "user configuration"), "tag": "U"})
    c.raise_if_any()
    energy = dict((org.settings or {}).get(SETTINGS_KEY) or {})
    if energy.get("prices") == out:
        return out
    org.settings = {**(org.settings or {}), SETTINGS_KEY: {**energy, "prices": out}}   # a new dict: JSON change seen
    audit.append(session, actor, "energy.prices", org_id, org_id, {"prices": out})
    return out


def prices(session: Session, org_id: str) -> list[dict[str, Any]]:
    """The stored energy prices (tag U: user configuration; none by default)."""
    org = get_org(session, org_id)
    return list(((org.settings or {}).get(SETTINGS_KEY) or {}).get("prices") or [])


def _price_map(stored: list[dict[str, Any]], site: str) -> dict[str, float]:
    """CNY per canonical unit of each carrier at ``site`` (a site's own price before the organisation's)."""
    out: dict[str, float] = {}
    for p in sorted(stored, key=lambda p: p.get("site") is not None):   # org-wide first, the site's overrides
        if p.get("site") in (None, site):
            out[p["carrier"]] = _price_per_canonical(p)
    return out


# -------------------------------------------------------------------------------------------- savings

def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class _Context:
    """What the savings of one year read once: the ledger's frames, factors, prices."""

    def __init__(self, session: Session, org_id: str, year: int, convention: str, method: str) -> None:
        self.session, self.org_id, self.year, self.convention, self.method = session, org_id, year, convention, method
        self.sites, self.lines, self.meters = _maps(session, org_id)
        self.line_keys = {i: f"{self.sites[ln.site_id].code} / {ln.code}" for i, ln in self.lines.items()}
        self.table = factor_table(session, org_id, chosen_sets(session, org_id, year))
        self.coef = enpi_mod.coefficients(self.table, convention)
        self.kgce = {a: c[0] for a, c in self.coef.items()}
        self.stored_prices = prices(session, org_id)
        self.factors: dict[str, Factor] = {f.factor_id: f for _, f in self.coef.values()}
        self.notes: list[str] = []
        self._records: dict[int, pd.DataFrame] = {}
        self._frames: dict[int, pd.DataFrame] = {}
        self._co2: dict[int, dict[str, float]] = {}

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def records(self, y: int) -> pd.DataFrame:
        if y not in self._records:
            self._records[y] = load_records(self.session, self.org_id, date(y, 1, 1), date(y, 12, 31))
        return self._records[y]

    def frame(self, y: int) -> pd.DataFrame:
        """The EnPI's monthly frame of year ``y`` (``line``, ``month``, ``kgce``, ``production_t`` …)."""
        if y not in self._frames:
            table = self.table if y == self.year else factor_table(self.session, self.org_id,
                                                                   chosen_sets(self.session, self.org_id, y))
            self._frames[y] = enpi_mod.monthly(self.records(y), y, table, self.line_keys, self.convention)
        return self._frames[y]

    def co2(self, site_id: int) -> dict[str, float]:
        """t CO2 per canonical unit of each carrier at a site: grid electricity by the location-based factor the
        inventory uses (province → region → national, latest year), fuels by the inventory's method."""
        if site_id not in self._co2:
            s = self.sites[site_id]
            choice = grid.location_factor(self.table, s.province, s.grid_region, self.year)
            self.factors[choice.factor.factor_id] = choice.factor
            if choice.note:
                self.note(f"{s.code}: {choice.note}")
            out = {"electricity.grid": choice.factor.value * conversion_factor(choice.factor.unit, "t CO2/MWh")}
            cat = activities()
            for a in enpi_mod.CARRIERS:
                if a.startswith("fuel."):
                    c = sources.coefficients(cat[a], self.method, self.table)
                    co2 = [i for i in c.items if i.gas == "CO2"]
                    if co2:
                        out[a] = sum(i.t_per_unit for i in co2)
                        for i in co2:
                            self.factors.update({f.factor_id: f for f in i.factors})
            self._co2[site_id] = out
        return self._co2[site_id]

    def scope_frame(self, y: int, line_id: int | None, site_id: int) -> pd.DataFrame:
        """Monthly ``kgce`` and ``production_t`` of a line (or of all lines of a site), indexed by month 1–12, with
        the site's heating and cooling degree-days when its daily temperatures are stored (rareeco.energy.climate)."""
        from rareeco.energy.climate import daily_temperatures
        from rareeco.energy.service import degree_day_months  # noqa: PLC0415

        f = self.frame(y)
        if line_id is not None:
            f = f[f["line"] == self.line_keys[line_id]]
        else:
            f = f[f["line"].str.startswith(f"{self.sites[site_id].code} / ")]
        out = f.groupby("month")[["kgce", "production_t"]].sum().sort_index()
        temps = daily_temperatures(self.session, self.org_id, self.sites[site_id].code, date(y, 1, 1),
                                   date(y + 1, 1, 1))
        if temps is not None:
            dd = degree_day_months(temps)
            out = out.join(dd.set_axis([p.month for p in dd.index]))
        return out


def _carriers_out(amounts: dict[str, float]) -> dict[str, float]:
    """Carrier amounts for output: electricity in kWh, the rest in their canonical unit."""
    cat = activities()
    return {a: v * conversion_factor(cat[a].unit, "kWh") if cat[a].unit == "MWh" else v for a, v in amounts.items()}


def _value(ctx: _Context, amounts: dict[str, float], site_id: int, in_enpi: bool) -> dict[str, Any]:
    """kWh, carriers, kgce (GB/T 2589, the EnPI's convention), t CO2, CNY of carrier amounts saved at a site."""
    site = ctx.sites[site_id].code
    notes = []
    kgce = mm.weighted(amounts, ctx.kgce)   # GB/T 2589-2020 coefficients, convention named in the result
    try:
        t_co2: float | None = mm.weighted(amounts, ctx.co2(site_id))   # inventory factors (location-based grid)
    except KeyError as e:
        t_co2 = None
        notes.append(f"no CO2 factor for {e.args[0]}")
    price = _price_map(ctx.stored_prices, site)
    missing = sorted(a for a in amounts if a not in price)
    cost = None if missing else mm.weighted(amounts, price)
    if missing:
        notes.append(f"no price for {', '.join(missing)} at {site}: add prices (rareeco energy measure add FILE "
                     "with a prices list)")
    return {"electricity_kwh": sum(v for a, v in _carriers_out(amounts).items() if a.startswith("electricity.")),
            "carriers": _carriers_out(amounts), "kgce": kgce, "kgce_enpi": kgce if in_enpi else 0.0,
            "t_co2": t_co2, "cost_saved_cny": cost, "notes": notes}


def _production_after(ctx: _Context, m: Measure, year: int) -> float | None:
    """The line's production [t] in the months of ``year`` from the in-service date on (pro rata for the month it
    starts in)."""
    if m.line_id is None:
        return None
    f = ctx.scope_frame(year, m.line_id, m.site_id)["production_t"]
    total = 0.0
    for month, t in zip(f.index.astype(int), f.to_numpy(dtype=float), strict=True):
        first = date(year, month, 1)
        last = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        days = (last - first).days
        share = min(max((last - max(m.in_service, first)).days / days, 0.0), 1.0)
        total += float(t) * share
    return total


def _estimate(ctx: _Context, m: Measure) -> dict[str, Any]:
    """Estimated savings of a measure: per year in full service (``annual``) and in the reporting year (``year``)."""
    share = mm.in_service_share(m.in_service, ctx.year)
    spec, cat = m.spec, activities()
    extra: dict[str, Any] = {}
    in_enpi = m.kind != "solar"
    if m.kind == "motors":
        groups = [mm.MotorGroup(int(g["count"]), float(g["rated_kw"]), g.get("poles"), float(g["load_factor"]),
                                float(g["hours_per_yr"]), g.get("old_class"), g.get("old_efficiency_pct"),
                                g.get("new_class"), g.get("new_efficiency_pct"), str(g.get("label", "")))
                  for g in spec["motors"]]
        rows, used = mm.motors_estimate(groups, efficiency_table())
        ctx.factors.update({f.factor_id: f for f in used})
        kwh = sum(r["kwh_saved"] for r in rows)
        annual = {"electricity.grid": kwh * conversion_factor("kWh", "MWh")}
        year_amounts = {a: v * share for a, v in annual.items()}
        extra["motors"] = rows
        extra["motor_count"] = sum(r["count"] for r in rows)
    elif m.kind == "solar":
        gen = mm.solar_generation_kwh(float(spec["kwp"]), float(spec["specific_yield_kwh_per_kwp"]))
        split = mm.solar_split(gen, float(spec["self_consumed_share"]))
        annual = {"electricity.grid": split["self_consumed_kwh"] * conversion_factor("kWh", "MWh")}
        year_amounts = {a: v * share for a, v in annual.items()}
        extra["solar"] = {"annual": split, "year": {k: v * share for k, v in split.items()}}
    else:
        items = [mm.CarrierSaving(str(i["carrier"]), float(i["amount"]), str(i["unit"])) for i in spec["savings"]]
        units = {a: cat[a].unit for a in enpi_mod.CARRIERS}
        full: float | None
        after: float | None
        if spec.get("production_t") is not None:
            full, after = float(spec["production_t"]), float(spec["production_t"]) * share
            basis = f"{full:,.0f} t per year (spec)"
        else:
            full = float(ctx.scope_frame(ctx.year, m.line_id, m.site_id)["production_t"].sum()) if m.line_id else None
            after = _production_after(ctx, m, ctx.year)
            basis = f"the line's production in {ctx.year}: {full:,.1f} t" if full is not None else ""
        annual = mm.process_amounts(items, units, full)
        year_amounts = mm.process_amounts(items, units, after)
        extra["production_basis"] = basis
    a_val, y_val = _value(ctx, annual, m.site_id, in_enpi), _value(ctx, year_amounts, m.site_id, in_enpi)
    if m.kind == "solar":
        export = _price_map(ctx.stored_prices, ctx.sites[m.site_id].code).get(EXPORT)
        for val, split in ((a_val, extra["solar"]["annual"]), (y_val, extra["solar"]["year"])):
            val["generation_kwh"], val["exported_kwh"] = split["generation_kwh"], split["exported_kwh"]
            val["export_revenue_cny"] = (export * split["exported_kwh"] * conversion_factor("kWh", "MWh")
                                         if export is not None else None)
            if val["cost_saved_cny"] is not None and val["export_revenue_cny"] is not None:
                val["cost_saved_cny"] += val["export_revenue_cny"]
    a_val["payback_years"] = mm.simple_payback_years(m.cost_cny, a_val["cost_saved_cny"])
    return {"annual": a_val, "year": y_val, "share_of_year": share, **extra}


def _meter_months(ctx: _Context, meter: Meter, years: tuple[int, int]) -> pd.Series:
    """Monthly totals of a meter's series over ``years`` (first, last) [canonical unit of its carrier], indexed by
    (year, month)."""
    from rareeco.timeseries.store import rollup

    if meter.series_id is None:
        raise ValidationFailed(f"meter {meter.code!r} has no time series", fix="re-register the meter so it gets one")
    series = ctx.session.get(Series, meter.series_id)
    r = rollup(ctx.session, [meter.series_id], "m", datetime(years[0], 1, 1), datetime(years[1] + 1, 1, 1))
    if r.empty:
        raise ValidationFailed(f"meter {meter.code!r} has no readings in {years[0]}–{years[1]}",
                               fix="import the meter's interval data (baseline year and reporting year)")
    factor = conversion_factor(series.unit if series is not None else meter.unit, activities()[meter.carrier].unit)
    idx = pd.MultiIndex.from_arrays([r["start"].dt.year, r["start"].dt.month], names=["year", "month"])
    return pd.Series(r["total"].to_numpy() * factor, index=idx)


def _annual_payback(m: Measure, cost_saved_cny: float | None, months: int) -> float | None:
    """Simple payback [a] on the verified savings, annualised from the months verified (12 / months)."""
    if cost_saved_cny is None or not months:
        return None
    return mm.simple_payback_years(m.cost_cny, cost_saved_cny * 12 / months)


def _unavailable(reason: str, fix: str | None) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason, "fix": fix}


def _verify_b(ctx: _Context, m: Measure) -> dict[str, Any]:
    """Option B: the measure's own meter (a PV plant: the ledger's metered self-consumption and its generation
    meter)."""
    months = mm.months_in_service(m.in_service, ctx.year)
    if not months:
        return _unavailable(f"in service from {m.in_service.isoformat()}: no full month in {ctx.year}", None)
    meter = ctx.meters.get(m.meter_id) if m.meter_id else None
    if m.kind == "solar":
        rec = ctx.records(ctx.year)
        rec = rec[(rec["activity"] == "electricity.onsite_solar") & (rec["site_id"] == m.site_id)]
        pieces = split_by_month(rec, ctx.year) if len(rec) else rec.assign(month=[])
        self_mwh = float(pieces[pieces["month"].isin(months)]["amount"].sum())
        if self_mwh <= 0:
            return _unavailable(f"no self-consumed PV (electricity.onsite_solar) recorded at "
                                f"{ctx.sites[m.site_id].code} in {ctx.year}",
                                "import the PV meter's monthly self-consumption as electricity.onsite_solar")
        solar_at_site = [x for x in _rows(ctx.session, ctx.org_id) if x.kind == "solar" and x.site_id == m.site_id]
        if len(solar_at_site) > 1:
            return _unavailable("more than one solar measure at the site share the site's PV records",
                                "register one solar measure per site, or one per PV meter")
        val = _value(ctx, {"electricity.grid": self_mwh}, m.site_id, in_enpi=False)
        gen = None
        if meter is not None:
            try:
                g = _meter_months(ctx, meter, (ctx.year, ctx.year))
                gen = float(g[g.index.get_level_values("month").isin(months)].sum()) * conversion_factor(
                    activities()[meter.carrier].unit, "kWh")
            except ValidationFailed as e:
                val["notes"].append(e.line())
        val["generation_kwh"] = gen
        val["exported_kwh"] = max(gen - val["electricity_kwh"], 0.0) if gen is not None else None
        if gen is None:
            val["notes"].append("no generation meter readings: the exported part is not known")
        val["notes"].append("metered self-consumption: the ledger's electricity.onsite_solar records of the site; "
                            "the baseline is zero (no PV before)")
        val["payback_years"] = _annual_payback(m, val["cost_saved_cny"], len(months))
        return {"status": "verified", "option": "B", "method": "self-consumption", "months": len(months), **val}
    if meter is None:
        return _unavailable("option B needs the measure's own meter and none is linked",
                            "register the meter (rareeco meter add …) and give its code as meter: in the measure file")
    base_year = m.in_service.year - 1
    try:
        series = _meter_months(ctx, meter, (base_year, ctx.year))
    except RareecoError as e:
        return _unavailable(e.message, e.fix)
    base = pd.DataFrame({"energy": series.xs(base_year, level="year")}) if base_year in series.index.get_level_values(
        "year") else pd.DataFrame({"energy": pd.Series(dtype=float)})
    rep_all = series.xs(ctx.year, level="year") if ctx.year in series.index.get_level_values("year") else pd.Series(
        dtype=float)
    rep = pd.DataFrame({"energy": rep_all[rep_all.index.isin(months)]})
    driver = None
    if m.line_id is not None:
        driver = "production_t"
        base[driver] = ctx.scope_frame(base_year, m.line_id, m.site_id)["production_t"].reindex(base.index)
        rep[driver] = ctx.scope_frame(ctx.year, m.line_id, m.site_id)["production_t"].reindex(rep.index)
    try:
        v = mm.option_b(base, rep, "energy", driver)
    except ValidationFailed as e:
        return _unavailable(f"meter {meter.code!r}: {e.message}", e.fix)
    amounts = {meter.carrier if meter.carrier in enpi_mod.CARRIERS else "electricity.grid": v.total}
    val = _value(ctx, amounts, m.site_id, in_enpi=True)
    val["notes"] += v.notes
    val["payback_years"] = _annual_payback(m, val["cost_saved_cny"], v.months)
    canon = activities()[meter.carrier].unit
    return {"status": "verified", "option": "B", "method": v.method, "meter": meter.code, "baseline_year": base_year,
            "months": v.months, "fraction": _num(v.fraction),
            "uncertainty_kgce": {str(k): _num(u * ctx.kgce.get(meter.carrier, 0.0)) for k, u in v.uncertainty.items()},
            "adjusted_baseline": _num(v.adjusted_baseline), "actual": _num(v.actual), "unit": canon, **val}


def _verify_c_groups(ctx: _Context, rows: list[Measure]) -> list[dict[str, Any]]:
    """Option C, once per facility (line, or site without a line) and baseline year: the savings of every option C
    measure there together."""
    groups: dict[tuple[int | None, int, int], list[Measure]] = {}
    for m in rows:
        if m.ipmvp_option == "C" and m.in_service.year <= ctx.year:
            groups.setdefault((m.line_id, m.site_id, m.in_service.year - 1), []).append(m)
    out = []
    for (line_id, site_id, base_year), ms in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0] or 0, g[0][2])):
        scope = ctx.line_keys[line_id] if line_id is not None else f"{ctx.sites[site_id].code} (all lines)"
        first = min(x.in_service for x in ms)
        months = mm.months_in_service(first, ctx.year)
        inside = [x.code for x in rows if x.ipmvp_option != "C" and x.kind != "solar" and x.line_id == line_id
                  and x.site_id == site_id and x.in_service.year <= ctx.year]
        g: dict[str, Any] = {"option": "C", "scope": scope, "baseline_year": base_year, "year": ctx.year,
                             "measures": [x.code for x in ms], "includes": inside, "months": len(months)}
        try:
            base = ctx.scope_frame(base_year, line_id, site_id)
            rep = ctx.scope_frame(ctx.year, line_id, site_id)
            rep = rep[rep.index.isin(months)]
            if base.empty:
                raise ValidationFailed(f"no energy or production of {scope} in {base_year}",
                                       fix="import the baseline year's monthly energy and production")
            if rep.empty:
                raise ValidationFailed(f"no energy or production of {scope} in {ctx.year} after "
                                       f"{first.isoformat()}", fix="import the reporting year's data")
            v = mm.option_c(base, rep, "kgce", ["production_t", HDD, CDD])
        except ValidationFailed as e:
            out.append({**g, "status": "unavailable", "reason": e.message, "fix": e.fix})
            continue
        assert v.model is not None
        terms = " + ".join(f"{v.model.coefficients[x]:,.2f} × {x}" for x in v.model.variables)
        out.append({**g, "status": "verified", "method": "regression", "kgce": v.total,
                    "adjusted_baseline_kgce": v.adjusted_baseline, "actual_kgce": v.actual,
                    "fraction": _num(v.fraction),
                    "uncertainty_kgce": {str(k): _num(u) for k, u in v.uncertainty.items()},
                    "guideline14_ok": bool(v.total and v.uncertainty[0.68] / abs(v.total) < 0.5),
                    "model": {"formula": f"kgce = {v.model.coefficients['const']:,.1f} + {terms}",
                              "r2": _num(v.model.r2), "adj_r2": _num(v.model.adj_r2), "cv_rmse": _num(v.model.cv),
                              "n": v.model.n},
                    "notes": ["whole-facility savings: every measure of the line together, and anything else that "
                              "changed there", *v.notes]})
    return out


def _org_enpi(frame: pd.DataFrame) -> tuple[float, float]:
    """(kgce per t of everything made, t made) of an EnPI frame — the organisation's figure of the EnPI report."""
    t = float(frame["production_t"].sum())
    return (float(frame["kgce"].sum()) / t if t else math.nan), t


def savings(session: Session, org_id: str, year: int, convention: str = "equivalent",
            method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """Estimated and verified savings of every measure in ``year``, and the share of the EnPI change they explain.

    Parameters
    ----------
    session : Session
    org_id : str
    year : int
        Reporting year.
    convention : {"equivalent", "generation"}
        Electricity to coal equivalent (GB/T 2589-2020), as in the EnPI.
    method : str
        Inventory method of the fuels' CO2 factors (``ghg-protocol`` or ``cn-2015``).

    Returns
    -------
    dict
        ``organisation``, ``year``, ``convention``, ``method``;
        ``measures`` — per measure: the register fields, ``counts_in_enpi``, ``estimated`` (``annual`` and
        ``year``: ``electricity_kwh``, ``carriers`` (electricity in kWh, others in their unit), ``kgce``,
        ``kgce_enpi``, ``t_co2``, ``cost_saved_cny``, ``notes``; ``annual.payback_years``; solar adds
        ``generation_kwh``, ``exported_kwh``, ``export_revenue_cny``; ``share_of_year``; motors add ``motors``
        (per group) and ``motor_count``), ``verified`` (``status`` verified | unavailable | not in service, and the
        option's figures) and ``notes``;
        ``verified_scopes`` — option C per facility and baseline year (``scope``, ``measures``, ``includes`` (the
        other measures there, inside its savings), ``kgce``, ``uncertainty_kgce`` at 68 and 90 %, ``guideline14_ok``,
        ``model`` …); a verified option B block adds ``payback_years`` annualised from its months;
        ``reconciliation`` — ``estimated`` and ``verified`` (:func:`rareeco.energy.measures.reconcile`), each with
        ``counted`` and ``excluded`` measures and why;
        ``prices`` (tag U), ``factors_used``, ``notes``, ``provenance``.
    """
    get_org(session, org_id)
    ctx = _Context(session, org_id, year, convention, method)
    rows = _rows(session, org_id)
    c_groups = _verify_c_groups(ctx, rows)
    out_measures = []
    for m in rows:
        d = _as_dict(m, ctx.sites, ctx.lines, ctx.meters)
        notes: list[str] = []
        if m.kind == "solar":
            notes.append(SOLAR_NOTE)
        try:
            est: dict[str, Any] | None = _estimate(ctx, m)
        except RareecoError as e:
            est, notes = None, [*notes, f"no estimate: {e.line()}"]
        if m.in_service.year > year:
            ver: dict[str, Any] = {"status": "not in service", "reason": f"in service from {m.in_service.isoformat()}"}
        elif m.ipmvp_option == "B":
            ver = _verify_b(ctx, m)
        else:
            g = next(x for x in c_groups if m.code in x["measures"])
            ver = ({"status": "verified", "option": "C", "scope": g["scope"], "baseline_year": g["baseline_year"],
                    "kgce": g["kgce"], "shared_with": [c for c in g["measures"] if c != m.code],
                    "note": "whole-facility savings of the scope, not of this measure alone"}
                   if g["status"] == "verified" else {k: g[k] for k in ("status", "reason", "fix")})
        out_measures.append({**d, "counts_in_enpi": m.kind != "solar", "estimated": est, "verified": ver,
                             "notes": notes})
    now_frame, before_frame = ctx.frame(year), ctx.frame(year - 1)
    enpi_now, t_now = _org_enpi(now_frame)
    enpi_before, _ = _org_enpi(before_frame)
    reconciliation: dict[str, Any] = {"note": "energy the EnPI change represents: (EnPI_before − EnPI_now) × "
                                              "production_now; measures' savings in the year, in the EnPI's "
                                              f"coal equivalent ({convention} value of electricity)"}
    if before_frame.empty or not math.isfinite(enpi_before):
        reconciliation["reason"] = f"no EnPI for {year - 1}: nothing to reconcile"
    else:
        est_counted = {x["code"]: x["estimated"]["year"]["kgce_enpi"] for x in out_measures
                       if x["counts_in_enpi"] and x["estimated"] is not None}
        not_in_enpi = [{"code": x["code"], "reason": SOLAR_NOTE} for x in out_measures if not x["counts_in_enpi"]]
        excluded = not_in_enpi + [{"code": x["code"], "reason": "no estimate: " + "; ".join(x["notes"])}
                                  for x in out_measures if x["counts_in_enpi"] and x["estimated"] is None]
        reconciliation["estimated"] = {**mm.reconcile(enpi_before, enpi_now, t_now, est_counted),
                                       "excluded": excluded}
        ver_counted: dict[str, float] = {}
        covered: set[str] = set()
        for g in sorted((g for g in c_groups if g["status"] == "verified"), key=lambda g: g["baseline_year"]):
            if g["scope"] in covered:   # a later baseline on the same facility: its savings are inside the earlier
                continue
            covered.add(g["scope"])
            ver_counted[f"C: {g['scope']} (baseline {g['baseline_year']})"] = g["kgce"]
        ver_excluded = list(not_in_enpi)
        for x in out_measures:
            v = x["verified"]
            if not x["counts_in_enpi"] or x["ipmvp_option"] != "B":
                continue
            scope = f"{x['site']} / {x['line']}" if x["line"] else f"{x['site']} (all lines)"
            if v.get("status") != "verified":
                ver_excluded.append({"code": x["code"], "reason": f"not verified: {v.get('reason')}"})
            elif scope in covered:
                ver_excluded.append({"code": x["code"], "reason": f"inside the option C savings of {scope}"})
            else:
                ver_counted[f"B: {x['code']}"] = v["kgce"]
        reconciliation["verified"] = {**mm.reconcile(enpi_before, enpi_now, t_now, ver_counted),
                                      "excluded": ver_excluded}
    return {
        "organisation": org_id, "year": year, "convention": convention, "method": method,
        "measures": _clean(out_measures), "verified_scopes": _clean(c_groups), "reconciliation": _clean(reconciliation),
        "prices": ctx.stored_prices,
        "factors_used": [{"factor_id": f.factor_id, "set": f.set_id, "value": f.value, "unit": f.unit, "tag": f.tag,
                          "source": f.source, "version": f.version}
                         for f in sorted(ctx.factors.values(), key=lambda f: f.factor_id)],
        "notes": ctx.notes + ["t CO2: grid electricity by the location-based factor of the inventory; fuels by "
                              f"the {method} method (CO2 only)",
                              "verified option C savings are whole-facility figures; estimated savings are per "
                              "measure, pro rata for the part of the year in service"],
        "provenance": {"factor_sets": ctx.table.versions(), "software_version": rareeco.__version__,
                       "calculated_at": now().isoformat(timespec="seconds")},
    }


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python, dates → ISO strings."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, date):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v
