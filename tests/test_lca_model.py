"""The LCA model format (docs/lca-model.md) and ``rareeco lca run``.

The example model docs/examples/steel-electricity.yaml is the hand system of tests/test_lca_engine.py
(solved by hand in that module's docstring): 1 kg steel scores 349.5/93 kg CO2e, by process
electricity 180/93, steel 142.5/93, coal 27/93.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rareeco.errors import UnitError, ValidationFailed
from rareeco.lca import LCA, LCAError, UnknownReferenceError
from rareeco.lca.cli import lca_app
from rareeco.lca.model import AllocationRule, load_model, model_from_document, model_schema, parse_demand

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


# --- multi-output processes and allocation ------------------------------------------------------------------
#
# docs/examples/oxide-separation.yaml (made-up numbers): one run of sx = 10 kg CO2e (5 kWh × 0.8 + 2.5 kg acid × 0.5
# + 4.75 direct) and makes 1 kg La oxide and 3 kg Ce oxide.  By hand, per kg:
#   economic on 2024-06-30: La 1 × 10 CNY, Ce 3 × 5 CNY → 40 % / 60 %: La 4, Ce 6/3 = 2
#   economic on 2023-06-30: La 8 CNY (the 2023 price, valid to 2023-12-31) → 8/23, 15/23: La 80/23, Ce 50/23
#   mass: 1 kg / 3 kg → 25 % / 75 %: La 2.5, Ce 2.5
#   physical by REO content (0.9 and 0.8 kg/kg): 0.9 / 2.4 → 3/11, 8/11: La 30/11, Ce 80/33
#   substitution (La determining, Ce displaces ce-market at 1/kg): La 10 − 3 × 1 = 7; Ce oxide stands for ce-market: 1

OXIDES = ROOT / "docs" / "examples" / "oxide-separation.yaml"
MAGNET = ROOT / "docs" / "examples" / "magnet-recycling.yaml"


def oxide_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(OXIDES.read_text(encoding="utf-8"))
    return doc


@pytest.mark.parametrize(("allocation", "factors", "la", "ce"), [
    (None, (0.4, 0.6), 4.0, 2.0),
    ("economic:2023-06-30", (8 / 23, 15 / 23), 80 / 23, 50 / 23),
    ("mass", (0.25, 0.75), 2.5, 2.5),
    ("physical:reo", (3 / 11, 8 / 11), 30 / 11, 80 / 33),
    ("substitution", (1.0, 0.0), 7.0, 1.0),
])
def test_allocation_methods_give_the_hand_values(allocation: str | None, factors: tuple[float, float], la: float,
                                                 ce: float) -> None:
    model = load_model(OXIDES, allocation=allocation)
    assert model.allocation_factors()["sx"] == pytest.approx({"la-oxide": factors[0], "ce-oxide": factors[1]},
                                                             rel=1e-14)
    lca = LCA.from_system(model.system, "test-gwp")
    assert lca.score(model.demand(["la-oxide=1 kg"])) == pytest.approx(la, rel=1e-14)
    assert lca.score(model.demand(["ce-oxide=1 kg"])) == pytest.approx(ce, rel=1e-14)
    if allocation != "substitution":       # partitioning keeps the process's burden: La 1 kg + Ce 3 kg = 10
        assert la + 3 * ce == pytest.approx(10.0, rel=1e-14)


def test_allocation_units_masses_and_overrides() -> None:
    doc = oxide_doc()
    doc["processes"][0]["coproducts"][1].update(unit="t", amount=0.003)       # 3 kg written in t
    del doc["processes"][0]["coproducts"][1]["prices"]                         # unused by mass allocation
    assert model_from_document(doc, allocation="mass").allocation_factors()["sx"]["la-oxide"] == pytest.approx(0.25)
    doc["processes"][0]["coproducts"][1].update(unit="m3", amount=0.003)      # not a mass: needs mass_kg
    with pytest.raises(ValidationFailed) as info:
        model_from_document(doc, "m.yaml", allocation="mass")
    assert [f.column for f in info.value.findings] == ["processes[0].coproducts[1].mass_kg"]
    doc["processes"][0]["coproducts"][1]["mass_kg"] = 1000                    # 0.003 m3 × 1000 kg/m3 = 3 kg
    assert model_from_document(doc, allocation="mass").allocation_factors()["sx"]["la-oxide"] == pytest.approx(0.25)
    doc = oxide_doc()
    doc["allocation"] = {"method": "physical", "property": "reo"}
    assert model_from_document(doc).allocation_factors()["sx"]["la-oxide"] == pytest.approx(3 / 11)
    model = model_from_document(doc, allocation="economic:2024-06-30")        # the override wins
    assert model.allocation_factors()["sx"]["la-oxide"] == pytest.approx(0.4)
    assert model.allocation_rule == AllocationRule("economic", None, date(2024, 6, 30))
    with pytest.raises(ValidationFailed, match="allocation.date"):             # no date here nor in the document
        model_from_document(doc, allocation="economic")
    assert model_from_document(oxide_doc(), allocation="economic").allocation_rule == model.allocation_rule


@pytest.mark.parametrize(("change", "allocation", "paths"), [
    (lambda d: d.pop("allocation"), None, ["allocation"]),
    (lambda d: d["allocation"].pop("date"), None, ["allocation.date"]),
    (lambda d: None, "physical", ["allocation.property"]),
    (lambda d: d["processes"][0]["coproducts"][1].pop("properties"), "physical:reo",
     ["processes[0].coproducts[1].properties"]),
    (lambda d: None, "economic:2022-12-31", ["processes[0].coproducts[0].prices", "processes[0].coproducts[1].prices"]),
    (lambda d: d["processes"][0]["coproducts"][0]["prices"].pop(), None,        # the 2023 price ended 2023-12-31
     ["processes[0].coproducts[0].prices"]),
    (lambda d: d["processes"][0]["coproducts"][1]["prices"][0].update(unit="USD/kg"), None,
     ["processes[0].coproducts"]),
    (lambda d: d["processes"][0]["coproducts"][1]["prices"][0].update(unit="CNY/kWh"), None,
     ["processes[0].coproducts[1].prices[0].unit"]),
    (lambda d: d["processes"][0]["coproducts"][1]["prices"][0].update(unit="per kg"), None,
     ["processes[0].coproducts[1].prices[0].unit"]),
    (lambda d: d["processes"][0]["coproducts"][0]["prices"][0].update(valid_to="2022-01-01"), None,
     ["processes[0].coproducts[0].prices[0].valid_to"]),
    (lambda d: d["processes"][0]["coproducts"][0]["prices"][0].update(valid_from="2023-02-30"), None,
     ["processes[0].coproducts[0].prices[0].valid_from"]),
    (lambda d: d["processes"][0]["coproducts"][1].pop("substitutes"), "substitution", ["processes[0].coproducts"]),
    (lambda d: d["processes"][0]["coproducts"][1].update(substitutes="la-oxide"), "substitution",
     ["processes[0].coproducts[1].substitutes"]),
    (lambda d: d["processes"][0]["coproducts"][1].update(substitutes="nowhere"), None,
     ["processes[0].coproducts[1].substitutes"]),
    (lambda d: d["processes"][0]["coproducts"][1].update(substitutes="electricity"), "substitution",
     ["processes[0].coproducts[1].substitutes"]),                              # kg of oxide is not kWh
    (lambda d: d["processes"][0]["coproducts"][1].update(amount=0), None, ["processes[0].coproducts[1].amount"]),
    (lambda d: d["processes"][0]["coproducts"][1].update(id="la-oxide"), None, ["processes[0].coproducts[1].id"]),
    (lambda d: d["processes"][0]["coproducts"][1].update(id="acid"), None, ["processes[2].id"]),
    (lambda d: d["processes"][0]["coproducts"].pop(), None, ["processes[0].coproducts"]),
    (lambda d: d["processes"][0].update(product="oxides", unit="kg"), None, ["processes[0]"]),
    (lambda d: d["processes"][0].pop("coproducts"), None, ["processes[0].product", "processes[0].unit"]),
    (lambda d: d["processes"][1].update(inputs=[{"from": "sx", "amount": 1}]), None, ["processes[1].inputs[0].from"]),
])
def test_allocation_problems_name_their_path(change: Any, allocation: str | None, paths: list[str]) -> None:
    doc = copy.deepcopy(oxide_doc())
    change(doc)
    with pytest.raises(ValidationFailed) as info:
        model_from_document(doc, "m.yaml", allocation=allocation)
    for f in info.value.findings:
        assert f.fix and f.message.startswith(f"{f.column}: ")
    assert [f.column for f in info.value.findings] == paths


def test_a_bad_allocation_override_is_an_error() -> None:
    for text in ("volume", "mass:kg", "economic:June"):
        with pytest.raises(LCAError, match="allocation"):
            load_model(OXIDES, allocation=text)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 100), st.floats(0, 50), st.floats(0.01, 10), st.floats(0, 1)),
                min_size=2, max_size=5),
       st.sampled_from(["mass", "economic", "physical:reo"]))
def test_allocation_factors_sum_to_one_and_keep_the_burden(rows: list[tuple[float, float, float, float]],
                                                           allocation: str) -> None:
    """For random co-products (amount [t], price [CNY/kg], mass, REO content): factors sum to 1 and the
    co-products' scores × amounts add up to the 10 kg CO2e of one run (when some basis is non-zero)."""
    doc = oxide_doc()
    doc["processes"][0]["coproducts"] = [
        {"id": f"c{i}", "name": f"c{i}", "unit": "t", "amount": amount, "mass_kg": 1000 * mass_ratio,
         "properties": {"reo": reo}, "prices": [{"value": price, "unit": "CNY/kg", "valid_from": "2024-01-01",
                                                 "source": "test"}]}
        for i, (amount, price, mass_ratio, reo) in enumerate(rows)]
    basis = {"mass": [a * m for a, _, m, _ in rows], "economic": [a * p for a, p, _, _ in rows],
             "physical:reo": [a * r for a, _, _, r in rows]}[allocation]
    if not sum(basis) > 0:
        return
    try:
        model = model_from_document(doc, allocation=allocation)
    except ValidationFailed as exc:   # all quantities zero after rounding: refused, not NaN
        assert "zero" in exc.findings[0].message
        return
    factors = model.allocation_factors()["sx"]
    assert abs(sum(factors.values()) - 1.0) <= 1e-9 and all(f >= 0 for f in factors.values())
    lca = LCA.from_system(model.system, "test-gwp")
    total = sum(lca.score({f"c{i}": amount}) for i, (amount, *_) in enumerate(rows))
    assert total == pytest.approx(10.0, rel=1e-9)


def test_cli_prints_allocation_shares_as_percentages() -> None:
    r = runner.invoke(lca_app, ["run", str(OXIDES), "-d", "la-oxide=1 kg", "--allocation", "mass"])
    assert r.exit_code == 0, r.output
    assert "score   2.5\n" in r.output and "allocation mass" in r.output
    assert "25.0%" in r.output and "75.0%" in r.output
    r = runner.invoke(lca_app, ["run", str(OXIDES), "-d", "la-oxide=1 kg", "--json"])
    out = json.loads(r.stdout)
    assert out["score"] == pytest.approx(4.0, rel=1e-14)
    alloc = out["allocation"]
    assert (alloc["method"], alloc["date"], alloc["property"]) == ("economic", "2024-06-30", None)
    assert alloc["processes"][0]["shares_percent"] == pytest.approx({"la-oxide": 40.0, "ce-oxide": 60.0}, rel=1e-14)
    assert alloc["processes"][0]["basis"] == pytest.approx({"la-oxide": 10.0, "ce-oxide": 15.0})
    r = runner.invoke(lca_app, ["run", str(OXIDES), "-d", "ce-oxide=1 kg", "--allocation", "substitution", "--json"])
    out = json.loads(r.stdout)
    assert out["score"] == 1.0 and out["demand"][0]["process"] == "ce-market"   # a credited co-product's substitute
    r = runner.invoke(lca_app, ["run", str(OXIDES), "-d", "la-oxide=1 kg", "--allocation", "volume"])
    assert r.exit_code == 1 and "unknown allocation 'volume'" in r.output


# --- provenance ---------------------------------------------------------------------------------------------

def test_provenance_lists_each_item_with_its_source_or_assumption() -> None:
    model = load_model(OXIDES)
    rows = {r.path: r for r in model.provenance()}
    acid = rows["processes[0].inputs[1]"]
    assert (acid.kind, acid.process, acid.item, acid.amount, acid.unit, acid.formula) == \
        ("input", "sx", "acid", 2.5, "kg", "acid_per_run")
    assert acid.assumption == "acid bought from the nearest supplier" and acid.source == ""
    assert rows["parameters[1]"].formula == "2 / yield_sx" and rows["parameters[1]"].amount == 2.5
    assert rows["processes[0].coproducts[0].prices[1]"].source == "made-up price list"
    assert rows["processes[0].emissions[0]"].source == "made-up stack measurement"
    assert [r.path for r in model.provenance(undocumented=True)] == ["processes[1]", "processes[2]", "processes[3]"]
    kinds = [r.kind for r in model.provenance()]
    assert {k: kinds.count(k) for k in set(kinds)} == {"parameter": 3, "process": 4, "coproduct": 2, "price": 3,
                                                       "input": 2, "emission": 4}
    recovered = [r for r in load_model(MAGNET).provenance() if r.kind == "recovered"]
    assert [(r.item, r.amount, r.unit) for r in recovered] == [("ndfeb-swarf", 0.2, "kg"),
                                                               ("end-of-life magnet", 0.7, "kg")]


# --- every example, the schema, and documents that are not what they claim ---------------------------------

EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads_and_validates_against_the_schema(path: Path) -> None:
    load_model(path)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), model_schema())


def test_the_schema_knows_the_variants() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = model_schema()
    for change in (lambda d: d["processes"][0].update(product="oxides", unit="kg"),
                   lambda d: d["parameters"][0].update(formula="1"),
                   lambda d: d["parameters"][1].update(uncertainty={"distribution": "normal", "std": 1}),
                   lambda d: d["processes"][0]["coproducts"].pop(),
                   lambda d: d["processes"][0]["inputs"][0].update(amount=[1])):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(edited_doc(oxide_doc(), change), schema)


def edited_doc(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    change(doc)
    return doc


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append((node, key))
        _slots(child, out)
    return out


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=8),
                 st.sampled_from(["kg", "t", "1/0", "sx", "la-oxide", "2024-01-01", "x.y", "electricity"]),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["oxide-separation.yaml", "magnet-recycling.yaml"]), st.data())
def test_a_damaged_document_is_findings_never_a_crash(name: str, data: st.DataObject) -> None:
    """Delete or replace any one key or item: the loader gives a model or findings, never another exception."""
    doc = yaml.safe_load((ROOT / "docs" / "examples" / name).read_text(encoding="utf-8"))
    slots = _slots(doc, [])
    container, key = slots[data.draw(st.integers(0, len(slots) - 1))]
    if data.draw(st.booleans()):
        del container[key]
    else:
        container[key] = data.draw(JUNK)
    for allocation in (None, "mass", "substitution", "physical:reo"):
        try:
            model_from_document(doc, "m.yaml", allocation=allocation)
        except ValidationFailed as exc:
            assert exc.findings and all(f.fix for f in exc.findings)
