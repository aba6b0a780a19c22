"""The command line: the documented commands work and errors are one readable line each."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from rareeco.cli import app

runner = CliRunner()


def run(db: str, *args: str) -> str:
    r = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def run_main(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rareeco.cli", "--db", db, *args], capture_output=True,
                          text=True, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                                        "HOME": str(Path.home()), "RAREECO_USER": "tester"})


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run(url, "org", "create", "acme", "--name", "Acme Rare Earth")
    run(url, "site", "add", "acme", "baotou", "--province", "CN-NM")
    run(url, "line", "add", "acme", "baotou", "sep")
    run(url, "product", "add", "acme", "la2o3")
    return url


def test_template_round_trip_and_inventory_json(db: str, tmp_path: Path) -> None:
    xlsx = tmp_path / "t.xlsx"
    run(db, "template", "activity", "--xlsx", str(xlsx))
    wb = load_workbook(xlsx)
    assert wb.sheetnames == ["activity", "activities", "help"]
    # the template's example rows name product prnd-oxide and line separation: make them exist
    run(db, "line", "add", "acme", "baotou", "separation")
    run(db, "product", "add", "acme", "prnd-oxide")
    out = run(db, "import", str(xlsx), "--org", "acme")
    assert "3 of 3 rows imported" in out
    p = json.loads(run(db, "inventory", "--org", "acme", "--year", "2025", "--json"))
    for key in ("total_t_co2e", "scope1_t_co2e", "scope2_location_t_co2e", "scope2_market_t_co2e",
                "scope3_t_co2e", "gwp_set", "by_site", "by_month", "by_category", "by_gas"):
        assert key in p
    # 1,250,000 kWh × 0.6361 (North China 2023, latest year) = 795.125 t
    assert p["scope2_location_t_co2e"] == pytest.approx(795.125)
    # 18.5 万Nm3 × 389.31 GJ/万Nm3 × 56.1 kg CO2/GJ = 404.0424 t
    assert p["scope1_t_co2e"] == pytest.approx(18.5 * 389.31 * 56.1 / 1000)
    assert p["production_t"] == {"prnd-oxide": 62.4}


def test_errors_are_one_line_each_with_exit_code(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("site,period_start,period_end,activity,amount,unit\n"
                   "baotou,2024-01-01,2024-01-31,electricity.grid,12x,kWh\n"
                   "mars,2024-01-01,2024-01-31,electricity.grid,1,kWh\n")
    r = run_main(db, "import", str(bad), "--org", "acme")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error bad.csv: 2 of 2 rows have errors; nothing was imported")
    assert any("bad.csv, row 2, column 'amount': '12x' is not a number" in ln for ln in lines)
    assert any("bad.csv, row 3, column 'site': unknown site 'mars'" in ln for ln in lines)
    r = run_main(db, "import", str(bad), "--org", "acme", "--partial")
    assert r.returncode == 0 and "0 of 2 rows imported from bad.csv; 2 quarantined" in r.stdout
    r = run_main(db, "site", "add", "acme", "x", "--province", "Inner Mongolia")
    assert r.returncode == 1 and "ISO 3166-2" in r.stderr and "Traceback" not in r.stderr
    r = run_main("postgresql://nobody@127.0.0.1:1/none", "org", "list")
    assert r.returncode == 2 and "database unavailable" in r.stderr


def test_partial_import_and_quarantine_list(db: str, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("site,period_start,period_end,activity,amount,unit\n"
                 "baotou,2024-01-01,2024-01-31,electricity.grid,1000,kWh\n"
                 "baotou,2024-01-01,2024-01-31,electricity.grid,-1,kWh\n")
    out = run(db, "import", str(f), "--org", "acme", "--partial")
    assert "1 of 2 rows imported" in out and "1 quarantined" in out
    q = json.loads(run(db, "quarantine", "list", "--org", "acme", "--json"))
    assert q == [{"batch": 1, "row": 3, "reasons": ["amount: negative amount -1"], "raw": q[0]["raw"]}]


def test_factors_list_show_add_and_use(db: str, tmp_path: Path) -> None:
    out = run(db, "factors", "list", "--kind", "grid_co2")
    assert "grid.cn.2023" in out and "0.5306" in out
    out = run(db, "factors", "show", "grid.cn-nm.2022")
    assert "0.6849" in out and "MEE/NBS announcement of 2024-12-20" in out and "V — verified" in out
    f = tmp_path / "mee-2024.csv"
    f.write_text("factor_id,kind,key,year,gas,value,unit,source,tag,version\n"
                 "north.2024,grid_co2,CN-NORTH,2024,CO2,0.6,t CO2/MWh,my utility's statement,U,2026-01\n")
    run(db, "factors", "add", str(f), "--org", "acme")
    run(db, "factors", "use", "acme", "mee-2024", "--year", "2024")
    e = tmp_path / "e.csv"
    e.write_text("site,period_start,period_end,activity,amount,unit\nbaotou,2024-01-01,2024-01-31,"
                 "electricity.grid,10,MWh\n")
    run(db, "import", str(e), "--org", "acme")
    p = json.loads(run(db, "inventory", "--org", "acme", "--year", "2024", "--json"))
    assert p["scope2_location_t_co2e"] == pytest.approx(6.0)
    assert "mee-2024" in p["provenance"]["factor_sets"]


def test_activities_period_and_audit_commands(db: str, tmp_path: Path) -> None:
    cat = json.loads(run(db, "activities", "--json"))
    assert {"activity": "electricity.grid", "unit": "MWh"}.items() <= cat[0].items()
    run(db, "period", "lock", "acme", "2024-02", "--comment", "ok", "--actor", "vera")
    assert "2024-02 locked by vera" in run(db, "period", "list", "acme")
    assert "audit chain intact" in run(db, "audit", "verify")
    assert "period.lock" in run(db, "audit", "log", "--org", "acme")
    r = run_main(db, "period", "unlock", "acme", "2024-02")
    assert r.returncode == 1 and "needs a comment" in r.stderr


def test_cli_reference_in_docs_is_current() -> None:
    from rareeco.clidoc import render

    doc = Path(__file__).parents[1] / "docs" / "cli.md"
    assert doc.read_text("utf-8") == render() + "\n", "regenerate: python -m rareeco.clidoc > docs/cli.md"
