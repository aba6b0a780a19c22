"""``rareeco compliance``: settings import/show, the GB 26451 template refused until filled in, and the chain
process → events → ack → quantities with the figures of tests/test_compliance_report.py (worked there by hand)."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from rareeco.cli import app
from rareeco.errors import ValidationFailed
from rareeco.ingest.hj212_profile import Episode, Stack, frames
from rareeco.ledger.db import make_engine
from rareeco.monitoring import settings_template
from test_compliance import through_gateway
from test_compliance_report import MN, PW, SETTINGS, STACK

runner = CliRunner()


def run(db: str, *args: str) -> str:
    r = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def fails(db: str, *args: str) -> BaseException:
    r = runner.invoke(app, ["--db", db, *args])
    assert r.exit_code != 0 and r.exception is not None, r.output
    return r.exception


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run(url, "org", "create", "acme")
    run(url, "site", "add", "acme", "baotou", "--province", "CN-NM")
    run(url, "hj212", "station", "add", "acme", "baotou", MN, "--password", PW)
    return url


def shown(db: str) -> Any:
    return json.loads(run(db, "compliance", "settings", "show", "--org", "acme", "--json"))


def test_the_template_is_refused_until_filled_in(db: str, tmp_path: Path) -> None:
    data = settings_template.template("gb26451")                    # the reference file: cited and versioned
    assert (data["source"][:13], data["version"], data["air"]["limit_tag"]) == ("GB 26451-2011", "2011", "U")
    assert "value" not in str(data["air"])                              # no air limit value ships
    path = tmp_path / "gb26451.yaml"
    run(db, "compliance", "settings", "template", "gb26451", "--out", str(path))
    text = path.read_text("utf-8")
    assert text == run(db, "compliance", "settings", "template", "gb26451")      # --out writes what is printed
    raw = yaml.safe_load(text)
    air, water = raw["outlets"]
    assert [p["code"] for p in air["pollutants"]] == ["a21026", "a34013", "a21018", "a21002", "a21024", None, None,
                                                      None]
    assert [p["name"] for p in air["pollutants"][5:]] == ["Cl2", "Sulfuric acid mist", "Thorium and uranium (total)"]
    assert all(lim["value"] is None for p in air["pollutants"] for lim in p["limits"])   # U: never a value
    assert text.count("# U — fill in from GB 26451-2011") == 8
    (nh3,) = water["pollutants"]
    assert (nh3["name"], nh3["unit"], [lim["value"] for lim in nh3["limits"]]) == ("Ammonia nitrogen", "mg/L", [15])
    assert "# - value: 5" in text                                       # the special limit, commented out
    exc = fails(db, "compliance", "settings", "import", str(path), "--org", "acme")
    assert isinstance(exc, ValidationFailed)
    assert str(exc) == "gb26451.yaml: outlet DA001: pollutant a21026: limits[0]: no value"
    assert shown(db) == {}                                              # nothing stored
    # values filled in, codes not yet: refused at the first pollutant without a code
    path.write_text(re.sub(r"- value: null", "- value: 10", text), "utf-8")
    exc = fails(db, "compliance", "settings", "import", str(path), "--org", "acme")
    assert str(exc) == "gb26451.yaml: outlet DA001: pollutants[5]: code is missing or not a str"
    filled = re.sub(r"- value: null", "- value: 10", text)
    for i, code in enumerate(("cl2", "acidmist", "thu", "nh3n")):
        filled = filled.replace("- code: null", f"- code: \"x{code}{i}\"", 1)
    filled = filled.replace("mn: \"CHANGE-ME\"", f"mn: \"{MN}\"", 1).replace("CHANGE-ME", "baotou")
    path.write_text(filled, "utf-8")
    r = runner.invoke(app, ["--db", db, "compliance", "settings", "import", str(path), "--org", "acme"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "2 outlets, 9 pollutants, 9 limits imported from gb26451.yaml" in r.output
    assert "outlet DW001: no station baotou is registered" in r.output        # an advisory, on stderr
    assert shown(db)["outlets"][0]["pollutants"][0]["limits"][0]["value"] == 10


def test_settings_import_and_show(db: str, tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(SETTINGS, allow_unicode=True), "utf-8")
    out = run(db, "compliance", "settings", "import", str(path), "--org", "acme")
    assert "1 outlets, 1 pollutants, 4 limits imported" in out
    assert shown(db) == SETTINGS
    table = run(db, "compliance", "settings", "show", "--org", "acme")
    assert "permit 100 mg/m3/h" in table and "target 30 mg/m3/d" in table and "permit 0.1 t/y" in table
    bad = tmp_path / "bad.yaml"
    bad.write_text("outlets:\n  - code: DA002\n   mn: X\n", "utf-8")
    exc = fails(db, "compliance", "settings", "import", str(bad), "--org", "acme")
    assert str(exc).startswith("bad.yaml: not valid YAML (line 3, column 4)")
    wrong = json.loads(json.dumps(SETTINGS))
    wrong["outlets"][0]["pollutants"][0]["limits"][3]["period"] = "m"
    bad.write_text(yaml.safe_dump(wrong), "utf-8")
    exc = fails(db, "compliance", "settings", "import", str(bad), "--org", "acme")
    assert str(exc) == "bad.yaml: outlet DA001: pollutant a21026: limits[3]: unknown limit period 'm'"
    assert shown(db) == SETTINGS                                       # the previous settings are kept


def test_process_events_ack_quantities(db: str, tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(SETTINGS, allow_unicode=True), "utf-8")
    run(db, "compliance", "settings", "import", str(path), "--org", "acme")
    eng = make_engine(db)
    try:
        uploads = frames(STACK, datetime(2025, 11, 30, 20), datetime(2025, 11, 30, 22), "2061") + \
            frames(STACK, datetime(2025, 12, 1), datetime(2025, 12, 1, 12))
        assert through_gateway(eng, {MN: uploads}) == {"sent": 2 + 660, "acknowledged": 2 + 660}
    finally:
        eng.dispose()
    r = json.loads(run(db, "compliance", "process", "--org", "acme", "--json"))
    assert (r["processing"]["frames"], r["processing"]["points_stored"]) == (662, 3 * 662)
    assert r["range"] == {"start": "2025-11-30", "end": "2025-12-02"}          # the local days the frames cover
    assert sorted((e["period"], e["limit"], e["limit_kind"], e["peak"]) for e in r["new_events"]) == [
        ("d", 30.0, "target", pytest.approx(425 / 9)), ("d", 40.0, "permit", pytest.approx(425 / 9)),
        ("h", 100.0, "permit", 125.0)]
    again = json.loads(run(db, "compliance", "process", "--org", "acme", "--json"))
    assert (again["processing"]["frames"], again["new_events"], again["range"]) == (0, [], None)

    hours = json.loads(run(db, "compliance", "hours", "--org", "acme", "--outlet", "DA001", "--day", "2025-12-01",
                           "--json"))
    assert len(hours) == 24
    h0, h5, h10 = hours[0], hours[5], hours[10]
    assert (h0["converted"], h0["kg_h"], h0["status"]) == (pytest.approx(25.0), pytest.approx(1.8), "valid")
    assert (h5["measured"], h5["converted"], h5["kg_h"]) == (pytest.approx(250.0), pytest.approx(125.0),
                                                             pytest.approx(9.0))
    assert (hours[2]["status"], hours[2]["flags"], hours[9]["status"]) == ("invalid", "M:30", "missing")
    assert (h10["status"], h10["flags"], h10["kg_h"]) == ("stopped", "F:60", 0.0)

    events = json.loads(run(db, "compliance", "events", "--org", "acme", "--month", "2025-12", "--json"))
    assert [(e["start"], e["end"], e["period"], e["limit"]) for e in events] == [
        ("2025-12-01 00:00", "2025-12-02 00:00", "d", 40.0), ("2025-12-01 00:00", "2025-12-02 00:00", "d", 30.0),
        ("2025-12-01 05:00", "2025-12-01 07:00", "h", 100.0)]
    assert json.loads(run(db, "compliance", "events", "--org", "acme", "--month", "2025-11", "--json")) == []
    hourly = events[2]
    assert (hourly["peak"], hourly["peak_at"], hourly["duration_h"], hourly["pollutant_name"]) == \
        (125.0, "2025-12-01 05:00", 2.0, "SO2")
    out = run(db, "compliance", "ack", str(hourly["id"]), "--org", "acme", "--comment",
              "scrubber pump tripped; restarted 07:00", "--actor", "ops")
    assert f"event {hourly['id']} (DA001 a21026) acknowledged by ops" in out
    exc = fails(db, "compliance", "ack", str(hourly["id"]), "--org", "acme", "--comment", "again")
    assert "acknowledged by ops already" in str(exc)
    assert "no exceedance event 999" in str(fails(db, "compliance", "ack", "999", "--org", "acme", "--comment", "x"))
    events = json.loads(run(db, "compliance", "events", "--org", "acme", "--json"))
    assert [(e["acknowledged_by"], e["comment"]) for e in events] == [
        (None, None), (None, None), ("ops", "scrubber pump tripped; restarted 07:00")]

    q = json.loads(run(db, "compliance", "quantities", "--org", "acme", "--year", "2025", "--json"))
    # 2 logger hours on 30 Nov (1.8 kg each) + December: 7 × 1.8 + 2 × 9.0 kg = 34.2 kg; 11 valid hours; the
    # other 8,760 − 11 − 1 stopped hours have no rate (missing, the maintenance hour included)
    assert q == [{"outlet": "DA001", "site": "baotou", "line": None, "pollutant": "a21026",
                  "t": pytest.approx(0.0342), "valid_h": 11, "substituted_h": 0, "missing_h": 8748}]

    xlsx = tmp_path / "r.xlsx"
    out = run(db, "compliance", "report", "--org", "acme", "--month", "2025-12", "--lang", "zh", "--out", str(xlsx))
    assert f"{xlsx} written (xlsx, zh): acme 2025-12" in out.replace("\n", "")
    wb = load_workbook(xlsx)
    assert wb.sheetnames[:2] == ["汇总", "小时数及数据有效率"]
    assert [c.value for c in wb["小时数及数据有效率"][2]][2:6] == [9, 1, 1, 733]
    assert "unknown report format" in str(fails(db, "compliance", "report", "--org", "acme", "--month", "2025-12",
                                                "--out", str(tmp_path / "r.txt")))


def test_watch_runs_rounds_and_survives_errors(db: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rareeco.compliance")
    r = runner.invoke(app, ["--db", db, "compliance", "watch", "--org", "nobody", "--every", "0", "--cycles", "2"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert [m for m in caplog.messages if "failed" in m] == [
        f"nobody: round {n} failed: NotFoundError: organisation 'nobody' not found" for n in (1, 2)]
    r = runner.invoke(app, ["--db", db, "compliance", "watch", "--org", "acme", "--every", "0", "--cycles", "1"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert any("acme: 0 frames, 0 points stored" in m for m in caplog.messages)


def test_an_event_running_over_midnight_is_extended_not_doubled(db: str, tmp_path: Path) -> None:
    """SO2 × 5 from 23:00 to 01:00, the logger's frames processed in two rounds split at midnight: the second
    round detects from the running event's day, so the event grows to 2 h instead of a second one at 00:00."""
    settings = json.loads(json.dumps(SETTINGS))
    settings["outlets"][0]["pollutants"][0]["limits"] = [{"value": 100, "period": "h"}]
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings), "utf-8")
    run(db, "compliance", "settings", "import", str(path), "--org", "acme")
    stack = Stack(MN, PW, STACK.channels, (Episode("upset", datetime(2025, 12, 1, 23), datetime(2025, 12, 2, 1), 5.0,
                                                 ("a21026",)),))
    eng = make_engine(db)
    try:
        through_gateway(eng, {MN: frames(stack, datetime(2025, 12, 1, 22), datetime(2025, 12, 2))})
        first = json.loads(run(db, "compliance", "process", "--org", "acme", "--json"))
        through_gateway(eng, {MN: frames(stack, datetime(2025, 12, 2), datetime(2025, 12, 2, 2))})
        second = json.loads(run(db, "compliance", "process", "--org", "acme", "--json"))
    finally:
        eng.dispose()
    assert (first["range"], len(first["new_events"])) == ({"start": "2025-12-01", "end": "2025-12-02"}, 1)
    assert (second["range"], second["new_events"]) == ({"start": "2025-12-01", "end": "2025-12-03"}, [])
    (ev,) = json.loads(run(db, "compliance", "events", "--org", "acme", "--json"))
    assert (ev["start"], ev["end"], ev["periods"], ev["peak"]) == ("2025-12-01 23:00", "2025-12-02 01:00", 2, 125.0)
