"""Reliability of the import: a killed import leaves the whole batch or nothing; garbage never crashes it.

* SIGKILL: a child process imports a large CSV and is killed at chosen moments (found from the
  progress it prints); the ledger then holds the whole batch or nothing, and the next import of the
  same file succeeds exactly once.  SQLite and PostgreSQL.  The default run kills mid-insert; the
  other moments are marked ``slow`` and run with ``-m slow``.
* Property tests (hypothesis, SQLite): garbage cells, headers, quoting and bytes end in success or a
  :class:`RareecoError` that says where (row, column) — never another exception — and a failure
  stores nothing; valid rows are stored in canonical units and the same bytes are refused a second time.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.utils.exceptions import IllegalCharacterError
from sqlalchemy import Engine, func, select, text

from conftest import make_org
from rareeco.errors import DuplicateImportError, RareecoError, ValidationFailed
from rareeco.ingest.activity import COLUMNS, OPTIONAL, REQUIRED, import_activity, read_table
from rareeco.ledger import audit, models
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import ActivityRecord, AuditEntry, FindingRecord, ImportBatch, QuarantineRow

ORG = "acme"

# ---------------------------------------------------------------- SIGKILL

KILL_ROWS = 200_000          # ~2.5 s to import in-process here, ~4 s in a child with its start-up
APP_NAME = "rareeco_sigkill_child"

CHILD = """
import sys, time
from pathlib import Path
from rareeco.ingest.activity import import_activity
from rareeco.ledger.db import make_engine, session_scope

url, path = sys.argv[1], Path(sys.argv[2])
def say(phase):
    print(phase, flush=True)
engine = make_engine(url)
data = path.read_bytes()
say("start")
with session_scope(engine) as s:
    import_activity(s, "acme", data, path.name, actor="child", progress=lambda stage, n: say(stage))
say("committed")
time.sleep(120)   # stay alive: the test kills it after the commit too
"""


@dataclass(frozen=True)
class KillPoint:
    after: str | None        # phase the child prints (read, validate, store, done, committed); None: start
    delay_s: float           # then wait this long


KILL_POINTS = {
    "0.5s-after-start": KillPoint(None, 0.5),
    "1.5s-after-start": KillPoint(None, 1.5),
    "parsing": KillPoint("read", 0.05),
    "validating": KillPoint("validate", 0.2),
    "inserting": KillPoint("store", 0.3),
    "committing": KillPoint("done", 0.0),
    "after-commit": KillPoint("committed", 0.0),
}
DEFAULT_KILLS = {"inserting"}


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KILL_ROWS daily readings of 200 meters at both sites (deterministic)."""
    meters, days = 200, KILL_ROWS // 200
    m = np.repeat(np.arange(meters), days)
    d = np.tile(np.arange(days), meters)
    day = np.datetime_as_string(np.datetime64("2022-01-01") + d, unit="D")
    gas = m % 4 == 3
    frame = pd.DataFrame({
        "site": np.where(m % 2 == 0, "baotou", "ganzhou"), "meter": [f"m{i:03d}" for i in m],
        "period_start": day, "period_end": day,
        "activity": np.where(gas, "fuel.natural_gas", "electricity.grid"),
        "amount": np.round(1000 + (m * 7919 + d * 104729) % 50000 / 10, 1),
        "unit": np.where(gas, "Nm3", "kWh")})
    path = tmp_path_factory.mktemp("sigkill") / "readings.csv"
    frame.to_csv(path, index=False)
    return path


class Child:
    """The importing child process; its progress lines are read by a thread."""

    def __init__(self, url: str, csv_path: Path, log: Path):
        self._err = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, url, str(csv_path)],
                                     stdout=subprocess.PIPE, stderr=self._err, text=True)
        self.started = time.monotonic()
        self.log = log
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def wait_for(self, phase: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while phase not in self.seen:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"child did not reach {phase!r} in {timeout_s} s "
                                     f"(saw {self.seen})") from None
            if line is None:
                self.proc.wait()
                raise AssertionError(f"child exited ({self.proc.returncode}) before {phase!r}: "
                                     f"{self.log.read_text()[-2000:]}")
            self.seen.append(line)

    def kill(self) -> list[str]:
        """SIGKILL; returns every phase the child printed (the pipe keeps what was written before it died)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._err.close()
        assert self.proc.returncode == -signal.SIGKILL, self.log.read_text()[-2000:]
        while (line := self._lines.get(timeout=60)) is not None:
            self.seen.append(line)
        return self.seen


def ledger_state(engine: Engine) -> tuple[int, int, int]:
    """(batches, activity records, audit entries for imports) of the organisation."""
    n = select(func.count())
    with session_scope(engine) as s:
        batches = s.execute(n.select_from(ImportBatch).where(ImportBatch.org_id == ORG)).scalar_one()
        records = s.execute(n.select_from(ActivityRecord).where(ActivityRecord.org_id == ORG)).scalar_one()
        imports = s.execute(n.select_from(AuditEntry).where(AuditEntry.action == "import")).scalar_one()
        return int(batches), int(records), int(imports)


def settle(engine: Engine) -> None:
    """Wait until the server has finished with the killed child's session (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as c:
            left = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND application_name = :app"), {"app": APP_NAME}).scalar_one()
        if left == 0:
            return
        assert time.monotonic() < deadline, "the killed child's server session did not end"
        time.sleep(0.05)


@pytest.mark.parametrize("point", [pytest.param(k, marks=() if k in DEFAULT_KILLS else pytest.mark.slow)
                                   for k in KILL_POINTS])
def test_sigkill_leaves_whole_batch_or_nothing(request: pytest.FixtureRequest, db_url: str, engine: Engine,
                                               big_csv: Path, tmp_path: Path, point: str) -> None:
    if request.node.get_closest_marker("slow") and "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("more kill points: run with -m slow")
    make_org(engine)
    kp = KILL_POINTS[point]
    url = db_url + ("?application_name=" + APP_NAME if engine.dialect.name == "postgresql" else "")
    child = Child(url, big_csv, tmp_path / "child.log")
    try:
        if kp.after is None:
            time.sleep(max(0.0, kp.delay_s - (time.monotonic() - child.started)))
        else:
            child.wait_for(kp.after)
            time.sleep(kp.delay_s)
        at_kill = list(child.seen)
        printed = child.kill()
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()
    settle(engine)

    state = ledger_state(engine)
    where = f"killed at {point} (phases printed before the kill {at_kill}, in all {printed}); ledger {state}"
    assert state in {(0, 0, 0), (1, KILL_ROWS, 1)}, where
    if "committed" in printed:                        # the commit had returned
        assert state == (1, KILL_ROWS, 1), where
    if "done" not in printed:                         # the commit had not begun
        assert state == (0, 0, 0), where
    with session_scope(engine) as s:
        assert audit.verify(s).ok, where
        if engine.dialect.name == "sqlite":
            assert s.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"

    # the same file again: stored exactly once, whatever the killed import left
    data = big_csv.read_bytes()
    if state[0] == 0:
        with session_scope(engine) as s:
            r = import_activity(s, ORG, data, big_csv.name, "retry")
        assert r.rows_stored == KILL_ROWS
    with pytest.raises(DuplicateImportError), session_scope(engine) as s:
        import_activity(s, ORG, data, big_csv.name, "retry")
    assert ledger_state(engine) == (1, KILL_ROWS, 1)


# ---------------------------------------------------------------- cells a database would refuse

@pytest.mark.parametrize(("column", "value"), [
    ("meter", "m" * 65), ("amount", "1." + "0" * 70), ("unit", "kWh" + " " * 40 + "x"),
    ("supplier", "s" * 201), ("evidence", "e" * 401), ("note", "a\x00b"), ("site", "bao\x00tou")])
def test_cells_postgresql_would_refuse_are_findings(engine: Engine, column: str, value: str) -> None:
    """NUL characters and text longer than its column fail on PostgreSQL mid-insert unless caught first."""
    make_org(engine)
    row = {"site": "baotou", "period_start": "2024-01-01", "period_end": "2024-01-31",
           "activity": "electricity.grid", "amount": "5", "unit": "kWh", column: value}
    data = _csv([list(row), list(row.values())])
    before = table_counts(engine)
    with pytest.raises(ValidationFailed) as e, session_scope(engine) as s:
        import_activity(s, ORG, data, "long.csv")
    assert [(f.row, f.column) for f in e.value.findings if f.severity == "blocking"][:1] == [(2, column)]
    assert table_counts(engine) == before
    with session_scope(engine) as s:   # partial: the row is quarantined, the findings are storable
        r = import_activity(s, ORG, data, "long.csv", partial=True)
    assert r.rows_quarantined == 1


STALL = """
import sys
from rareeco.errors import ValidationFailed
from rareeco.ingest.activity import import_activity
from rareeco.ledger.db import make_engine, session_scope

data = ("site,period_start,period_end,activity,amount,unit\\n"
        "baotou,2024-01-01,2024-01-31,electricity.grid,1,9**9**9 kWh\\n"
        "baotou,2024-01-01,2024-01-31,fuel.natural_gas,1,(9)**9**9 Nm3\\n").encode()
try:
    with session_scope(make_engine(sys.argv[1])) as s:
        import_activity(s, "acme", data, "power.csv")
except ValidationFailed as exc:
    print(sorted((f.row, f.column, f.code) for f in exc.findings if f.severity == "blocking"))
"""


def test_unit_arithmetic_cannot_stall_the_import(sqlite_engine: Engine) -> None:
    """Units are parsed as expressions: '9**9**9 kWh' would make Python build a 370-million-digit integer."""
    make_org(sqlite_engine)
    out = subprocess.run([sys.executable, "-c", STALL, str(sqlite_engine.url)], capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[(2, 'unit', 'unit_mismatch'), (3, 'unit', 'unit_mismatch')]", out.stderr


# ---------------------------------------------------------------- property tests: helpers

COUNTED = (ImportBatch, ActivityRecord, QuarantineRow, FindingRecord, AuditEntry)
WHOLE_FILE = ("not a text file", "cannot be read as CSV", "not a readable .xlsx", "no data rows")


def table_counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return {m.__tablename__: int(s.execute(select(func.count()).select_from(m)).scalar_one())
                for m in COUNTED}


def _csv(rows: list[list[str]], lineterminator: str = "\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=lineterminator).writerows(r for r in rows if r)
    return buf.getvalue().encode()


def attempt(engine: Engine, data: bytes, name: str, partial: bool = False) -> None:
    """Import ``data``; check the outcome is a stored batch or a RareecoError that stored nothing.

    The caller's transaction commits even after the error (as a caller that carries on would):
    nothing may have been written before the error was raised.
    """
    try:
        table: pd.DataFrame | None = read_table(data, name)
        table_error: RareecoError | None = None
    except RareecoError as exc:          # any other exception from reading fails the test
        table, table_error = None, exc
    before = table_counts(engine)
    error: RareecoError | None = None
    with session_scope(engine) as s:
        try:
            result = import_activity(s, ORG, data, name, "hypothesis", partial=partial)
        except RareecoError as exc:      # any other exception fails the test
            error = exc
    after = table_counts(engine)
    if error is not None:
        assert after == before, f"{type(error).__name__} {error.message} but stored {before} → {after}"
        check_error(error, name, table, table_error)
        return
    assert table is not None and table_error is None
    assert result.rows_total == len(table) > 0
    assert result.rows_stored + result.rows_quarantined == result.rows_total
    assert after["activity_records"] - before["activity_records"] == result.rows_stored
    assert after["quarantine_rows"] - before["quarantine_rows"] == result.rows_quarantined
    assert after["import_batches"] - before["import_batches"] == 1
    if not partial:
        assert result.rows_quarantined == 0
        assert not [f for f in result.findings if f.severity == "blocking"]


def check_error(error: RareecoError, name: str, table: pd.DataFrame | None,
                table_error: RareecoError | None) -> None:
    """Whole-file problems name the file; problems of a readable table say where (row and column)."""
    assert error.message and error.fix, error
    if isinstance(error, DuplicateImportError):
        return
    assert isinstance(error, ValidationFailed), error
    if table_error is not None or table is None:
        assert type(error) is type(table_error) and error.message == table_error.message
        assert error.message.startswith(f"{name}: ") and any(w in error.message for w in WHOLE_FILE), error
        return
    if not error.findings:    # a readable header without data rows is the one table-level refusal
        assert len(table) == 0 and "no data rows" in error.message, error
        return
    blocking = [f for f in error.findings if f.severity == "blocking"]
    assert blocking, error.findings
    for f in blocking:
        assert f.file == name and f.column and f.fix and f.message, f
        if f.row is not None:
            assert f.row == 1 or 2 <= f.row <= len(table) + 1, f
            assert f.code.endswith("_column") or f.column in COLUMNS, f
    assert any(f.row is not None for f in blocking), blocking


# ---------------------------------------------------------------- property tests: strategies

NASTY = [
    "", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "9" * 400, "-5", "-0",
    "0x1F", "1,2,3", "1.2.3", "1,000.5", "12,34", "1_000", "１２３", "2024-13-01", "2024-02-30", "2023-02-29",
    "31/12/2024", "2024/02/29", "2024.03.01", "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01",
    "2024-1-1", "20240101", "kg", "kWh", "MWh", "GJ", "m³", "m3", "万立方米", "t·km", "t CO2", "-1 kWh",
    "0 MWh",
    "(", "1/0", "electricity.grd", "fuel.unknown", "production.output", "electricity.green_certificate",
    "atlantis", "BAOTOU", "None", "NULL", "TRUE", "=1+1", "\u200b", "中文", "\x00", "a\tb", "line\nbreak",
    '"quoted"', "\\N", "x" * 500, "sep", "la2o3", "🔥"]
garbage = st.one_of(st.sampled_from(NASTY), st.text(max_size=30), st.integers(-10**30, 10**30).map(str),
                    st.floats().map(repr), st.floats(allow_nan=False).map(str))
VALID: dict[str, st.SearchStrategy[str]] = {
    "site": st.sampled_from(["baotou", "ganzhou"]),
    "period_start": st.dates(date(2023, 1, 1), date(2024, 12, 31)).map(date.isoformat),
    "period_end": st.dates(date(2024, 1, 1), date(2025, 6, 30)).map(date.isoformat),
    "activity": st.sampled_from(["electricity.grid", "fuel.natural_gas", "fuel.diesel", "production.output"]),
    "amount": st.decimals(0, 10**6, places=3).map(str),
    "unit": st.sampled_from(["kWh", "MWh", "Nm3", "万Nm3", "t", "kg"]),
    "line": st.sampled_from(["", "sep"]),
    "product": st.sampled_from(["", "la2o3"]),
}


@st.composite
def garbage_csv(draw: st.DrawFn) -> bytes:
    """A CSV whose header, cells, quoting and encoding may each be broken."""
    cols = [*REQUIRED, *draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=3))]
    if draw(st.integers(0, 7)) == 0:                                          # missing columns
        gone = draw(st.lists(st.sampled_from(REQUIRED), unique=True, min_size=1, max_size=3))
        cols = [c for c in cols if c not in gone]
    if draw(st.integers(0, 7)) == 0:                                          # unknown, empty or repeated
        cols.append(draw(st.sampled_from(["comment", "", "amount", "Site", " UNIT "])))
    cols = draw(st.permutations(cols))
    header = [draw(st.sampled_from([c, c.upper(), f" {c} ", c.title()])) for c in cols]
    rate = draw(st.sampled_from([0, 10, 50, 100]))                           # % garbage cells
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = [draw(garbage) if draw(st.integers(0, 99)) < rate
               else draw(VALID.get(c.strip().lower(), st.text(max_size=8))) for c in cols]
        ragged = draw(st.integers(0, 15))
        if ragged == 0:
            row.append(draw(garbage))
        elif ragged == 1 and row:
            row.pop()
        rows.append(row)
    body = _csv([header, *rows], draw(st.sampled_from(["\n", "\r\n"]))).decode()
    for _ in range(draw(st.integers(0, 2))):                                  # broken quoting, stray bytes
        at = draw(st.integers(0, len(body)))
        stray = draw(st.sampled_from(['"', '""', ",", "\n", "\r", "\x00", "\ufeff", ";"]))
        body = body[:at] + stray + body[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return body.encode(encoding, errors="replace")


_orgs = itertools.count()


def fresh_org(engine: Engine) -> str:
    org = f"p{next(_orgs)}"
    make_org(engine, org)
    return org


def _ensure_acme(engine: Engine) -> None:
    with session_scope(engine) as s:
        exists = s.get(models.Organisation, ORG) is not None
    if not exists:
        make_org(engine)


PROPERTY = settings(deadline=None, database=None,   # no example database left in the work tree
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# ---------------------------------------------------------------- property tests

@settings(PROPERTY, max_examples=150)
@given(data=garbage_csv(), partial=st.booleans())
def test_garbage_csv_ends_in_success_or_a_located_rareeco_error(sqlite_engine: Engine, data: bytes,
                                                                partial: bool) -> None:
    _ensure_acme(sqlite_engine)
    attempt(sqlite_engine, data, "garbage.csv", partial)


@settings(PROPERTY, max_examples=60)
@given(data=st.one_of(st.binary(max_size=2000), st.binary(max_size=64).map(lambda b: b"PK\x03\x04" + b)),
       name=st.sampled_from(["random.csv", "random.xlsx", "RANDOM.XLSX", "random"]))
def test_random_bytes_as_a_file(sqlite_engine: Engine, data: bytes, name: str) -> None:
    _ensure_acme(sqlite_engine)
    attempt(sqlite_engine, data, name)


xlsx_cell = st.one_of(garbage, st.floats(), st.integers(-10**15, 10**15), st.booleans(), st.none(),
                      st.datetimes(), st.dates(), *VALID.values())


@settings(PROPERTY, max_examples=30)
@given(rows=st.lists(st.lists(xlsx_cell, max_size=8), max_size=5), header=st.permutations(COLUMNS[:8]),
       damage=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=2))
def test_garbage_xlsx_ends_in_success_or_a_located_rareeco_error(sqlite_engine: Engine, rows: list[list[Any]],
                                                                 header: list[str],
                                                                 damage: list[tuple[float, int]]) -> None:
    _ensure_acme(sqlite_engine)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "activity"
    try:
        for r in [header[: 6 + len(rows) % 3], *rows]:
            ws.append(r)
    except IllegalCharacterError:    # openpyxl refuses control characters: not a file Excel makes
        assume(False)
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    for where, byte in damage:       # a damaged download
        data[int(where * (len(data) - 1))] = byte
    attempt(sqlite_engine, bytes(data), "garbage.xlsx")


UNITS = {  # (activity, unit as written) → factor to the catalogue's canonical unit
    ("electricity.grid", "kWh"): Decimal("0.001"), ("electricity.grid", "MWh"): Decimal(1),
    ("electricity.grid", "万kWh"): Decimal(10), ("fuel.natural_gas", "Nm3"): Decimal(1),
    ("fuel.natural_gas", "万Nm3"): Decimal(10000), ("fuel.diesel", "t"): Decimal(1),
    ("fuel.diesel", "kg"): Decimal("0.001"),
}


@st.composite
def valid_row(draw: st.DrawFn) -> tuple[list[str], Decimal]:
    """A valid row and its amount in the canonical unit."""
    activity, unit = draw(st.sampled_from(sorted(UNITS)))
    amount = draw(st.decimals(0, 10**9, places=3))
    written = draw(st.sampled_from([str(amount), f"{amount:,}", f"{float(amount):e}", f" {amount} "]))
    start = draw(st.dates(date(2022, 1, 1), date(2025, 12, 31)))
    end = start + timedelta(days=draw(st.integers(0, 365)))
    sep = draw(st.sampled_from(["-", "/"]))
    site = draw(st.sampled_from(["baotou", "ganzhou"]))
    line = draw(st.sampled_from(["", "sep"])) if site == "baotou" else ""
    note = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10))
    cells = [site, start.isoformat().replace("-", sep), end.isoformat().replace("-", sep), activity, written,
             unit, line, note]
    return cells, Decimal(written.replace(",", "").strip()) * UNITS[(activity, unit)]


@settings(PROPERTY, max_examples=40)
@given(rows=st.lists(valid_row(), min_size=1, max_size=30))
def test_valid_rows_are_stored_in_canonical_units_and_refused_twice(
        sqlite_engine: Engine, rows: list[tuple[list[str], Decimal]]) -> None:
    org = fresh_org(sqlite_engine)
    data = _csv([["site", "period_start", "period_end", "activity", "amount", "unit", "line", "note"],
                 *[cells for cells, _ in rows]])
    with session_scope(sqlite_engine) as s:
        r = import_activity(s, org, data, "valid.csv", "hypothesis")
    assert (r.rows_stored, r.rows_quarantined) == (len(rows), 0)
    with session_scope(sqlite_engine) as s:
        stored = dict(s.execute(select(ActivityRecord.row_no, ActivityRecord.amount)
                                .where(ActivityRecord.batch_id == r.batch_id)).all())
    expected = {i + 2: float(canonical) for i, (_, canonical) in enumerate(rows)}
    assert stored == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert sum(stored.values()) == pytest.approx(float(sum(c for _, c in rows)), rel=1e-9, abs=1e-9)
    before = table_counts(sqlite_engine)
    with pytest.raises(DuplicateImportError), session_scope(sqlite_engine) as s:
        import_activity(s, org, data, "valid-again.csv", "hypothesis")
    assert table_counts(sqlite_engine) == before
