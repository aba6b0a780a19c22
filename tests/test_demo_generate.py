"""The demo producer's data generator: deterministic, catalogue-consistent and physically plausible."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from rareeco.demo.downstream import downstream_rows
from rareeco.demo.generate import COLUMNS, activity_rows, load_structure, write_year_csv, write_year_xlsx

CATALOGUE = Path(__file__).resolve().parents[1] / "src" / "rareeco" / "reference" / "data" / "activities.csv"
EXPECTED_COLUMNS = ["site", "line", "product", "period_start", "period_end", "activity", "amount", "unit",
                    "supplier", "evidence", "note"]
CAPACITY_T_REO = {"separation": 3000.0, "recycling": 2000.0}
YEARS = (2024, 2025)
TO_T = {"t": 1.0, "kg": 1e-3}


def _catalogue_ids() -> set[str]:
    with CATALOGUE.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {r["activity"] for r in rows}


@pytest.fixture(scope="module", params=YEARS)
def year_rows(request: pytest.FixtureRequest) -> tuple[int, pd.DataFrame]:
    frame = activity_rows(request.param)
    frame = frame.assign(value=pd.to_numeric(frame["amount"]))
    return request.param, frame


def _tonnes(frame: pd.DataFrame) -> pd.Series:
    assert set(frame["unit"]) <= set(TO_T), set(frame["unit"])
    return frame["value"] * frame["unit"].map(TO_T)


@pytest.mark.parametrize("year", YEARS)
def test_same_output_every_call(year: int) -> None:
    pd.testing.assert_frame_equal(activity_rows(year), activity_rows(year))


def test_years_differ_and_other_years_are_refused() -> None:
    assert not activity_rows(2024)["amount"].equals(activity_rows(2025)["amount"])
    with pytest.raises(ValueError):
        activity_rows(2023)


def test_exact_columns(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    assert list(activity_rows(2024).columns) == EXPECTED_COLUMNS == list(COLUMNS)
    assert list(frame.columns[:-1]) == EXPECTED_COLUMNS


def test_every_activity_is_in_the_catalogue(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    unknown = set(frame["activity"]) - _catalogue_ids()
    assert not unknown


def test_structure_matches_rows(year_rows: tuple[int, pd.DataFrame]) -> None:
    year, frame = year_rows
    structure = load_structure()
    assert structure["organisation"]["id"] == "demo"
    assert structure["sites"]["baotou"]["grid_region"] == "CN-NORTH"
    assert structure["sites"]["ganzhou"]["province"] == "CN-JX"
    lines = {site: set(spec["lines"]) for site, spec in structure["sites"].items()}
    chain = downstream_rows(year)
    both = pd.concat([frame, chain])
    assert {(s, ln) for s, ln in zip(frame["site"], frame["line"], strict=True)} == \
        {("baotou", "separation"), ("ganzhou", "recycling")}
    assert {(s, ln) for s, ln in zip(both["site"], both["line"], strict=True)} == \
        {(s, ln) for s, names in lines.items() for ln in names}
    made = both.loc[both["activity"] == "production.output", ["site", "line", "product"]].drop_duplicates()
    assert len(made) == len(structure["products"]) == 11
    for _, r in made.iterrows():
        product = structure["products"][r["product"]]
        assert (product["site"], product["line"]) == (r["site"], r["line"])
    assert (frame.loc[frame["activity"] == "production.output", "product"] != "").all()


def test_twelve_months_for_both_sites(year_rows: tuple[int, pd.DataFrame]) -> None:
    year, frame = year_rows
    starts = {date(year, m, 1).isoformat() for m in range(1, 13)}
    for site in ("baotou", "ganzhou"):
        rows = frame[frame["site"] == site]
        assert set(rows["period_start"]) == starts
        for activity in ("electricity.grid", "fuel.natural_gas", "production.output", "process.oxalic_acid"):
            assert set(rows.loc[rows["activity"] == activity, "period_start"]) == starts, (site, activity)


def test_periods_are_whole_months(year_rows: tuple[int, pd.DataFrame]) -> None:
    year, frame = year_rows
    start = pd.to_datetime(frame["period_start"], format="%Y-%m-%d")
    end = pd.to_datetime(frame["period_end"], format="%Y-%m-%d")
    assert (end >= start).all()
    assert ((start.dt.year == end.dt.year) & (start.dt.month == end.dt.month)).all()
    assert (start.dt.day == 1).all() and end.dt.is_month_end.all() and (start.dt.year == year).all()


def test_no_negative_or_missing_amounts(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    assert frame["value"].notna().all()
    assert (frame["value"] >= 0).all()


def test_production_within_capacity(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    prod = frame[frame["activity"] == "production.output"]
    per_line = _tonnes(prod).groupby(prod["line"]).sum()
    assert set(per_line.index) == set(CAPACITY_T_REO)
    for line, total in per_line.items():
        assert 0.75 * CAPACITY_T_REO[line] < total <= CAPACITY_T_REO[line], (line, total)


def test_2025_produces_more_with_less_energy_per_tonne() -> None:
    def per_site(year: int) -> pd.DataFrame:
        f = activity_rows(year)
        f = f.assign(value=pd.to_numeric(f["amount"]))
        to_mwh = f["unit"].map({"kWh": 1e-3, "MWh": 1.0})
        to_nm3 = f["unit"].map({"Nm3": 1.0, "万Nm3": 1e4})
        elec = f["activity"].isin(["electricity.grid", "electricity.onsite_solar"])
        return pd.DataFrame({
            "t": f.loc[f["activity"] == "production.output"].groupby("site")["value"].sum(),
            "mwh": (f["value"] * to_mwh)[elec].groupby(f["site"]).sum(),
            "nm3": (f["value"] * to_nm3)[f["activity"] == "fuel.natural_gas"].groupby(f["site"]).sum(),
        })

    a, b = per_site(2024), per_site(2025)
    assert (b["t"] > a["t"]).all()
    assert (b["mwh"] / b["t"] < a["mwh"] / a["t"]).all()
    assert (b["nm3"] / b["t"] < a["nm3"] / a["t"]).all()
    specific = a["mwh"] / a["t"]
    assert ((specific > 1.0) & (specific < 5.0)).all()   # a few MWh per t REO


def test_oxalic_acid_per_tonne_oxide(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    calcined = frame[frame["activity"].str.startswith("process.oxalate_calcination.")]
    acid = frame[frame["activity"] == "process.oxalic_acid"]
    keys = ["site", "period_start"]
    oxide_t = _tonnes(calcined).groupby([calcined[k] for k in keys]).sum()
    acid_t = _tonnes(acid).groupby([acid[k] for k in keys]).sum()
    ratio = acid_t / oxide_t
    assert len(ratio) == 24
    assert ((ratio >= 1.0) & (ratio <= 1.6)).all(), ratio
    bought = frame[frame["activity"] == "purchased.oxalic_acid"]
    assert _tonnes(bought).sum() == pytest.approx(_tonnes(acid).sum(), rel=0.05)


def test_calcination_matches_oxide_production(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    prod = frame[(frame["activity"] == "production.output") & ~frame["product"].str.endswith("concentrate")]
    calcined = frame[frame["activity"].str.startswith("process.oxalate_calcination.")]
    assert _tonnes(calcined).sum() == pytest.approx(_tonnes(prod).sum(), abs=0.1 * len(prod))
    oxides = {site: set(calcined.loc[calcined["site"] == site, "activity"].str.rsplit(".", n=1).str[1])
              for site in ("baotou", "ganzhou")}
    assert oxides == {"baotou": {"La2O3", "CeO2", "Nd2O3", "Pr6O11"}, "ganzhou": {"Nd2O3", "Pr6O11", "Dy2O3"}}


def test_hcl_per_tonne_scrap_at_ganzhou(year_rows: tuple[int, pd.DataFrame]) -> None:
    # REFERENCE.md §3: at least 1.13 t HCl (100%) per t scrap; purchased.hcl is 31% acid (catalogue)
    _, frame = year_rows
    g = frame[frame["site"] == "ganzhou"]
    scrap_t = g.loc[g["activity"] == "transport.road", "value"].sum() / 540.0
    hcl100_t = _tonnes(g[g["activity"] == "purchased.hcl"]).sum() * 0.31
    assert 1.13 <= hcl100_t / scrap_t <= 1.8


def test_mgo_only_in_2025_at_baotou(year_rows: tuple[int, pd.DataFrame]) -> None:
    year, frame = year_rows
    mgo = frame[frame["activity"] == "purchased.mgo"]
    if year == 2024:
        assert mgo.empty
        return
    assert not mgo.empty and set(mgo["site"]) == {"baotou"}
    naoh = frame[(frame["activity"] == "purchased.naoh") & (frame["site"] == "baotou")]
    first, last = naoh["period_start"].min(), naoh["period_start"].max()
    per_t = naoh.set_index("period_start")["value"]
    assert per_t[last] < 0.5 * per_t[first]
    assert mgo["period_start"].min() > first


def test_2025_only_activities(year_rows: tuple[int, pd.DataFrame]) -> None:
    year, frame = year_rows
    solar = frame[frame["activity"] == "electricity.onsite_solar"]
    gec = frame[frame["activity"] == "electricity.green_certificate"]
    if year == 2024:
        assert solar.empty and gec.empty
        return
    assert set(solar["site"]) == {"baotou"} and len(solar) == 12
    summer = solar.loc[solar["period_start"] == "2025-05-01", "value"].item()
    winter = solar.loc[solar["period_start"] == "2025-12-01", "value"].item()
    assert summer > 1.5 * winter
    assert set(gec["site"]) == {"ganzhou"} and len(gec) == 4


def test_units_are_ones_plants_write(year_rows: tuple[int, pd.DataFrame]) -> None:
    _, frame = year_rows
    assert set(frame["unit"]) <= {"kWh", "MWh", "Nm3", "万Nm3", "t", "kg", "t·km"}
    by_activity = frame.groupby("activity")["unit"].agg(set)
    assert by_activity["electricity.grid"] == {"kWh", "MWh"}
    assert by_activity["fuel.natural_gas"] == {"Nm3", "万Nm3"}
    assert by_activity["transport.road"] == {"t·km"}


def test_written_files_round_trip(tmp_path: Path) -> None:
    frame = activity_rows(2024)
    csv_path = write_year_csv(2024, tmp_path / "demo-2024.csv")
    back = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    assert list(back.columns) == EXPECTED_COLUMNS
    assert len(back) == len(frame)
    assert back["amount"].astype(float).tolist() == pytest.approx(pd.to_numeric(frame["amount"]).tolist())
    assert "万Nm3" in set(back["unit"])
    xlsx_path = write_year_xlsx(2024, tmp_path / "demo-2024.xlsx")
    sheet = pd.read_excel(xlsx_path, sheet_name="2024")
    assert list(sheet.columns) == EXPECTED_COLUMNS and len(sheet) == len(frame)
