"""Meters and the time-series store: CSV import (long and wide), roll-ups, findings, sub-meter balance.

Every expected value is small enough to add up by hand; the store runs on SQLite and PostgreSQL (``engine``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import make_org
from rareeco.energy.meters import balance, monthly_kgce, totals, tree
from rareeco.errors import DuplicateImportError, ValidationFailed
from rareeco.ingest.meter_csv import import_csv
from rareeco.ledger import structure
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import Meter, Point, SeriesBatch
from rareeco.timeseries.store import rollup


def meters(engine, interval_s=900):  # type: ignore[no-untyped-def]
    """Main meter MAIN (kWh) on line sep with two sub-meters A and B."""
    make_org(engine)
    with session_scope(engine) as s:
        structure.add_meter(s, "acme", "baotou", "MAIN", "electricity.grid", "sep", unit="kWh", interval_s=interval_s)
        structure.add_meter(s, "acme", "baotou", "A", "electricity.grid", "sep", parent="MAIN", role="sub",
                            name="SX agitators", unit="kWh", interval_s=interval_s)
        structure.add_meter(s, "acme", "baotou", "B", "electricity.grid", "sep", parent="MAIN", role="sub",
                            unit="kWh", interval_s=interval_s)


def csv(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def ids(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return {m.code: m.series_id for m in s.execute(select(Meter)).scalars()}


def wide_day(day: str = "2025-03-01") -> str:
    """One hour of 15-minute readings: MAIN 10 per quarter hour, A 4, B 5 → hour totals 40, 16, 20."""
    rows = [f"{day}T08:{m:02d}:00,10,4,5" for m in (0, 15, 30, 45)]
    return "timestamp,MAIN,A,B\n" + "\n".join(rows) + "\n"


def test_wide_import_rolls_up_and_balances(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine)
    with session_scope(engine) as s:
        r = import_csv(s, "acme", csv(tmp_path, "scada.csv", wide_day()))
    assert (r["layout"], r["points_stored"], r["duplicates"]) == ("wide", 12, 0)
    sid = ids(engine)
    with session_scope(engine) as s:
        hours = rollup(s, [sid["MAIN"], sid["A"]], "h")
        assert hours[["total", "n", "low", "high"]].values.tolist() == [[40.0, 4, 10.0, 10.0], [16.0, 4, 4.0, 4.0]]
        assert str(hours["start"].iloc[0]) == "2025-03-01 08:00:00"      # local time, the hour opened at 08:00
        month = totals(s, list(s.execute(select(Meter).where(Meter.code == "MAIN")).scalars()), "m")
        assert month["total"].tolist() == [pytest.approx(0.040)]          # MWh, the carrier's unit
        b = balance(s, "acme", "h")
    assert len(b) == 1
    assert (b[0]["main"], b[0]["sub_total"], b[0]["unaccounted"]) == (
        pytest.approx(0.040), pytest.approx(0.036), pytest.approx(0.004))
    assert b[0]["unaccounted_pct"] == pytest.approx(10.0)


def test_tree_lists_sub_meters_under_their_main(engine):  # type: ignore[no-untyped-def]
    meters(engine)
    with session_scope(engine) as s:
        rows = tree(s, "acme")
    assert [(r["code"], r["depth"], r["parent"]) for r in rows] == [("MAIN", 0, None), ("A", 1, "MAIN"),
                                                                    ("B", 1, "MAIN")]
    assert rows[1]["name"] == "SX agitators" and rows[1]["unit"] == "kWh" and rows[1]["interval_s"] == 900


def test_reimport_is_refused_and_overlap_is_not_double_counted(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine)
    first = csv(tmp_path, "a.csv", "meter,timestamp,value\nMAIN,2025-03-01T08:00:00,10\nMAIN,2025-03-01T08:15:00,10\n")
    with session_scope(engine) as s:
        import_csv(s, "acme", first)
    with pytest.raises(DuplicateImportError, match="already imported as meter batch"), session_scope(engine) as s:
        import_csv(s, "acme", first)
    # the next export repeats 08:15 and adds 08:30: one duplicate, one new reading
    second = csv(tmp_path, "b.csv", "meter,timestamp,value\nMAIN,2025-03-01T08:15:00,10\nMAIN,2025-03-01T08:30:00,7\n")
    with session_scope(engine) as s:
        r = import_csv(s, "acme", second)
    assert (r["points_stored"], r["duplicates"], r["conflicts"]) == (1, 1, 0)
    with session_scope(engine) as s:
        h = rollup(s, [ids(engine)["MAIN"]], "h")
    assert h[["total", "n"]].values.tolist() == [[27.0, 3]]


def test_conflict_keeps_the_stored_value_and_says_so(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine)
    with session_scope(engine) as s:
        import_csv(s, "acme", csv(tmp_path, "a.csv", "meter,timestamp,value\nMAIN,2025-03-01T08:00:00,10\n"))
        r = import_csv(s, "acme", csv(tmp_path, "b.csv", "meter,timestamp,value\nMAIN,2025-03-01T08:00:00,12\n"))
    assert (r["points_stored"], r["conflicts"]) == (0, 1)
    assert any("12 differs from the stored 10, which is kept" in f["message"] for f in r["findings"])
    with session_scope(engine) as s:
        assert s.execute(select(Point.value)).scalars().all() == [10.0]


def test_late_gap_and_spike_findings(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine, interval_s=60)
    # 12 one-minute readings of 1.0 from 08:00 with 08:05 missing and a 500 spike at 08:09
    vals = {m: 1.0 for m in range(13) if m != 5}
    vals[9] = 500.0
    body = "".join(f"MAIN,2025-03-01T08:{m:02d}:00,{v}\n" for m, v in vals.items())
    with session_scope(engine) as s:
        r = import_csv(s, "acme", csv(tmp_path, "a.csv", "meter,timestamp,value\n" + body))
    codes = {f["code"]: f for f in r["findings"] if "series_id" in f}
    assert ("MAIN: 1 interval(s) of 60 s missing from 2025-03-01T08:05:00+08:00 to "
            "2025-03-01T08:06:00+08:00") in codes["gap"]["message"]
    assert codes["spike"]["ts"] == "2025-03-01T08:09:00+08:00" and codes["spike"]["value"] == 500.0
    # the missing minute arrives later: filed in place, reported as late, and the hour is complete
    with session_scope(engine) as s:
        r = import_csv(s, "acme", csv(tmp_path, "b.csv", "meter,timestamp,value\nMAIN,2025-03-01T08:05:00,1.0\n"))
        h = rollup(s, [ids(engine)["MAIN"]], "h")
    assert r["late"] == 1 and any(f["code"] == "late" for f in r["findings"])
    assert h[["total", "n"]].values.tolist() == [[512.0, 13]]


def test_bad_rows_store_nothing_and_name_row_and_column(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine)
    body = ("meter,timestamp,value\nMAIN,2025-03-01T08:00:00,10\nNOPE,2025-03-01T08:00:00,1\n"
            "A,yesterday,3\nB,2025-03-01T08:00:00,1,5\n")
    with pytest.raises(ValidationFailed) as e, session_scope(engine) as s:
        import_csv(s, "acme", csv(tmp_path, "bad.csv", body.replace("1,5", "1.5x")))
    where = {(f.code, f.row, f.column) for f in e.value.findings}
    assert where == {("unknown_meter", 3, "meter"), ("bad_timestamp", 4, "timestamp"), ("bad_value", 5, "value")}
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(Point)).scalar() == 0
        assert s.execute(select(func.count()).select_from(SeriesBatch)).scalar() == 0


def test_wide_unknown_column_and_empty_cells(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine)
    with pytest.raises(ValidationFailed, match="unknown meter column") as e, session_scope(engine) as s:
        import_csv(s, "acme", csv(tmp_path, "w.csv", "timestamp,MAIN,XX\n2025-03-01T08:00:00,1,2\n"))
    assert e.value.findings[0].column == "XX"
    with session_scope(engine) as s:     # an empty cell is a missing reading, not an error
        r = import_csv(s, "acme", csv(tmp_path, "w2.csv", "timestamp,MAIN,A\n2025-03-01T08:00:00,1,\n"))
    assert r["points_stored"] == 1


def test_local_month_boundary_and_end_stamps(engine, tmp_path):  # type: ignore[no-untyped-def]
    meters(engine, interval_s=3600)
    # 23:30 local on 31 January is 15:30 UTC: January.  An end-stamped reading at 00:00 on 1 February covers
    # 23:00–24:00 on 31 January: also January.
    with session_scope(engine) as s:
        import_csv(s, "acme", csv(tmp_path, "a.csv", "meter,timestamp,value\nMAIN,2025-01-31T23:30:00,2\n"))
        import_csv(s, "acme", csv(tmp_path, "b.csv", "meter,timestamp,value\nMAIN,2025-02-01T00:00:00+08:00,3\n"),
                   stamp="end")
        m = rollup(s, [ids(engine)["MAIN"]], "m")
    assert m[["total", "n"]].values.tolist() == [[5.0, 2]]
    assert str(m["start"].iloc[0]) == "2025-01-01 00:00:00"


def test_monthly_kgce_counts_each_line_once(engine, tmp_path):  # type: ignore[no-untyped-def]
    """Sub-meters are inside their main meter: the line's energy is the main meter's alone.
    40 kWh × 0.1229 kgce/kWh (GB/T 2589-2020, equivalent value) = 4.916 kgce."""
    meters(engine)
    with session_scope(engine) as s:
        import_csv(s, "acme", csv(tmp_path, "scada.csv", wide_day()))
        m = monthly_kgce(s, "acme", 2025)
    assert m["month"].tolist() == [3]
    assert m["kgce"].tolist() == [pytest.approx(40 * 0.1229)]


def test_meter_registration_errors(engine):  # type: ignore[no-untyped-def]
    meters(engine)
    with pytest.raises(ValidationFailed, match="cannot sit under"), session_scope(engine) as s:
        structure.add_meter(s, "acme", "baotou", "GAS", "fuel.natural_gas", parent="MAIN", role="sub")
    with pytest.raises(Exception, match="Nm3|dimension|convert"), session_scope(engine) as s:
        structure.add_meter(s, "acme", "baotou", "X", "electricity.grid", unit="Nm3")
    with pytest.raises(ValidationFailed, match="role"), session_scope(engine) as s:
        structure.add_meter(s, "acme", "baotou", "Y", "electricity.grid", role="virtual")


# --- the demo's meters -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    from rareeco.demo.load import load_demo
    from rareeco.ledger.db import make_engine

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    yield eng
    eng.dispose()


def test_demo_meters_agree_with_the_invoices(demo):  # type: ignore[no-untyped-def]
    """Each demo main meter's month is its line's invoiced energy, so the EnPI from meters (metered carriers
    replaced by the meters' months, diesel still from invoices) is the ledger's to rounding of the readings."""
    from datetime import date

    from rareeco.energy.enpi import monthly
    from rareeco.energy.meters import metered_records
    from rareeco.energy.service import structure_keys
    from rareeco.inventory.service import factor_table, load_records

    with session_scope(demo) as s:
        records = load_records(s, "demo", date(2025, 1, 1), date(2025, 12, 31))
        _, keys, _ = structure_keys(s, "demo")
        table = factor_table(s, "demo")
        invoiced = monthly(records, 2025, table, keys)
        metered = monthly(metered_records(s, "demo", 2025, records), 2025, table, keys)
        replaced = metered_records(s, "demo", 2025, records)
    both = invoiced.merge(metered, on=["line", "month"], suffixes=("_inv", "_met"))
    assert len(both) == 48
    assert (both["kgce_met"] / both["kgce_inv"] - 1).abs().max() < 1e-5
    assert (replaced["id"] == -1).sum() == 6 * 12     # six metered line carriers × 12 months


def test_demo_balance_and_reimport(demo):  # type: ignore[no-untyped-def]
    from rareeco.demo.meters import load_meters

    with session_scope(demo) as s:
        rows = balance(s, "demo", "m")
        assert load_meters(s, "demo", "test") is None       # a second load imports nothing
        # 10 meters × 17,544 h, and the daily temperatures of two sites over 731 days
        assert s.execute(select(func.count()).select_from(Point)).scalar() == 175_440 + 2 * 731
    assert {r["meter"] for r in rows} == {"BT-SEP-EL"} and len(rows) == 24
    # the agitators, pumps and process sub-meters read 96 % of the incomer: 4 % unaccounted every month
    assert all(abs(r["unaccounted_pct"] - 4.0) < 0.01 for r in rows)


def test_demo_enpi_from_meters_and_targets(demo):  # type: ignore[no-untyped-def]
    """The 7.82 % fall of the demo's energy per tonne is seen the same from the meters as from the invoices;
    the demo's 2025 targets (energy-targets.yaml): separation and recycling met, metal (1,210.4 against 1,200)
    and magnet (1,142.1 against 1,100) missed."""
    from rareeco.energy.service import enpi

    with session_scope(demo) as s:
        invoiced, metered = enpi(s, "demo", 2025), enpi(s, "demo", 2025, source="meters")
    assert round(invoiced["yoy_change_pct"], 2) == -7.82
    assert metered["yoy_change_pct"] == pytest.approx(invoiced["yoy_change_pct"], abs=1e-3)
    assert {k: v["met"] for k, v in metered["targets"].items()} == {
        "baotou / separation": True, "baotou / metal": False, "ganzhou / recycling": True, "ganzhou / magnet": False}
