"""Activity-data import from CSV and Excel: validate, convert units, store as one batch.

Validation is vectorised (pandas) so a million rows import in seconds.  Every
problem is a :class:`~rareeco.errors.Finding` naming file, row (spreadsheet row,
header = 1) and column, and saying how to fix it.  By default an import is
all-or-nothing; ``partial=True`` stores the valid rows and quarantines the rest.
The file's SHA-256 makes a re-import of the same file a refusal, and
``replace=BATCH`` supersedes an earlier batch in the same transaction.
"""

from __future__ import annotations

import difflib
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rareeco.errors import DuplicateImportError, Finding, NotFoundError, ValidationFailed
from rareeco.ledger import audit, periods
from rareeco.ledger.models import (
    ActivityRecord,
    FindingRecord,
    ImportBatch,
    Line,
    Product,
    QuarantineRow,
    Site,
)
from rareeco.ledger.structure import get_org, now
from rareeco.reference.catalogue import activities
from rareeco.units import UnitError, conversion_factor

REQUIRED = ("site", "period_start", "period_end", "activity", "amount", "unit")
OPTIONAL = ("line", "product", "meter", "supplier", "evidence", "note")
COLUMNS = REQUIRED + OPTIONAL
PRODUCT_ACTIVITIES = ("production.output", "consumption.product")   # rows that must name a product
MAX_FINDINGS_PER_CODE = 1000  # beyond this, one summary finding per code (a million bad rows stay readable)
Progress = Callable[[str, int], None]


@dataclass
class ImportResult:
    batch_id: int | None
    file_name: str
    sha256: str
    rows_total: int
    rows_stored: int
    rows_quarantined: int
    findings: list[Finding] = field(default_factory=list)
    superseded_batch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "file_name": self.file_name, "sha256": self.sha256,
                "rows_total": self.rows_total, "rows_stored": self.rows_stored,
                "rows_quarantined": self.rows_quarantined, "superseded_batch": self.superseded_batch,
                "findings": [f.to_dict() for f in self.findings]}


# ---------------------------------------------------------------- reading

def read_table(data: bytes, file_name: str) -> pd.DataFrame:
    """Read a CSV (UTF-8, UTF-8 with BOM or GB18030) or .xlsx file into a frame of strings."""
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, file_name)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed(f"{file_name}: not a text file in UTF-8 or GB18030",
                               fix="save the file as CSV UTF-8 (or upload the .xlsx)")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True,
                         engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationFailed(f"{file_name}: cannot be read as CSV ({str(exc).strip()})",
                               fix="check that every row has the same number of comma-separated fields") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    return df


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "date") and hasattr(v, "hour"):   # datetime from Excel
        return v.date().isoformat() if (v.hour, v.minute, v.second) == (0, 0, 0) else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_xlsx(data: bytes, file_name: str) -> pd.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ValidationFailed(f"{file_name}: not a readable .xlsx workbook ({type(exc).__name__})",
                               fix="save it again from Excel as .xlsx, or export CSV") from exc
    ws = wb["activity"] if "activity" in wb.sheetnames else wb.worksheets[0]
    rows = [[_cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    wb.close()
    if not rows:
        return pd.DataFrame(columns=list(REQUIRED))
    header = [h.strip().lower() for h in rows[0]]
    body = [r + [""] * (len(header) - len(r)) for r in rows[1:] if any(c.strip() for c in r)]
    return pd.DataFrame([r[: len(header)] for r in body], columns=header, dtype=str)


# ---------------------------------------------------------------- validation

@dataclass
class Validated:
    frame: pd.DataFrame          # converted columns for every row
    bad: np.ndarray              # bool per row: has a blocking finding
    reasons: dict[int, list[str]]  # row position → messages (blocking only)
    findings: list[Finding]


class _Collector:
    """Collects findings per row position without building a million objects."""

    def __init__(self, n: int, file_name: str, rows: np.ndarray):
        self.bad = np.zeros(n, dtype=bool)
        self.reasons: dict[int, list[str]] = {}
        self.findings: list[Finding] = []
        self.file = file_name
        self.rows = rows
        self._count: dict[str, int] = {}

    def rows_fail(self, mask: np.ndarray, code: str, column: str, values: pd.Series | None,
                  message: Callable[[str], str], fix: str) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        self.bad[idx] = True
        shown = self._count.get(code, 0)
        for k, i in enumerate(idx):
            val = "" if values is None else str(values.iat[int(i)])
            msg = message(val)
            self.reasons.setdefault(int(i), []).append(f"{column}: {msg}")
            if shown + k < MAX_FINDINGS_PER_CODE:
                self.findings.append(Finding(code, msg, "blocking", self.file, int(self.rows[i]), column, val, fix))
        self._count[code] = shown + idx.size
        if shown < MAX_FINDINGS_PER_CODE <= shown + idx.size:
            self.findings.append(Finding(code + "_more", f"{shown + idx.size} rows in all have this problem "
                                         f"({code}); the first {MAX_FINDINGS_PER_CODE} are listed", "blocking",
                                         self.file, None, column, None, fix))

    def advisory(self, code: str, message: str, column: str | None = None, row: int | None = None,
                 fix: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.findings.append(Finding(code, message, "advisory", self.file, row, column, None, fix, data or {}))


_THOUSANDS = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"
def _parse_amount(s: pd.Series) -> pd.Series:
    clean = s.str.strip()
    clean = clean.where(~clean.str.match(_THOUSANDS), clean.str.replace(",", "", regex=False))
    out = pd.to_numeric(clean, errors="coerce")
    return out.astype("float64")


def _parse_dates(s: pd.Series) -> pd.Series:
    """ISO dates (YYYY-MM-DD, also with / or .); parses each distinct text once."""
    uniq = pd.Series(s.unique())
    norm = uniq.str.strip().str.replace(r"[/.]", "-", regex=True).str.slice(0, 10)
    ok = norm.str.match(r"^\d{4}-\d{1,2}-\d{1,2}$")
    parsed = pd.to_datetime(norm.where(ok), format="%Y-%m-%d", errors="coerce")
    # astype: an empty column maps to strings, not dates
    return s.map(dict(zip(uniq, parsed, strict=True))).astype(parsed.dtype)


def validate(df: pd.DataFrame, file_name: str, ctx: ImportContext) -> Validated:
    """Check every row; convert amounts to the catalogue's canonical units."""
    n = len(df)
    rows = np.arange(n) + 2
    col = _Collector(n, file_name, rows)
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValidationFailed(
            f"{file_name}: missing column(s) {', '.join(missing)}",
            fix=f"the header row must name {', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)}); "
                "get a template with: rareeco template activity --xlsx FILE",
            findings=[Finding("missing_column", f"missing column {c!r}", "blocking", file_name, 1, c, None,
                              "add the column to the header row") for c in missing])
    twice = sorted({c for c in df.columns if c in COLUMNS and list(df.columns).count(c) > 1})
    if twice:   # e.g. "Site" and "site": the same column once names are normalised (unused ones may repeat)
        raise ValidationFailed(
            f"{file_name}: column(s) {', '.join(map(repr, twice))} appear more than once in the header",
            fix="keep one column of each name (names are compared without case and surrounding spaces)",
            findings=[Finding("duplicate_column", f"column {c!r} appears more than once", "blocking", file_name, 1,
                              c, None, "delete or rename the extra column") for c in twice])
    extra = [c for c in df.columns if c not in COLUMNS]
    if extra:
        col.advisory("unknown_column", f"column(s) {', '.join(map(repr, extra))} are not used and were ignored",
                     fix=f"known columns: {', '.join(COLUMNS)}")
    for c in OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    s = {c: df[c].astype(str).str.strip() for c in COLUMNS}
    cat = activities()

    # cells the database would refuse in the middle of the insert (PostgreSQL: NUL in text, text
    # longer than its VARCHAR column) are findings here, before anything is stored
    for c in COLUMNS:
        nul = s[c].str.contains("\x00", regex=False).to_numpy(dtype=bool)
        if nul.any():
            col.rows_fail(nul, "nul_character", c, None, _constant("contains a NUL (0x00) character"),
                          "remove the control character; re-export the file as CSV UTF-8")
            s[c] = s[c].str.replace("\x00", "", regex=False)   # keeps messages and findings storable
    for c, stored in (("meter", "meter"), ("supplier", "supplier"), ("evidence", "evidence"),
                      ("amount", "amount_raw"), ("unit", "unit_raw")):
        kind = ActivityRecord.__table__.c[stored].type
        assert isinstance(kind, String) and kind.length is not None
        limit = kind.length
        col.rows_fail((s[c].str.len() > limit).to_numpy(dtype=bool), "value_too_long", c, None,
                      _constant(f"longer than {limit} characters"), f"shorten it to at most {limit} characters")

    # site
    site_id = s["site"].map(ctx.site_ids)
    col.rows_fail(site_id.isna().to_numpy(), "unknown_site", "site", s["site"],
                  lambda v: f"unknown site {v!r}" if v else "site is empty",
                  f"use a site id of this organisation ({', '.join(sorted(ctx.site_ids)) or 'none yet'}) "
                  f"or add it: rareeco site add {ctx.org_id} SITE --province CN-XX")

    # activity
    act = s["activity"]
    known = act.isin(list(cat))
    col.rows_fail(~known.to_numpy(), "unknown_activity", "activity", act,
                  lambda v: f"unknown activity {v!r}" + _suggest(v, list(cat)),
                  "use an activity id from the catalogue: rareeco activities")

    # amount
    amount = _parse_amount(s["amount"])
    not_number = amount.isna() | ~np.isfinite(amount.fillna(0))
    col.rows_fail(not_number.to_numpy(), "malformed_number", "amount", s["amount"],
                  lambda v: f"{v!r} is not a number" if v else "amount is empty",
                  "write a plain number with '.' as decimal point, e.g. 1234.5")
    col.rows_fail((amount < 0).to_numpy(), "negative_amount", "amount", s["amount"],
                  lambda v: f"negative amount {v}", "amounts are quantities consumed or produced; "
                  "correct the sign, or use --replace to correct an earlier batch")

    # unit → factor to the canonical unit, computed once per distinct (activity, unit)
    canon = act.map({k: a.unit for k, a in cat.items()})
    pairs = pd.DataFrame({"a": act, "u": s["unit"], "c": canon})[known.to_numpy()].drop_duplicates()
    factor_map: dict[tuple[str, str], float] = {}
    unit_fix: dict[tuple[str, str], str] = {}
    for a, u, c in pairs.itertuples(index=False):
        try:
            factor_map[(a, u)] = conversion_factor(u, c) if u else float("nan")
            if not u:
                unit_fix[(a, u)] = "unit is empty"
        except UnitError as exc:
            unit_fix[(a, u)] = exc.message
        if u.lower() in ("m3", "m³", "立方米", "万立方米") and c == "Nm3":
            col.advisory("volume_assumed_normal", f"{a}: {u!r} taken as normal cubic metres (0 °C, 101.325 kPa)",
                         "unit", fix="write Nm3 if the meter is temperature- and pressure-corrected; "
                         "otherwise correct the volume before import")
    factor = _map_pairs(act, s["unit"], factor_map).astype("float64").to_numpy()
    # a unit such as "-1 kWh" or "0 kWh" parses, but would turn the sign or zero the amount
    unit_bad = known.to_numpy() & ~(np.isfinite(factor) & (factor > 0))
    col.rows_fail(unit_bad, "unit_mismatch", "unit", s["unit"],
                  lambda v: f"unit {v!r} does not fit this activity" if v else "unit is empty",
                  "give the unit of the activity's kind — see its canonical unit in: rareeco activities")
    converted = amount.to_numpy() * factor

    # periods
    start = _parse_dates(s["period_start"])
    end = _parse_dates(s["period_end"])
    for name, parsed in (("period_start", start), ("period_end", end)):
        col.rows_fail(parsed.isna().to_numpy(), "malformed_date", name, s[name],
                      lambda v: f"{v!r} is not a date" if v else "date is empty",
                      "write dates as YYYY-MM-DD, e.g. 2024-03-31")
    inverted = (end < start).fillna(False).to_numpy(dtype=bool)
    col.rows_fail(inverted, "impossible_period", "period_end", s["period_end"],
                  lambda v: f"period ends ({v}) before it starts",
                  "period_end is the last day included and must not be before period_start")
    too_long = ((end - start).dt.days > 366).fillna(False).to_numpy(dtype=bool)
    col.rows_fail(too_long, "period_too_long", "period_end", s["period_end"],
                  lambda v: "period longer than one year", "split the amount into periods of at most a year")

    # line, product
    has_line = (s["line"] != "").to_numpy()
    line_id = _map_pairs(s["site"], s["line"], ctx.line_ids)
    col.rows_fail(has_line & line_id.isna().to_numpy(), "unknown_line", "line", s["line"],
                  lambda v: f"unknown line {v!r} at this site",
                  f"use a line of the site, or add it: rareeco line add {ctx.org_id} SITE LINE")
    has_product = (s["product"] != "").to_numpy()
    product_id = s["product"].map(ctx.product_ids)
    col.rows_fail(has_product & product_id.isna().to_numpy(), "unknown_product", "product", s["product"],
                  lambda v: f"unknown product {v!r}",
                  f"use a product id of this organisation or add it: rareeco product add {ctx.org_id} PRODUCT")
    needs_product = act.isin(PRODUCT_ACTIVITIES).to_numpy() & ~has_product
    col.rows_fail(needs_product, "product_required", "product", s["product"],
                  lambda v: "production.output and consumption.product need the product column",
                  "name the product made (production.output) or used as feed (consumption.product)")

    # locked periods
    for lock in ctx.locks:
        hit = ((start <= pd.Timestamp(lock.end)) & (end >= pd.Timestamp(lock.start))).fillna(False)
        locked_msg = f"falls in the locked period {lock.period}"
        col.rows_fail(hit.to_numpy(dtype=bool), "period_locked", "period_start", s["period_start"],
                      _constant(locked_msg),
                      f"ask the verifier to unlock {lock.period} (rareeco period unlock), or leave these rows out")

    frame = pd.DataFrame({
        "row_no": rows, "site_id": site_id, "site": s["site"], "line_id": line_id.to_numpy(),
        "product_id": product_id, "meter": s["meter"], "activity": act, "period_start": start,
        "period_end": end, "amount": converted, "unit": canon, "amount_raw": s["amount"],
        "unit_raw": s["unit"], "supplier": s["supplier"], "evidence": s["evidence"], "note": s["note"]})
    return Validated(frame, col.bad, col.reasons, col.findings)


def _map_pairs(a: pd.Series, b: pd.Series, mapping: dict[tuple[str, str], Any]) -> pd.Series:
    """``mapping[(a[i], b[i])]`` for every row (NaN where absent), without a million Python tuples.

    Keys are joined with a separator; every ``a`` in ``mapping`` is a catalogue or site id, which never
    contains it, so a joined file value matches only the pair it came from.
    """
    sep = "\x1f"
    joined = {f"{x}{sep}{y}": v for (x, y), v in mapping.items()}
    return (a.astype(str) + sep + b.astype(str)).map(joined).reset_index(drop=True)


def _constant(message: str) -> Callable[[str], str]:
    return lambda _value: message


def _suggest(value: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def overlaps(frame: pd.DataFrame, existing: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` whose period overlaps another record with the same site, activity and meter
    (and line and product, which also tell records apart).

    ``existing`` holds already stored records with the same columns.  Returns the flagged new rows.
    """
    keys = ["site_id", "activity", "meter", "line_id", "product_id"]
    cols = keys + ["period_start", "period_end"]
    new = frame[cols + ["row_no"]].copy()
    new["is_new"] = True
    old = existing[cols].copy()
    old["row_no"] = -1
    old["is_new"] = False
    both = pd.concat([old, new], ignore_index=True)
    for k in ("line_id", "product_id"):
        both[k] = both[k].fillna(-1).astype("int64")
    both = both.sort_values(keys + ["period_start"])
    # latest end of the earlier records of the same group (built-in group ops: no Python call per group)
    both["_end_so_far"] = both.groupby(keys, sort=False)["period_end"].cummax()
    prev_end = both.groupby(keys, sort=False)["_end_so_far"].shift()
    flagged = both[(both["period_start"] <= prev_end) & both["is_new"]]
    return flagged


# ---------------------------------------------------------------- context and storage

@dataclass
class ImportContext:
    org_id: str
    site_ids: dict[str, int]
    line_ids: dict[tuple[str, str], int]
    product_ids: dict[str, int]
    locks: list[Any]

    @classmethod
    def load(cls, session: Session, org_id: str) -> ImportContext:
        get_org(session, org_id)
        sites = {s.code: s.id for s in session.execute(select(Site).where(Site.org_id == org_id)).scalars()}
        by_id = {v: k for k, v in sites.items()}
        line_ids = {(by_id[ln.site_id], ln.code): ln.id
                    for ln in session.execute(select(Line).where(Line.org_id == org_id)).scalars()}
        products = {p.code: p.id for p in session.execute(select(Product).where(Product.org_id == org_id)).scalars()}
        return cls(org_id, sites, line_ids, products, periods.active_locks(session, org_id))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_activity(session: Session, org_id: str, data: bytes, file_name: str, actor: str = "cli",
                    partial: bool = False, replace: int | None = None,
                    progress: Progress | None = None) -> ImportResult:
    """Validate and store one activity file as a batch, inside the caller's transaction.

    Raises :class:`ValidationFailed` (nothing stored) when a row has a blocking finding and
    ``partial`` is false; :class:`DuplicateImportError` when the same file is already imported.
    """
    step = progress or (lambda _msg, _n: None)
    digest = sha256(data)
    ctx = ImportContext.load(session, org_id)
    old: ImportBatch | None = None
    if replace is not None:
        old = session.get(ImportBatch, replace)
        if old is None or old.org_id != org_id or old.status != "active":
            raise NotFoundError(f"no active batch {replace} in {org_id!r}",
                                fix=f"see the batches with: rareeco batches {org_id}")
        if old.period_start and old.period_end:
            periods.ensure_unlocked(session, org_id, old.period_start, old.period_end, f"replacing batch {replace}")
    dup = session.execute(select(ImportBatch).where(ImportBatch.org_id == org_id, ImportBatch.sha256 == digest,
                                                    ImportBatch.status == "active")).scalar_one_or_none()
    if dup is not None:
        raise DuplicateImportError(
            f"{file_name}: this file (sha256 {digest[:12]}…) is already imported as batch {dup.id} "
            f"({dup.file_name}, {dup.imported_at:%Y-%m-%d %H:%M})",
            fix="nothing to do; to correct data, import the corrected file with --replace " + str(dup.id))
    step("read", 0)
    df = read_table(data, file_name)
    step("validate", len(df))
    v = validate(df, file_name, ctx)
    good = ~v.bad
    frame = v.frame[good]
    # overlapping periods for the same site, activity and meter (advisory: flagged, not refused)
    if len(frame):
        existing = _existing_for_overlap(session, org_id, frame, exclude_batch=replace)
        for r in overlaps(frame, existing).head(MAX_FINDINGS_PER_CODE).to_dict(orient="records"):
            v.findings.append(Finding(
                "overlapping_period", f"period {r['period_start']:%Y-%m-%d}…{r['period_end']:%Y-%m-%d} overlaps "
                f"another record of {r['activity']} at the same site and meter", "advisory", file_name,
                int(r["row_no"]),
                "period_start", None, "check the reading is not counted twice; if it replaces an earlier "
                "file, use --replace BATCH"))
    blocking = [f for f in v.findings if f.severity == "blocking"]
    if blocking and not partial:
        raise ValidationFailed(
            f"{file_name}: {int(v.bad.sum())} of {len(df)} rows have errors; nothing was imported",
            fix="correct the rows listed and import again, or use --partial to import the valid rows and "
                "quarantine the rest", findings=v.findings)
    if len(df) == 0:
        raise ValidationFailed(f"{file_name}: no data rows", fix="add rows below the header")
    step("store", int(good.sum()))
    p_start = frame["period_start"].min().date() if len(frame) else None
    p_end = frame["period_end"].max().date() if len(frame) else None
    batch = ImportBatch(org_id=org_id, file_name=file_name[-400:], sha256=digest, imported_by=actor, imported_at=now(),
                        rows_total=len(df), rows_stored=int(good.sum()), rows_quarantined=int(v.bad.sum()),
                        status="active", supersedes_id=old.id if old else None, period_start=p_start,
                        period_end=p_end)
    try:
        with session.begin_nested():
            session.add(batch)
            session.flush()
    except IntegrityError as exc:   # the same file landed meanwhile from another import (unique index)
        raise DuplicateImportError(f"{file_name}: this file (sha256 {digest[:12]}…) was imported meanwhile",
                                   fix="nothing to do; see: rareeco batches " + org_id) from exc
    _store_records(session, org_id, batch.id, frame)
    if v.bad.any():
        raw = df.astype(str).to_dict(orient="records")
        session.execute(insert(QuarantineRow), [
            {"org_id": org_id, "batch_id": batch.id, "row_no": int(pos) + 2, "raw": raw[pos], "reasons": reasons}
            for pos, reasons in sorted(v.reasons.items())])
    if v.findings:
        t = now()
        session.execute(insert(FindingRecord), [
            {"org_id": org_id, "batch_id": batch.id, "severity": f.severity, "code": f.code, "file": f.file,
             "row": f.row, "column": f.column, "value": f.value, "message": f.message, "fix": f.fix,
             "created_at": t} for f in v.findings])
    if old is not None:
        old.status = "superseded"
        old.superseded_by_id = batch.id
    audit.append(session, actor, "import.replace" if old else "import", f"{org_id}/batch/{batch.id}", org_id,
                 {"file": file_name, "sha256": digest, "rows_total": len(df), "rows_stored": batch.rows_stored,
                  "rows_quarantined": batch.rows_quarantined, "supersedes": old.id if old else None,
                  "partial": partial})
    step("done", batch.rows_stored)
    return ImportResult(batch.id, file_name, digest, len(df), batch.rows_stored, batch.rows_quarantined,
                        v.findings, old.id if old else None)


def _existing_for_overlap(session: Session, org_id: str, frame: pd.DataFrame,
                          exclude_batch: int | None) -> pd.DataFrame:
    lo, hi = frame["period_start"].min().date(), frame["period_end"].max().date()
    q = (select(ActivityRecord.site_id, ActivityRecord.activity, ActivityRecord.meter, ActivityRecord.line_id,
                ActivityRecord.product_id, ActivityRecord.period_start, ActivityRecord.period_end)
         .join(ImportBatch, ImportBatch.id == ActivityRecord.batch_id)
         .where(ActivityRecord.org_id == org_id, ImportBatch.status == "active",
                ActivityRecord.period_start <= hi, ActivityRecord.period_end >= lo))
    if exclude_batch is not None:
        q = q.where(ActivityRecord.batch_id != exclude_batch)
    rows = session.execute(q).all()
    out = pd.DataFrame(rows, columns=["site_id", "activity", "meter", "line_id", "product_id", "period_start",
                                      "period_end"])
    out["meter"] = out["meter"].fillna("")
    for c in ("period_start", "period_end"):
        out[c] = pd.to_datetime(out[c])
    return out


RECORD_COLUMNS = ("org_id", "batch_id", "row_no", "site_id", "line_id", "product_id", "meter", "activity",
                  "period_start", "period_end", "amount", "unit", "amount_raw", "unit_raw", "supplier",
                  "evidence", "note")


def _record_columns(org_id: str, batch_id: int, frame: pd.DataFrame) -> list[Iterable[Any]]:
    """One sequence of plain Python values (None for NULL) per column of RECORD_COLUMNS.

    Column-wise conversion (``tolist``) instead of a frame of objects walked row by row: the drivers
    get ready-made values and a million rows cost a second, not several.
    """
    n = len(frame)

    def ints(c: str) -> list[Any]:
        v = frame[c].to_numpy(dtype="float64", na_value=np.nan)
        out = np.full(n, None, dtype=object)
        ok = ~np.isnan(v)
        out[ok] = v[ok].astype(np.int64)
        return out.tolist()                  # object array of Python ints

    def text(c: str, empty_is_null: bool = False) -> list[Any]:
        v = frame[c].to_numpy(dtype=object)
        if empty_is_null:
            v[v == ""] = None
        return v.tolist()

    def day(c: str) -> list[str]:
        return np.datetime_as_string(frame[c].to_numpy().astype("datetime64[D]"), unit="D").tolist()

    return [repeat(org_id, n), repeat(batch_id, n), frame["row_no"].to_numpy(dtype=np.int64).tolist(),
            frame["site_id"].to_numpy(dtype="float64").astype(np.int64).tolist(), ints("line_id"),
            ints("product_id"), text("meter", True), text("activity"), day("period_start"), day("period_end"),
            frame["amount"].to_numpy(dtype="float64").tolist(), text("unit"), text("amount_raw"),
            text("unit_raw"), text("supplier", True), text("evidence", True), text("note", True)]


SQLITE_IMPORT_CACHE_KIB = 256 * 1024   # page cache while inserting: keeps the growing indexes in memory


def _store_records(session: Session, org_id: str, batch_id: int, frame: pd.DataFrame) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany on SQLite — same transaction as the batch row."""
    if frame.empty:
        return
    rows = zip(*_record_columns(org_id, batch_id, frame), strict=False)
    conn = session.connection()
    dbapi = conn.connection.driver_connection
    columns = ", ".join(RECORD_COLUMNS)
    if conn.dialect.name == "postgresql":
        # text COPY: the server parses each value for its column type (dates as YYYY-MM-DD)
        with dbapi.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f"COPY activity_records ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cur = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cache = cur.execute("PRAGMA cache_size").fetchone()[0]
            cur.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
            try:
                cur.executemany(f"INSERT INTO activity_records ({columns}) VALUES "
                                f"({', '.join('?' * len(RECORD_COLUMNS))})", rows)
            finally:
                cur.execute(f"PRAGMA cache_size = {int(cache)}")
        finally:
            cur.close()


def import_file(session: Session, org_id: str, path: Path, **kw: Any) -> ImportResult:
    return import_activity(session, org_id, Path(path).read_bytes(), Path(path).name, **kw)


def quarantine_rows(session: Session, org_id: str, batch_id: int | None = None) -> list[QuarantineRow]:
    q = select(QuarantineRow).where(QuarantineRow.org_id == org_id).order_by(QuarantineRow.batch_id,
                                                                               QuarantineRow.row_no)
    if batch_id is not None:
        q = q.where(QuarantineRow.batch_id == batch_id)
    return list(session.execute(q).scalars())


def batches(session: Session, org_id: str) -> list[ImportBatch]:
    return list(session.execute(select(ImportBatch).where(ImportBatch.org_id == org_id)
                                .order_by(ImportBatch.id)).scalars())
