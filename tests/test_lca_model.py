"""The LCA model format (docs/lca-model.md) and ``rareeco lca run``.

The example model docs/examples/steel-electricity.yaml is the hand system of tests/test_lca_engine.py
(solved by hand in that module's docstring): 1 kg steel scores 349.5/93 kg CO2e, by process
electricity 180/93, steel 142.5/93, coal 27/93.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rareeco.errors import UnitError, ValidationFailed
from rareeco.lca import LCA, LCAError, UnknownReferenceError
from rareeco.lca.cli import lca_app
from rareeco.lca.model import load_model, model_from_document, model_schema, parse_demand

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "steel-electricity.yaml"
SCHEMA = ROOT / "docs" / "lca-model.schema.json"
HAND_SCORE = 349.5 / 93


def example_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return doc


def problems(doc: Any) -> list[str]:
    """The document paths of the findings raised for ``doc`` (and each finding has a fix)."""
    with pytest.raises(ValidationFailed) as info:
        model_from_document(doc, "model.yaml")
    exc = info.value
    assert exc.findings
    for f in exc.findings:
        assert f.fix and f.file == "model.yaml"
        assert f.message.startswith(f"{f.column}: ")
    assert exc.findings[0].message in exc.message
    return [str(f.column) for f in exc.findings]


# --- loading -------------------------------------------------------------------------------------------

def test_example_gives_the_hand_solution_exactly() -> None:
    import test_lca_engine as engine

    model = load_model(EXAMPLE)
    hand = LCA.from_system(engine.hand_system(), "test-gwp")
    loaded = LCA.from_system(model.system, "test-gwp")
    assert loaded.score({"steel": 1.0}) == hand.score({"steel": 1.0})
    assert loaded.score({"steel": 1.0}) == pytest.approx(HAND_SCORE, rel=1e-14)
    c = loaded.contributions({"steel": 1.0})
    assert c.by_process == pytest.approx({"electricity": 180 / 93, "steel": 142.5 / 93, "coal": 27 / 93}, rel=1e-14)
    assert model.name == "steel-electricity"
    assert model.system.technosphere[2].uncertainty is not None   # steel ← electricity, lognormal sigma 0.2
    assert model.system.technosphere[2].uncertainty.sigma == pytest.approx(0.2)


def test_json_documents_load_the_same(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(example_doc()), encoding="utf-8")
    assert LCA.from_system(load_model(path).system, "test-gwp").score({"steel": 1.0}) == pytest.approx(HAND_SCORE)


def test_schema_file_is_generated_from_the_loader_and_the_example_validates() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema == model_schema(), "regenerate docs/lca-model.schema.json from rareeco.lca.model.model_schema()"
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(example_doc(), schema)
    bad = example_doc()
    bad["processes"][1]["inputs"][0]["uncertainty"] = {"distribution": "normal"}   # normal needs std
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


# --- errors name their document path ---------------------------------------------------------------

def edited(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(example_doc())
    change(doc)
    return doc


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d["processes"][0]["inputs"][1].update(unit="kWh"), "processes[0].inputs[1].unit"),      # dimension
    (lambda d: d["processes"][0]["inputs"][1].update(unit="furlongs²"), "processes[0].inputs[1].unit"),  # unknown
    (lambda d: d["processes"][2].update(unit="bananas"), "processes[2].unit"),
    (lambda d: d["processes"][0]["inputs"][0].update({"from": "iron"}), "processes[0].inputs[0].from"),
    (lambda d: d["processes"][2]["emissions"][0].update(flow="n2o"), "processes[2].emissions[0].flow"),
    (lambda d: d["processes"][1]["emissions"][0].update(amount="lots"), "processes[1].emissions[0].amount"),
    (lambda d: d["processes"][1]["emissions"][0].update(amount=float("nan")), "processes[1].emissions[0].amount"),
    (lambda d: d["processes"][1].pop("product"), "processes[1].product"),
    (lambda d: d["processes"][1].update(colour="red"), "processes[1].colour"),
    (lambda d: d["processes"][2].update(id="steel"), "processes[2].id"),
    (lambda d: d["processes"][2].update(production_amount=0), "processes[2].production_amount"),
    (lambda d: d["processes"][1].update(inputs={"from": "electricity"}), "processes[1].inputs"),
    (lambda d: d["flows"][1].update(unit="kgg"), "flows[1].unit"),
    (lambda d: d["methods"][0]["factors"].update(n2o=273), "methods[0].factors.n2o"),
    (lambda d: d["methods"][0]["factors"].update(ch4="27"), "methods[0].factors.ch4"),
    (lambda d: d.pop("name"), "name"),
    (lambda d: d.update(processes=[]), "processes"),
    (lambda d: d["processes"][1]["inputs"][0].update(uncertainty={"distribution": "gamma"}),
     "processes[1].inputs[0].uncertainty.distribution"),
    (lambda d: d["processes"][1]["inputs"][0].update(uncertainty={"distribution": "normal"}),
     "processes[1].inputs[0].uncertainty"),
    (lambda d: d["processes"][1]["inputs"][0].update(uncertainty={"distribution": "lognormal", "gsd": 0.5}),
     "processes[1].inputs[0].uncertainty"),
    (lambda d: d["processes"][1]["inputs"][0].update(uncertainty={"distribution": "lognormal", "std": 0.5}),
     "processes[1].inputs[0].uncertainty.std"),
    (lambda d: d["processes"][1]["inputs"][0].update(uncertainty={"distribution": "uniform", "min": 3, "max": 4}),
     "processes[1].inputs[0].uncertainty"),
])
def test_each_error_names_its_path_and_fix(change: Any, path: str) -> None:
    assert path in problems(edited(change))


def test_all_problems_are_reported_together() -> None:
    def change(d: dict[str, Any]) -> None:
        d["processes"][0]["inputs"][1]["unit"] = "kWh"
        d["processes"][2]["emissions"][0]["flow"] = "n2o"
    assert problems(edited(change)) == ["processes[0].inputs[1].unit", "processes[2].emissions[0].flow"]


def test_documents_that_are_not_objects_or_not_parseable(tmp_path: Path) -> None:
    assert problems(["a list"]) == [""]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprocesses: [\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"bad\.yaml: not valid YAML \(line"):
        load_model(bad)
    with pytest.raises(ValidationFailed, match="cannot read"):
        load_model(tmp_path / "missing.yaml")


def test_the_unit_error_says_which_unit_fits() -> None:
    with pytest.raises(ValidationFailed) as info:
        model_from_document(edited(lambda d: d["processes"][0]["inputs"][1].update(unit="kWh")), "m.yaml")
    f = info.value.findings[0]
    assert "'kWh' is not convertible to 'kg', the unit of process 'coal'" in f.message
    assert "same dimension as 'kg'" in (f.fix or "")


# --- demands -------------------------------------------------------------------------------------------

def test_demand_units_are_converted_to_the_process_unit() -> None:
    doc = edited(lambda d: d["processes"][1].update(unit="t"))
    doc["processes"][0]["inputs"][0]["unit"] = "kg"    # 0.01 kg = 1e-5 t of steel per kWh
    doc["processes"][1]["inputs"][0]["amount"] = 2000  # kWh per t
    doc["processes"][1]["emissions"][0]["amount"] = 1500
    system = model_from_document(doc).system
    d = parse_demand(system, "steel=1 kg")
    assert (d.process, d.unit) == ("steel", "t")
    assert d.amount == pytest.approx(0.001)
    assert parse_demand(system, "steel = 2.5").amount == 2.5              # no unit: the process's unit
    assert parse_demand(system, "hard coal=3 t").process == "coal"        # a reference product names its process
    assert LCA.from_system(system, "test-gwp").score({d.process: d.amount}) == pytest.approx(HAND_SCORE, rel=1e-12)
    with pytest.raises(UnitError, match="'kWh' is not convertible to the unit 't' of process 'steel'"):
        parse_demand(system, "steel=1 kWh")
    with pytest.raises(UnknownReferenceError, match="no process or product 'iron'"):
        parse_demand(system, "iron=1 kg")
    with pytest.raises(LCAError, match="PRODUCT=AMOUNT"):
        parse_demand(system, "steel 1 kg")


# --- the command line ------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_prints_score_unit_method_and_contributions() -> None:
    r = runner.invoke(lca_app, ["run", str(EXAMPLE), "--demand", "steel=1 kg", "--method", "test-gwp"])
    assert r.exit_code == 0, r.output
    assert f"score   {HAND_SCORE:.10g}" in r.output
    assert "unit    kg CO2e" in r.output and "method  test-gwp" in r.output
    assert r.output.index("electricity, medium voltage") < r.output.index("steel, hot rolled") \
        < r.output.index("hard coal, mined")
    assert "51.5%" in r.output


def test_cli_json_has_the_keys_and_values() -> None:
    r = runner.invoke(lca_app, ["run", str(EXAMPLE), "-d", "steel=1 kg", "-m", "test-gwp", "--json", "--top", "2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"score", "unit", "method", "contributions"} <= out.keys()
    assert out["score"] == pytest.approx(HAND_SCORE, rel=1e-14)
    assert out["unit"] == "kg CO2e" and out["method"] == "test-gwp"
    assert [c["process"] for c in out["contributions"]] == ["electricity", "steel"]
    assert out["contributions"][0]["score"] == pytest.approx(180 / 93, rel=1e-14)
    assert out["by_flow"] == pytest.approx({"co2": 322.5 / 93, "ch4": 27 / 93}, rel=1e-14)


def test_cli_converts_and_sums_demands(tmp_path: Path) -> None:
    doc = example_doc()
    doc["processes"][1]["unit"] = "t"
    doc["processes"][0]["inputs"][0]["unit"] = "kg"
    doc["processes"][1]["inputs"][0]["amount"] = 2000
    doc["processes"][1]["emissions"][0]["amount"] = 1500
    path = tmp_path / "tonnes.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    r = runner.invoke(lca_app, ["run", str(path), "-d", "steel=1 kg", "-d", "steel=0.002 t", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["demand"] == [{"process": "steel", "amount": pytest.approx(0.003), "unit": "t"}]
    assert out["score"] == pytest.approx(3 * HAND_SCORE, rel=1e-12)   # the only method is the default


def test_cli_errors_are_one_line_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(edited(lambda d: d["processes"][0]["inputs"][1].update(unit="kWh"))), encoding="utf-8")
    r = runner.invoke(lca_app, ["run", str(path), "-d", "steel=1 kg"])
    assert r.exit_code == 1
    assert "processes[0].inputs[1].unit" in r.output and "Traceback" not in r.output
    r = runner.invoke(lca_app, ["run", str(EXAMPLE), "-d", "steel=1 kg", "-m", "ipcc-ar6-gwp100"])
    assert r.exit_code == 1 and "no method 'ipcc-ar6-gwp100'" in r.output
