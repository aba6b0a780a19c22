"""Activity import on SQLite and PostgreSQL: findings, all-or-nothing, partial, duplicates, replace, locks."""

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select

from conftest import make_org
from rareeco.errors import DuplicateImportError, NotFoundError, PeriodLockedError, ValidationFailed
from rareeco.ingest.activity import import_activity
from rareeco.ledger import periods
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import ActivityRecord, ImportBatch, QuarantineRow

HEADER = "site,period_start,period_end,activity,amount,unit,line,product\n"
GOOD = HEADER + ("baotou,2024-01-01,2024-01-31,electricity.grid,1000,kWh,sep,\n"
                 "baotou,2024-01-01,2024-01-31,fuel.natural_gas,2.5,万Nm3,,\n"
                 "ganzhou,2024-01-01,2024-01-31,fuel.diesel,800,kg,,\n")


def imp(engine: Engine, text: str, name: str = "a.csv", **kw) -> object:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return import_activity(s, "acme", text.encode(), name, "tester", **kw)


def count(engine: Engine, model=ActivityRecord) -> int:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def amounts(engine: Engine) -> dict[str, float]:
    with session_scope(engine) as s:
        q = (select(ActivityRecord.activity, func.sum(ActivityRecord.amount))
             .join(ImportBatch, ImportBatch.id == ActivityRecord.batch_id)
             .where(ImportBatch.status == "active").group_by(ActivityRecord.activity))
        return {a: float(v) for a, v in s.execute(q).all()}


def test_units_converted_to_canonical(engine: Engine) -> None:
    make_org(engine)
    r = imp(engine, GOOD)
    assert (r.rows_total, r.rows_stored, r.rows_quarantined) == (3, 3, 0)
    assert amounts(engine) == pytest.approx({"electricity.grid": 1.0, "fuel.natural_gas": 25000.0,
                                             "fuel.diesel": 0.8})


BAD_ROWS = [  # (row text, column named in the finding, code)
    ("nowhere,2024-01-01,2024-01-31,electricity.grid,1,kWh,,", "site", "unknown_site"),
    ("baotou,2024-01-01,2024-01-31,electricity.grd,1,kWh,,", "activity", "unknown_activity"),
    ("baotou,2024-01-01,2024-01-31,electricity.grid,1,t,,", "unit", "unit_mismatch"),
    ("baotou,2024-01-01,2024-01-31,electricity.grid,-5,kWh,,", "amount", "negative_amount"),
    ("baotou,2024-01-01,2024-01-31,electricity.grid,1.2.3,kWh,,", "amount", "malformed_number"),
    ("baotou,2024-13-01,2024-01-31,electricity.grid,1,kWh,,", "period_start", "malformed_date"),
    ("baotou,2024-02-01,2024-01-31,electricity.grid,1,kWh,,", "period_end", "impossible_period"),
    ("baotou,2024-01-01,2024-01-31,electricity.grid,1,kWh,nope,", "line", "unknown_line"),
    ("baotou,2024-01-01,2024-01-31,production.output,1,t,,", "product", "product_required"),
    ("baotou,2024-01-01,2024-01-31,production.output,1,t,,zzz", "product", "unknown_product"),
]


@pytest.mark.parametrize(("row", "column", "code"), BAD_ROWS, ids=[b[2] for b in BAD_ROWS])
def test_each_bad_cell_is_a_finding_with_file_row_column_and_fix(engine: Engine, row: str, column: str,
                                                                  code: str) -> None:
    make_org(engine)
    with pytest.raises(ValidationFailed) as e:
        imp(engine, GOOD + row + "\n", "bad.csv")
    blocking = [f for f in e.value.findings if f.severity == "blocking"]
    assert [(f.file, f.row, f.column, f.code) for f in blocking] == [("bad.csv", 5, column, code)]
    assert blocking[0].fix
    assert count(engine) == 0 and count(engine, ImportBatch) == 0   # all-or-nothing


def test_partial_keeps_valid_rows_and_quarantines_the_rest(engine: Engine) -> None:
    make_org(engine)
    text = GOOD + "\n".join(r for r, _, _ in BAD_ROWS[:3]) + "\n"
    r = imp(engine, text, partial=True)
    assert (r.rows_stored, r.rows_quarantined) == (3, 3)
    with session_scope(engine) as s:
        q = list(s.execute(select(QuarantineRow).order_by(QuarantineRow.row_no)).scalars())
    assert [x.row_no for x in q] == [5, 6, 7]
    assert q[0].raw["site"] == "nowhere" and "unknown site" in q[0].reasons[0]


def test_missing_column_refused(engine: Engine) -> None:
    make_org(engine)
    with pytest.raises(ValidationFailed, match="missing column") as e:
        imp(engine, "site,period_start,activity,amount,unit\nbaotou,2024-01-01,electricity.grid,1,kWh\n")
    assert [f.column for f in e.value.findings] == ["period_end"]


def test_same_file_twice_is_refused_and_replace_supersedes_atomically(engine: Engine) -> None:
    make_org(engine)
    first = imp(engine, GOOD)
    with pytest.raises(DuplicateImportError, match=f"batch {first.batch_id}"):
        imp(engine, GOOD, "renamed.csv")
    corrected = GOOD.replace("1000,kWh", "2000,kWh")
    # a corrected file without --replace overlaps: advisory findings, both counted → the user is warned
    second = imp(engine, corrected, "b.csv", replace=first.batch_id)
    assert second.superseded_batch == first.batch_id
    assert amounts(engine)["electricity.grid"] == pytest.approx(2.0)      # counted once
    assert not [f for f in second.findings if f.code == "overlapping_period"]
    with pytest.raises(NotFoundError):
        imp(engine, GOOD.replace("1000", "3000"), "c.csv", replace=first.batch_id)   # already superseded
    # the superseded file may come back only by replacing the active batch
    third = imp(engine, GOOD, "a-again.csv", replace=second.batch_id)
    assert third.rows_stored == 3 and amounts(engine)["electricity.grid"] == pytest.approx(1.0)


def test_replace_that_fails_validation_leaves_the_old_batch_active(engine: Engine) -> None:
    make_org(engine)
    first = imp(engine, GOOD)
    with pytest.raises(ValidationFailed):
        imp(engine, GOOD + BAD_ROWS[0][0] + "\n", "bad.csv", replace=first.batch_id)
    with session_scope(engine) as s:
        assert s.get(ImportBatch, first.batch_id).status == "active"  # type: ignore[union-attr]
    assert amounts(engine)["electricity.grid"] == pytest.approx(1.0)


def test_overlapping_periods_are_flagged(engine: Engine) -> None:
    make_org(engine)
    imp(engine, GOOD)
    r = imp(engine, HEADER + "baotou,2024-01-15,2024-02-14,electricity.grid,10,MWh,sep,\n"
                             "baotou,2024-01-15,2024-02-14,electricity.grid,10,MWh,,\n", "b.csv")
    flagged = [(f.row, f.severity) for f in r.findings if f.code == "overlapping_period"]
    assert flagged == [(2, "advisory")]   # same site, activity, meter and line; the line-less row is separate


def test_locked_period_refuses_import_and_replace(engine: Engine) -> None:
    make_org(engine)
    first = imp(engine, GOOD)
    with session_scope(engine) as s:
        periods.lock(s, "acme", "2024-01", "verifier", "checked")
    with pytest.raises(ValidationFailed) as e:
        imp(engine, GOOD.replace("1000", "1001"), "b.csv")
    assert {f.code for f in e.value.findings if f.severity == "blocking"} == {"period_locked"}
    with pytest.raises(PeriodLockedError, match="2024-01"):
        imp(engine, GOOD.replace("2024-01", "2024-02"), "c.csv", replace=first.batch_id)
    imp(engine, GOOD.replace("2024-01", "2024-05"), "d.csv")   # another month is open


def test_xlsx_and_gb18030_csv_import_the_same_as_utf8(engine: Engine) -> None:
    make_org(engine)
    wb = Workbook()
    ws = wb.active
    for line in GOOD.strip().splitlines():
        ws.append(line.split(","))
    ws["E2"] = 1000          # a real number cell
    buf = io.BytesIO()
    wb.save(buf)
    with session_scope(engine) as s:
        r = import_activity(s, "acme", buf.getvalue(), "a.xlsx")
    assert r.rows_stored == 3
    with session_scope(engine) as s:
        r2 = import_activity(s, "acme", GOOD.replace("2024-01", "2024-03").replace("1000,kWh", "1000,千瓦时")
                             .encode("gb18030"), "gbk.csv")
    assert r2.rows_stored == 3
    assert amounts(engine)["electricity.grid"] == pytest.approx(2.0)


def test_volume_without_normal_conditions_is_advisory(engine: Engine) -> None:
    make_org(engine)
    r = imp(engine, HEADER + "baotou,2024-01-01,2024-01-31,fuel.natural_gas,1000,m3,,\n")
    assert [f.code for f in r.findings] == ["volume_assumed_normal"]


def test_the_database_allows_one_active_batch_per_file(engine: Engine) -> None:
    """Two imports racing past the duplicate check: the unique index lets only one land."""
    from sqlalchemy.exc import IntegrityError

    make_org(engine)
    first = imp(engine, GOOD)
    with pytest.raises(IntegrityError), session_scope(engine) as s:
        s.add(ImportBatch(org_id="acme", file_name="race.csv", sha256=first.sha256, imported_by="x",
                          imported_at=first_batch_time(engine), rows_total=3, rows_stored=3, status="active"))
        s.flush()


def first_batch_time(engine: Engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.execute(select(ImportBatch.imported_at)).scalars().first()


def test_a_very_long_file_name_is_kept_by_its_end(engine: Engine) -> None:
    make_org(engine)
    r = imp(engine, GOOD, "x" * 500 + ".csv")
    with session_scope(engine) as s:
        assert s.get(ImportBatch, r.batch_id).file_name == ("x" * 500 + ".csv")[-400:]  # type: ignore[union-attr]
