"""Zero-liquid-discharge (ZLD) records in the ledger: import a plant's monthly records from a YAML file, list them,
and give each period's balance and verdict (:func:`rareeco.monitoring.zld.balance`), its magnesium-bicarbonate
conversion check and the Sankey of its water and salts (docs/zld.md).

File format (YAML or JSON; one plant per file)::

    plant: BT-ZLD                 # the ZLD plant's code (letters, digits, . _ -; at most 64)
    site: baotou                  # its site
    line: separation              # optional: the line whose wastewater it treats
    coproduct_line: zld           # optional: the line the recovered salts are booked on (default: the site, no line)
    tolerance_pct: 2              # the water balance must close within ± this [%] for "zero discharge"
    periods:
      - month: 2025-12            # or start: 2025-12-01 and end: 2025-12-31 (inclusive)
        feed_m3: 9000             # wastewater fed to the evaporator [m3]
        distillate_reused_m3: 8450
        purge_m3: 420             # mother liquor purged (to the crystalliser / the conversion) [m3]
        discharge_m3: 0           # the discharge meter's reading [m3]
        tank_start_m3: 600        # optional (0): buffer tanks at the start and end of the period [m3]
        tank_end_m3: 450
        vented_m3: 150            # optional (0): vapour vented [m3 as water]
        energy_kwh: 301000        # electricity (MVR) and steam as kWh
        feed_tds_g_l: 60          # optional: dissolved solids of the feed and the purge [g/L]
        purge_tds_g_l: 95
        salts:                    # recovered salts as weighed: kind, the product they are sold as, wet t, moisture %
          - {kind: NH4Cl, product: nh4cl, wet_t: 380, moisture_pct: 5}
        conversion:               # optional: the magnesium-bicarbonate conversion of the period [t]
          mgso4_t: 85             # MgSO4 recovered
          mg_hco3_t: 100          # Mg(HCO3)2 made
          co2_recycled_t: 61      # CO2 recycled into it

Import (:func:`import_records`): every problem of the file is a :class:`~rareeco.errors.Finding` naming the file,
the period and the field, with how to fix it; one blocking finding stores nothing.  A valid file is stored in the
caller's transaction as one :class:`~rareeco.ledger.models.ImportBatch` (the file's SHA-256: the same file twice
is refused), its ``zld_periods`` rows and, per recovered salt, a ``production.output`` activity row of the salt's
product with its **dry** mass — the product is the salt; its moisture is water already counted in the water
balance (``salt_water_m3``), and salt is traded and specified on a dry basis.  A corrected file for the same
plant and periods supersedes the batches it overlaps (their activity rows stop counting, their ``zld_periods``
rows are replaced), so nothing is counted twice; it must then hold every period of those batches.
"""

from __future__ import annotations

import contextlib
import math
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rareeco.errors import DuplicateImportError, Finding, NotFoundError, ValidationFailed
from rareeco.ingest.activity import COLUMNS, ImportContext, _store_records, sha256, validate
from rareeco.lca.model import parse_document
from rareeco.ledger import audit, periods
from rareeco.ledger.models import FindingRecord, ImportBatch, Line, Product, Site, ZldPeriod
from rareeco.ledger.structure import now
from rareeco.monitoring import zld
from rareeco.reference import FactorTable, builtin_set

PLANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
TOP_KEYS = ("plant", "site", "line", "coproduct_line", "tolerance_pct", "periods")
READINGS = ("feed_m3", "distillate_reused_m3", "purge_m3", "discharge_m3", "tank_start_m3", "tank_end_m3",
            "vented_m3", "energy_kwh", "feed_tds_g_l", "purge_tds_g_l")
REQUIRED_READINGS = ("feed_m3", "distillate_reused_m3", "purge_m3", "discharge_m3", "energy_kwh")
PERIOD_KEYS = ("month", "start", "end", *READINGS, "salts", "conversion")
SALT_KEYS = ("kind", "product", "wet_t", "moisture_pct")
CONVERSION_KEYS = ("mgso4_t", "mg_hco3_t", "co2_recycled_t")
MAX_PERIOD_DAYS = 366
#: mol CO2 per mol Mg(HCO3)2 — the coefficient of the reaction MgO + 2 CO2 + H2O → Mg(HCO3)2.
CO2_PER_MG_BICARBONATE = 2
STOICHIOMETRY = "stoichiometry"


# ------------------------------------------------------------------------------------------ parsed records

@dataclass(frozen=True)
class RecordPeriod:
    """One period of the file, checked: dates, meter readings, salts and the conversion as recorded."""

    start: date
    end: date
    readings: dict[str, float | None]
    salts: list[dict[str, Any]]                 # {kind, product, wet_t, moisture_pct}
    conversion: dict[str, float]                # {mgso4_t, mg_hco3_t, co2_recycled_t} or {}
    index: int = 0                              # position in the file's list of periods

    @property
    def label(self) -> str:
        return period_label(self.start, self.end)


@dataclass(frozen=True)
class ZldRecords:
    plant: str
    site: str
    line: str | None
    coproduct_line: str | None
    tolerance_pct: float
    periods: list[RecordPeriod]


@dataclass
class ZldImportResult:
    batch_id: int
    file_name: str
    sha256: str
    plant: str
    periods: list[str]
    coproduct_rows: int
    superseded_batches: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "file_name": self.file_name, "sha256": self.sha256, "plant": self.plant,
                "periods": self.periods, "coproduct_rows": self.coproduct_rows,
                "superseded_batches": self.superseded_batches, "findings": [f.to_dict() for f in self.findings]}


def period_label(start: date, end: date) -> str:
    """``YYYY-MM`` for a calendar month, else ``start…end``."""
    if start.day == 1 and end == date(start.year, start.month, monthrange(start.year, start.month)[1]):
        return f"{start:%Y-%m}"
    return f"{start.isoformat()}…{end.isoformat()}"


def month_bounds(text: str) -> tuple[date, date]:
    """First and last day of ``YYYY-MM``."""
    m = MONTH.match(str(text).strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationFailed(f"{text!r} is not a month", fix="write the month as YYYY-MM, e.g. 2025-12")
    y, mo = int(m.group(1)), int(m.group(2))
    return date(y, mo, 1), date(y, mo, monthrange(y, mo)[1])


# ------------------------------------------------------------------------------------------ validation

class _Checker:
    """Collects every problem of the file, each naming the period and the field, and how to fix it."""

    def __init__(self, file_name: str) -> None:
        self.file = file_name
        self.findings: list[Finding] = []

    def bad(self, code: str, where: str, field_path: str, message: str, fix: str, value: Any = None) -> None:
        text = f"{where}: {message}" if where else message
        self.findings.append(Finding(code, text, "blocking", self.file, None, field_path,
                                     None if value is None else str(value)[:200], fix,
                                     {"period": where.removeprefix("period ") if where else None,
                                      "field": field_path}))

    def number(self, d: dict[str, Any], key: str, where: str, path: str, required: bool, lo: float = 0.0,
               hi: float = math.inf, lo_open: bool = False, hi_open: bool = False,
               fix: str = "a number") -> float | None:
        v = d.get(key)
        if v is None:
            if required:
                self.bad("missing_field", where, path, f"{key} is missing", f"add {key}: {fix}")
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
            self.bad("malformed_number", where, path, f"{key} {v!r} is not a number",
                     f"write a plain number (no unit, quotes or thousands mark): {fix}", v)
            return None
        x = float(v)
        if x < lo or x > hi or (lo_open and x == lo) or (hi_open and x == hi):
            lo_s = f"{'>' if lo_open else '≥'} {lo:g}"
            hi_s = "" if hi == math.inf else f" and {'<' if hi_open else '≤'} {hi:g}"
            self.bad("out_of_range", where, path, f"{key} {x:g} is out of range (must be {lo_s}{hi_s})", fix, v)
            return None
        return x

    def unknown_keys(self, d: dict[str, Any], known: tuple[str, ...], where: str, path: str) -> None:
        import difflib

        for k in d:
            if str(k) not in known:
                near = difflib.get_close_matches(str(k), known, n=1, cutoff=0.6)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.bad("unknown_field", where, f"{path}{k}", f"unknown field {str(k)!r}{hint}",
                         f"known fields here: {', '.join(known)}", k)


def _day(v: Any) -> date | None:
    if isinstance(v, datetime):
        return None
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            return None
    return None


def _text(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _load_yaml(data: bytes, file_name: str) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{file_name}: not a UTF-8 text file", fix="save the file as UTF-8 YAML") from exc
    return parse_document(text, file_name, "yaml")


def parse_records(data: bytes, file_name: str, ctx: ImportContext | None = None) -> ZldRecords:
    """Check a ZLD records file; with ``ctx`` (the organisation's sites, lines, products and locked periods) also
    against the ledger.  Raises :class:`ValidationFailed` listing every problem; returns the checked records."""
    doc = _load_yaml(data, file_name)
    c = _Checker(file_name)
    if not isinstance(doc, dict):
        raise ValidationFailed(f"{file_name}: not a mapping of plant, site, tolerance_pct and periods",
                               fix="see the file format in docs/zld.md")
    c.unknown_keys(doc, TOP_KEYS, "", "")
    plant = _text(doc.get("plant"))
    if plant is None or not PLANT.match(plant):
        c.bad("missing_field" if plant is None else "malformed_code", "", "plant",
              "plant is missing" if plant is None else f"plant {plant!r} is not a code",
              "name the ZLD plant with a code of letters, digits, '.', '_' or '-' (at most 64), e.g. BT-ZLD",
              doc.get("plant"))
    site = _text(doc.get("site"))
    if site is None:
        c.bad("missing_field", "", "site", "site is missing", "name the plant's site, e.g. site: baotou")
    elif ctx is not None and site not in ctx.site_ids:
        c.bad("unknown_site", "", "site", f"unknown site {site!r}",
              f"use a site of this organisation ({', '.join(sorted(ctx.site_ids)) or 'none yet'}) or add it: "
              f"rareeco site add {ctx.org_id} SITE --province CN-XX", site)
    lines: dict[str, str | None] = {}
    for key in ("line", "coproduct_line"):
        raw = doc.get(key)
        lines[key] = _text(raw)
        if raw is not None and lines[key] is None:
            c.bad("malformed_code", "", key, f"{key} {raw!r} is not a line code", "write the line's code, or leave "
                  "the field out", raw)
        elif lines[key] and ctx is not None and site in ctx.site_ids and (site, lines[key]) not in ctx.line_ids:
            known = sorted(ln for s, ln in ctx.line_ids if s == site)
            c.bad("unknown_line", "", key, f"unknown line {lines[key]!r} at site {site!r}",
                  f"use a line of the site ({', '.join(known) or 'none yet'}) or add it: "
                  f"rareeco line add {ctx.org_id} {site} LINE", lines[key])
    tolerance = c.number(doc, "tolerance_pct", "", "tolerance_pct", True, 0.0, 100.0, lo_open=True,
                         fix="state the tolerance within which the water balance must close, e.g. 2 (%)")
    raw_periods = doc.get("periods")
    parsed: list[RecordPeriod] = []
    if not isinstance(raw_periods, list) or not raw_periods:
        c.bad("missing_field", "", "periods", "no periods", "list the periods under periods: (see docs/zld.md)")
        raw_periods = []
    for i, p in enumerate(raw_periods):
        rp = _parse_period(c, p, i, ctx)
        if rp is not None:
            parsed.append(rp)
    # periods of one file must not overlap each other
    ordered = sorted(parsed, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b.start <= a.end:
            c.bad("overlapping_period", f"period {b.label}", "periods", f"overlaps period {a.label}",
                  "give each month (or date range) once")
    if c.findings:
        raise ValidationFailed(f"{file_name}: {len(c.findings)} problem(s); nothing was imported",
                               fix="correct the fields listed and import the file again", findings=c.findings)
    assert plant is not None and site is not None and tolerance is not None
    return ZldRecords(plant, site, lines["line"], lines["coproduct_line"], tolerance, ordered)


def _parse_period(c: _Checker, p: Any, i: int, ctx: ImportContext | None) -> RecordPeriod | None:
    path = f"periods[{i}]."
    if not isinstance(p, dict):
        c.bad("malformed_period", f"period {i + 1}", path[:-1], "is not a mapping",
              "write each period as month: YYYY-MM followed by its readings (docs/zld.md)", p)
        return None
    n_before = len(c.findings)
    start = end = None
    if "month" in p:
        with contextlib.suppress(ValidationFailed):
            start, end = month_bounds(str(p["month"]))
        where = f"period {start:%Y-%m}" if start else f"period {i + 1}"
        if start is None:
            c.bad("malformed_date", where, path + "month", f"month {p['month']!r} is not a month",
                  "write the month as YYYY-MM, e.g. 2025-12 (quote it if your editor changes it)", p["month"])
        if "start" in p or "end" in p:
            c.bad("ambiguous_period", where, path + "month", "gives both month and start/end",
                  "give either month: YYYY-MM or start: and end: dates")
    else:
        start, end = _day(p.get("start")), _day(p.get("end"))
        where = f"period {period_label(start, end)}" if start and end else f"period {i + 1}"
        for key, v in (("start", start), ("end", end)):
            if v is None:
                c.bad("malformed_date" if key in p else "missing_field", where, path + key,
                      f"{key} {p.get(key)!r} is not a date" if key in p else "neither month nor start and end given",
                      "write month: YYYY-MM, or start: and end: as YYYY-MM-DD (the end day included)", p.get(key))
        if start and end and end < start:
            c.bad("impossible_period", where, path + "end", f"ends ({end}) before it starts ({start})",
                  "end is the last day included and must not be before start", end)
        elif start and end and (end - start).days >= MAX_PERIOD_DAYS:
            c.bad("period_too_long", where, path + "end", "is longer than a year",
                  "record the balance per month (or at most a year)", end)
    if ctx is not None and start and end:
        for lock in ctx.locks:
            if start <= lock.end and end >= lock.start:
                c.bad("period_locked", where, path[:-1], f"falls in the locked period {lock.period}",
                      f"ask the verifier to unlock {lock.period} (rareeco period unlock), or leave the period out")
    c.unknown_keys(p, PERIOD_KEYS, where, path)
    readings: dict[str, float | None] = {}
    for key in READINGS:
        lo_open = key in ("feed_m3", "feed_tds_g_l")
        readings[key] = c.number(p, key, where, path + key, key in REQUIRED_READINGS, 0.0, lo_open=lo_open,
                                 fix="the meter's reading for the period, a number ≥ 0"
                                     + (" (the feed must be above 0)" if lo_open else ""))
    if readings["purge_tds_g_l"] is not None and readings["feed_tds_g_l"] is None:
        c.bad("missing_field", where, path + "feed_tds_g_l", "purge_tds_g_l is given without feed_tds_g_l",
              "give the feed's dissolved solids too (the salt balance needs both), or leave both out")
    salts = _parse_salts(c, p.get("salts"), where, path, ctx)
    conversion = _parse_conversion(c, p.get("conversion"), where, path)
    if len(c.findings) > n_before or start is None or end is None:
        return None
    return RecordPeriod(start, end, readings, salts, conversion, i)


def _parse_salts(c: _Checker, raw: Any, where: str, path: str, ctx: ImportContext | None) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.bad("malformed_salts", where, path + "salts", "salts is not a list",
              "list each salt as {kind: NH4Cl, product: nh4cl, wet_t: 380, moisture_pct: 5}", raw)
        return []
    out = []
    kinds: set[str] = set()
    for j, s in enumerate(raw):
        sp = f"{path}salts[{j}]."
        if not isinstance(s, dict):
            c.bad("malformed_salts", where, sp[:-1], "is not a mapping",
                  "write the salt as {kind: NH4Cl, product: nh4cl, wet_t: 380, moisture_pct: 5}", s)
            continue
        c.unknown_keys(s, SALT_KEYS, where, sp)
        kind, product = _text(s.get("kind")), _text(s.get("product"))
        if kind is None:
            c.bad("missing_field", where, sp + "kind", "the salt's kind is missing", "name it, e.g. kind: NH4Cl")
        elif kind in kinds:
            c.bad("duplicate_salt", where, sp + "kind", f"salt {kind!r} is listed twice",
                  "give each salt once per period with its total weight", kind)
        else:
            kinds.add(kind)
        if product is None:
            c.bad("missing_field", where, sp + "product", "the salt's product is missing",
                  "name the product it is sold as (a product id of the organisation), e.g. product: nh4cl")
        elif ctx is not None and product not in ctx.product_ids:
            c.bad("unknown_product", where, sp + "product", f"unknown product {product!r}",
                  f"use a product id of this organisation or add the salt as a product: rareeco product add "
                  f"{ctx.org_id} {product if re.match(r'^[a-z0-9][a-z0-9_-]{0,63}$', product) else 'PRODUCT'} "
                  f"--name '{kind or 'NAME'}, recovered'", product)
        wet = c.number(s, "wet_t", where, sp + "wet_t", True, 0.0, lo_open=True,
                       fix="the weighed (wet) mass of the period in t, above 0")
        moisture = c.number(s, "moisture_pct", where, sp + "moisture_pct", True, 0.0, 100.0, hi_open=True,
                            fix="the moisture of the salt as weighed in %, from 0 up to (not including) 100")
        if kind and product and wet is not None and moisture is not None:
            out.append({"kind": kind, "product": product, "wet_t": wet, "moisture_pct": moisture})
    return out


def _parse_conversion(c: _Checker, raw: Any, where: str, path: str) -> dict[str, float]:
    if raw is None:
        return {}
    cp = path + "conversion."
    if not isinstance(raw, dict):
        c.bad("malformed_conversion", where, cp[:-1], "conversion is not a mapping",
              "write it as conversion: {mgso4_t: …, mg_hco3_t: …, co2_recycled_t: …}", raw)
        return {}
    c.unknown_keys(raw, CONVERSION_KEYS, where, cp)
    out = {}
    for key in CONVERSION_KEYS:
        v = c.number(raw, key, where, cp + key, True, 0.0, fix="the tonnes of the period, a number ≥ 0")
        if v is not None:
            out[key] = v
    return out


# ------------------------------------------------------------------------------------------ import

def import_records(session: Session, org_id: str, data: bytes, file_name: str, actor: str = "cli"
                   ) -> ZldImportResult:
    """Validate and store one ZLD records file as a batch, inside the caller's transaction.

    Raises :class:`DuplicateImportError` when the same file is already imported, :class:`ValidationFailed`
    (nothing stored) with every problem of the file; stores the batch, the periods and the co-product rows, and
    supersedes the active batches of the same plant whose periods the file covers.
    """
    digest = sha256(data)
    ctx = ImportContext.load(session, org_id)
    dup = session.execute(select(ImportBatch).where(ImportBatch.org_id == org_id, ImportBatch.sha256 == digest,
                                                    ImportBatch.status == "active")).scalar_one_or_none()
    if dup is not None:
        raise DuplicateImportError(
            f"{file_name}: this file (sha256 {digest[:12]}…) is already imported as batch {dup.id} "
            f"({dup.file_name}, {dup.imported_at:%Y-%m-%d %H:%M})",
            fix="nothing to do; to correct the records, change the file and import it again (it replaces the "
                "periods it holds)")
    rec = parse_records(data, file_name, ctx)
    old_rows, old_batches = _superseded(session, org_id, rec, file_name)
    frame = _coproduct_frame(rec, file_name, ctx)
    advisories = [f for p in rec.periods for f in conversion_findings(p, rec.tolerance_pct, file_name)]
    batch = ImportBatch(org_id=org_id, file_name=file_name[-400:], sha256=digest, imported_by=actor, imported_at=now(),
                        rows_total=len(frame), rows_stored=len(frame), rows_quarantined=0, status="active",
                        supersedes_id=old_batches[0].id if old_batches else None,
                        period_start=rec.periods[0].start, period_end=max(p.end for p in rec.periods))
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError as exc:   # the same file landed meanwhile from another import (unique index)
        raise DuplicateImportError(f"{file_name}: this file (sha256 {digest[:12]}…) was imported meanwhile",
                                   fix="nothing to do; see: rareeco zld balance --org " + org_id) from exc
    for old in old_batches:
        old.status = "superseded"
        old.superseded_by_id = batch.id
    if old_rows:
        session.execute(delete(ZldPeriod).where(ZldPeriod.id.in_([r.id for r in old_rows])))
        session.flush()
    site_id = ctx.site_ids[rec.site]
    line_id = ctx.line_ids[(rec.site, rec.line)] if rec.line else None
    for p in rec.periods:
        session.add(ZldPeriod(org_id=org_id, site_id=site_id, line_id=line_id, plant=rec.plant,
                              period_start=p.start, period_end=p.end, batch_id=batch.id,
                              **{k: (v if v is not None or k.endswith("_tds_g_l") else 0.0)
                                 for k, v in p.readings.items()},
                              tolerance_pct=rec.tolerance_pct, salts=p.salts, conversion=p.conversion))
    session.flush()
    _store_records(session, org_id, batch.id, frame)
    if advisories:
        t = now()
        session.execute(insert(FindingRecord), [
            {"org_id": org_id, "batch_id": batch.id, "severity": f.severity, "code": f.code, "file": f.file,
             "row": f.row, "column": f.column, "value": f.value, "message": f.message, "fix": f.fix,
             "created_at": t} for f in advisories])
    labels = [p.label for p in rec.periods]
    audit.append(session, actor, "zld.import.replace" if old_batches else "zld.import", f"{org_id}/batch/{batch.id}",
                 org_id, {"file": file_name, "sha256": digest, "plant": rec.plant, "periods": labels,
                          "coproduct_rows": len(frame), "supersedes": [b.id for b in old_batches],
                          "replaced_periods": [_row_record(r) for r in old_rows]})
    return ZldImportResult(batch.id, file_name, digest, rec.plant, labels, len(frame),
                           [b.id for b in old_batches], advisories)


def _row_record(r: ZldPeriod) -> dict[str, Any]:
    """A stored period as plain data (what a correction replaced, kept in the audit log)."""
    return {"plant": r.plant, "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
            "batch_id": r.batch_id, **{k: getattr(r, k) for k in READINGS}, "tolerance_pct": r.tolerance_pct,
            "salts": r.salts, "conversion": r.conversion}


def _superseded(session: Session, org_id: str, rec: ZldRecords, file_name: str
                ) -> tuple[list[ZldPeriod], list[ImportBatch]]:
    """The stored periods of the plant that the file's periods overlap, and their active batches.

    A correction must give the same dates for a period it replaces and hold every period of each batch it
    replaces (otherwise that batch's other periods would be lost); rows of a batch no longer active are stale
    and simply replaced."""
    rows = list(session.execute(select(ZldPeriod).where(ZldPeriod.org_id == org_id, ZldPeriod.plant == rec.plant)
                                .order_by(ZldPeriod.period_start)).scalars())
    if not rows:
        return [], []
    status = {b.id: b for b in session.execute(select(ImportBatch).where(
        ImportBatch.id.in_({r.batch_id for r in rows if r.batch_id is not None}))).scalars()}
    new = {(p.start, p.end) for p in rec.periods}
    c = _Checker(file_name)
    hit_batches: dict[int, ImportBatch] = {}
    replaced: list[ZldPeriod] = []
    for r in rows:
        overlapping = [p for p in rec.periods if p.start <= r.period_end and p.end >= r.period_start]
        if not overlapping:
            continue
        b = status.get(r.batch_id) if r.batch_id is not None else None
        replaced.append(r)
        if b is None or b.status != "active":
            continue
        hit_batches[b.id] = b
        if (r.period_start, r.period_end) not in new:
            p = overlapping[0]
            c.bad("overlapping_period", f"period {p.label}", "periods",
                  f"overlaps the stored period {period_label(r.period_start, r.period_end)} of plant {rec.plant} "
                  f"(batch {b.id}) with other dates",
                  "a correction gives each period with the same dates as the file it corrects")
    for b in hit_batches.values():
        missing = [r for r in rows if r.batch_id == b.id
                   and not any(p.start <= r.period_end and p.end >= r.period_start for p in rec.periods)]
        for r in missing:
            c.bad("missing_period", f"period {period_label(r.period_start, r.period_end)}", "periods",
                  f"is in batch {b.id} ({b.file_name}), which this file replaces, but not in this file",
                  "a corrected file replaces whole batches: include every period of the file it corrects")
        if b.period_start and b.period_end:
            periods.ensure_unlocked(session, org_id, b.period_start, b.period_end, f"replacing batch {b.id}")
    if c.findings:
        raise ValidationFailed(f"{file_name}: {len(c.findings)} problem(s) with the stored periods of plant "
                               f"{rec.plant}; nothing was imported",
                               fix="correct the periods listed and import the file again", findings=c.findings)
    return replaced, sorted(hit_batches.values(), key=lambda b: b.id)


def _coproduct_frame(rec: ZldRecords, file_name: str, ctx: ImportContext) -> pd.DataFrame:
    """The salts' ``production.output`` rows (dry t), checked and converted by the activity importer's
    :func:`~rareeco.ingest.activity.validate` — the same rules as any activity file."""
    rows = []
    for p in rec.periods:
        for s in p.salts:
            salt = zld.Salt(s["kind"], s["wet_t"], s["moisture_pct"])
            rows.append({"site": rec.site, "period_start": p.start.isoformat(), "period_end": p.end.isoformat(),
                         "activity": "production.output", "amount": repr(salt.dry_t), "unit": "t",
                         "line": rec.coproduct_line or "", "product": s["product"], "meter": "", "supplier": "",
                         "evidence": f"ZLD records {file_name}"[:400],
                         "note": f"ZLD plant {rec.plant} {p.label}: {s['kind']} {s['wet_t']:g} t wet at "
                                 f"{s['moisture_pct']:g} % moisture = {salt.dry_t:.3f} t dry (co-product)"})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows, columns=list(COLUMNS), dtype=str)
    checked = validate(df, file_name, ctx)
    blocking = [f for f in checked.findings if f.severity == "blocking"]
    if blocking:    # the checks above cover these; a rule added to the activity importer would show here
        raise ValidationFailed(f"{file_name}: the co-product rows fail the activity checks; nothing was imported",
                               fix="correct the salts listed and import the file again", findings=blocking)
    return checked.frame


# ------------------------------------------------------------------------------------------ conversion check

def _stoichiometry() -> FactorTable:
    return FactorTable([builtin_set(STOICHIOMETRY)])


def conversion(conv: dict[str, float], tolerance_pct: float) -> dict[str, Any] | None:
    """The magnesium-bicarbonate conversion of a period against its stoichiometry.

    ``MgO + 2 CO2 + H2O → Mg(HCO3)2``: CO2 taken up per t Mg(HCO3)2 = 2 M(CO2) / M(Mg(HCO3)2) ≈ 0.601 t/t
    (molar masses from the ``stoichiometry`` reference set, tag C).  ``co2_ratio`` = CO2 recycled as recorded /
    stoichiometric; ``co2_off`` when it differs from 1 by more than ``tolerance_pct``.  ``mg_recycled_pct``:
    the magnesium of the Mg(HCO3)2 made as a share of that in the MgSO4 recovered [%].
    """
    if not conv:
        return None
    t = _stoichiometry()
    m_co2 = t.get("molar_mass", "CO2")
    m_bic = t.get("molar_mass", "Mg(HCO3)2")
    m_so4 = t.get("molar_mass", "MgSO4")
    per_t = CO2_PER_MG_BICARBONATE * m_co2.value / m_bic.value           # t CO2 per t Mg(HCO3)2
    stoich = conv["mg_hco3_t"] * per_t
    ratio = conv["co2_recycled_t"] / stoich if stoich else None
    off = (conv["co2_recycled_t"] > 0) if ratio is None else abs(ratio - 1.0) * 100.0 > tolerance_pct
    mg_bic = conv["mg_hco3_t"] / m_bic.value
    mg_so4 = conv["mgso4_t"] / m_so4.value
    return {**conv, "co2_per_t_mg_hco3": per_t, "co2_stoichiometric_t": stoich, "co2_ratio": ratio,
            "co2_off": off, "tolerance_pct": tolerance_pct,
            "mg_recycled_pct": 100.0 * mg_bic / mg_so4 if mg_so4 else None,
            "factors": [f.cite() for f in (m_co2, m_bic, m_so4)]}


def conversion_findings(p: RecordPeriod, tolerance_pct: float, file_name: str | None = None) -> list[Finding]:
    """An advisory finding when the period's CO2 recycled is off its stoichiometry by more than the tolerance."""
    c = conversion(p.conversion, tolerance_pct)
    if c is None or not c["co2_off"]:
        return []
    ratio = c["co2_ratio"]
    what = (f"CO2 recycled {c['co2_recycled_t']:g} t is {ratio:.3f} × the stoichiometric "
            f"{c['co2_stoichiometric_t']:.3f} t" if ratio is not None else
            f"CO2 recycled {c['co2_recycled_t']:g} t with no Mg(HCO3)2 made")
    return [Finding("conversion_co2_off", f"period {p.label}: {what} for {c['mg_hco3_t']:g} t Mg(HCO3)2 "
                    f"(MgO + 2 CO2 + H2O → Mg(HCO3)2), beyond ± {tolerance_pct:g} %", "advisory", file_name, None,
                    f"periods[{p.index}].conversion.co2_recycled_t", f"{c['co2_recycled_t']:g}",
                    "check the CO2 meter and the Mg(HCO3)2 weighed: more CO2 than the reaction takes was vented or "
                    "not absorbed; less means a misread or another carbon source",
                    {"period": p.label, "co2_ratio": ratio, "co2_stoichiometric_t": c["co2_stoichiometric_t"]})]


# ------------------------------------------------------------------------------------------ Sankey

def sankey(p: zld.Period) -> dict[str, Any]:
    """Nodes and links of a period's water balance [m3] and, with the feed's dissolved solids, its salt balance [t].

    Water: feed and what the tanks gave up (plus an unexplained gain when more left than came in) → evaporator →
    distillate reused, purge, water in the salts, vented, discharge, into the tanks, unexplained loss.  Salt: the
    feed's dissolved solids (and an unexplained gain) → crystalliser → each salt's dry mass, salt in the purge,
    unexplained loss.  Links with no flow are left out; inflows and outflows of the middle node are equal.
    Node ``name`` is a key (``salt:<kind>`` for a salt); the page gives the labels.
    """
    draw = p.tank_start_m3 - p.tank_end_m3
    water_in = p.feed_m3 + draw
    salt_water = sum(s.water_m3 for s in p.salts)
    water_out = p.distillate_reused_m3 + p.purge_m3 + salt_water + p.vented_m3 + p.discharge_m3
    ins = [("feed", p.feed_m3), ("tank_draw", max(draw, 0.0)), ("gain", max(water_out - water_in, 0.0))]
    outs = [("distillate", p.distillate_reused_m3), ("purge", p.purge_m3), ("salt_water", salt_water),
            ("vented", p.vented_m3), ("discharge", p.discharge_m3), ("tank_fill", max(-draw, 0.0)),
            ("loss", max(water_in - water_out, 0.0))]
    out: dict[str, Any] = {"water": _graph("evaporator", ins, outs, "m3"), "salt": None}
    if p.feed_tds_g_l is not None:
        salt_in = p.feed_m3 * p.feed_tds_g_l / 1000.0
        purge_salt = p.purge_m3 * (p.purge_tds_g_l or 0.0) / 1000.0
        salt_out = sum(s.dry_t for s in p.salts) + purge_salt
        ins = [("salt_in", salt_in), ("salt_gain", max(salt_out - salt_in, 0.0))]
        outs = [(f"salt:{s.kind}", s.dry_t) for s in p.salts] + [("purge_salt", purge_salt),
                                                                 ("salt_loss", max(salt_in - salt_out, 0.0))]
        out["salt"] = _graph("crystalliser", ins, outs, "t")
    return out


def _graph(middle: str, ins: list[tuple[str, float]], outs: list[tuple[str, float]], unit: str) -> dict[str, Any]:
    ins = [(n, v) for n, v in ins if v > 0]
    outs = [(n, v) for n, v in outs if v > 0]
    nodes = [{"name": n, "side": "in"} for n, _ in ins] + [{"name": middle, "side": "middle"}] + \
        [{"name": n, "side": "out"} for n, _ in outs]
    links = [{"source": n, "target": middle, "value": v} for n, v in ins] + \
        [{"source": middle, "target": n, "value": v} for n, v in outs]
    return {"unit": unit, "nodes": nodes, "links": links, "total": sum(v for _, v in ins)}


# ------------------------------------------------------------------------------------------ reading

def as_period(r: ZldPeriod) -> zld.Period:
    """The stored row as the balance's :class:`~rareeco.monitoring.zld.Period`."""
    return zld.Period(feed_m3=r.feed_m3, distillate_reused_m3=r.distillate_reused_m3, purge_m3=r.purge_m3,
                      discharge_m3=r.discharge_m3, tank_start_m3=r.tank_start_m3, tank_end_m3=r.tank_end_m3,
                      vented_m3=r.vented_m3, salts=tuple(zld.Salt(s["kind"], s["wet_t"], s["moisture_pct"])
                                                         for s in r.salts or []),
                      feed_tds_g_l=r.feed_tds_g_l, purge_tds_g_l=r.purge_tds_g_l, energy_kwh=r.energy_kwh)


def list_periods(session: Session, org_id: str, plant: str | None = None, month: str | None = None
                 ) -> list[ZldPeriod]:
    """The organisation's stored ZLD periods (of active batches), by plant and start; optionally one plant's, and
    those touching a month ``YYYY-MM``."""
    from rareeco.ledger.structure import get_org

    get_org(session, org_id)
    q = (select(ZldPeriod).outerjoin(ImportBatch, ImportBatch.id == ZldPeriod.batch_id)
         .where(ZldPeriod.org_id == org_id, (ImportBatch.status == "active") | (ZldPeriod.batch_id.is_(None))))
    if plant:
        known = plants(session, org_id)
        if plant not in known:
            raise NotFoundError(f"no ZLD plant {plant!r} in {org_id!r}",
                                fix=f"plants with records: {', '.join(known) or 'none yet'}; import records with: "
                                    f"rareeco zld import FILE --org {org_id}")
        q = q.where(ZldPeriod.plant == plant)
    if month:
        lo, hi = month_bounds(month)
        q = q.where(ZldPeriod.period_start <= hi, ZldPeriod.period_end >= lo)
    return list(session.execute(q.order_by(ZldPeriod.plant, ZldPeriod.period_start)).scalars())


def plants(session: Session, org_id: str) -> list[str]:
    """Codes of the plants with stored periods (of active batches)."""
    q = (select(ZldPeriod.plant).outerjoin(ImportBatch, ImportBatch.id == ZldPeriod.batch_id)
         .where(ZldPeriod.org_id == org_id, (ImportBatch.status == "active") | (ZldPeriod.batch_id.is_(None)))
         .distinct().order_by(ZldPeriod.plant))
    return list(session.execute(q).scalars())


def period_report(r: ZldPeriod, names: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """One stored period: the balance and verdict (:func:`rareeco.monitoring.zld.balance`), the salts with their
    products, the conversion check and the Sankey, as plain JSON-ready data."""
    p = as_period(r)
    b = zld.balance(p, r.tolerance_pct)
    names = names or {}
    salts = [{**s, "product": r.salts[i]["product"], "product_name": names.get(r.salts[i]["product"], {}),
              "water_m3": r.salts[i]["wet_t"] * r.salts[i]["moisture_pct"] / 100.0}
             for i, s in enumerate(b.pop("salts"))]
    return {"plant": r.plant, "period": period_label(r.period_start, r.period_end),
            "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
            "batch_id": r.batch_id,
            "readings": {k: getattr(r, k) for k in READINGS},
            "water_loss_m3": b["water_in_m3"] - b["water_out_m3"],
            **b, "salts": salts, "conversion": conversion(r.conversion or {}, r.tolerance_pct),
            "sankey": sankey(p)}


def report(session: Session, org_id: str, plant: str | None = None, month: str | None = None
           ) -> list[dict[str, Any]]:
    """Every stored period (or one plant's, or a month's) with its balance, verdict and conversion check."""
    rows = list_periods(session, org_id, plant, month)
    sites = {s.id: s.code for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
    lines = {ln.id: ln.code for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
    names = {p.code: {"en": p.name, "zh": p.name_zh or p.name}
             for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
    files = {b.id: b.file_name for b in session.execute(select(ImportBatch).where(
        ImportBatch.id.in_({r.batch_id for r in rows if r.batch_id is not None}))).scalars()}
    return [{"site": sites.get(r.site_id), "line": lines.get(r.line_id) if r.line_id else None,
             "file": files.get(r.batch_id) if r.batch_id else None, **period_report(r, names)} for r in rows]
