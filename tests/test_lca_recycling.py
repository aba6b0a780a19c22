"""Recycling rules and module D (rareeco.lca.recycling), on docs/examples/magnet-recycling.yaml (made-up numbers).

The worked example, by hand (docs/lca-model.md, "Recycling and module D"):

    virgin alloy 20 kg CO2e/kg, remelted (secondary) alloy 4 kg CO2e/kg;
    1 kg magnet uses 0.8 kg virgin alloy and 0.3 kg remelted alloy (secondary, replaces virgin, Q = 1),
    emits 1 kg CO2, and 0.2 kg swarf + 0.7 kg end-of-life magnet leave to be remelted (Q = 0.9).

    cut-off score (A1–A3): 0.8 × 20 + 0.3 × 4 + 1 = 16 + 1.2 + 1 = 18.2 kg CO2e
    net output = 0.9 − 0.3 = 0.6 kg > 0, so the recovered side's route and quality count:
    module D = 0.6 × (4 − 20 × 0.9) = 0.6 × (−14) = −8.4 kg CO2e (reported apart under cut-off)
    avoided-burden score = 18.2 − 8.4 = 9.8 kg CO2e

A net input (more secondary material in than out) is a load with the inputs' route and quality:
recovered 0.1, secondary 0.3 → net −0.2, D = −0.2 × (4 − 20 × 1) = +3.2.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rareeco.errors import ValidationFailed
from rareeco.lca import LCA, LCAError, ProductSystem, TechnosphereExchange
from rareeco.lca.cli import lca_app
from rareeco.lca.model import load_model, model_from_document
from rareeco.lca.recycling import SecondaryFlow, module_d, total_score

ROOT = Path(__file__).resolve().parents[1]
MAGNET = ROOT / "docs" / "examples" / "magnet-recycling.yaml"
OXIDES = ROOT / "docs" / "examples" / "oxide-separation.yaml"
SCORES = {"virgin-alloy": 20.0, "remelt": 4.0, "magnet": 18.2}


def magnet_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(MAGNET.read_text(encoding="utf-8"))
    return doc


def flows(recovered: tuple[float, ...] = (0.2, 0.7), secondary: float = 0.3, q_out: float = 0.9,
          q_in: float = 1.0, route: str | None = "remelt") -> list[SecondaryFlow]:
    out = [SecondaryFlow("magnet", "out", r, "virgin-alloy", route, 1.0, q_out, f"scrap {i}")
           for i, r in enumerate(recovered)]
    return out + [SecondaryFlow("magnet", "in", secondary, "virgin-alloy", "remelt", 1.0, q_in)]


# --- the pure function -------------------------------------------------------------------------------------

def test_module_d_of_the_worked_example() -> None:
    d = module_d(flows(), {"magnet": 1.0}, SCORES)
    (b,) = d.materials
    assert (b.recovered, b.secondary_input, b.net) == pytest.approx((0.9, 0.3, 0.6), rel=1e-15)
    assert (b.route_burden, b.virgin_burden, b.quality_ratio) == pytest.approx((4.0, 20.0, 0.9), rel=1e-15)
    assert d.value == pytest.approx(-8.4, rel=1e-14)
    assert not d.included and total_score(18.2, d) == 18.2
    assert total_score(18.2, module_d(flows(), {"magnet": 1.0}, SCORES, "avoided-burden")) == pytest.approx(9.8)
    assert module_d(flows(), {"magnet": 2.5}, SCORES).value == pytest.approx(2.5 * -8.4, rel=1e-14)   # × runs


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"recovered": (0.1,)}, -0.2 * (4 - 20 * 1.0)),                 # net input: a load of +3.2
    ({"recovered": (0.1,), "q_in": 0.5}, -0.2 * (4 - 20 * 0.5)),    # … with the inputs' quality: +1.2
    ({"recovered": (0.3,)}, 0.0),                                   # balanced: nothing beyond the boundary
    ({"route": None}, 0.6 * (0 - 20 * 0.9)),                        # no recycling process: −10.8
    ({"secondary": 0.0}, 0.9 * (4 - 20 * 0.9)),                     # no secondary input: −12.6
])
def test_module_d_by_hand(kwargs: dict[str, Any], expected: float) -> None:
    assert module_d(flows(**kwargs), {"magnet": 1.0}, SCORES).value == pytest.approx(expected, rel=1e-14, abs=1e-15)


def test_qualities_and_routes_are_weighted_by_amount_and_materials_add_up() -> None:
    """Out: 1 kg at Q 1 via a (3/kg) and 3 kg at Q 0.5 via b (7/kg); in: 2 kg → net 2 kg;
    route (1·3 + 3·7)/4 = 6, Q (1·1 + 3·0.5)/4 = 0.625, D = 2 × (6 − 10 × 0.625) = −0.5;
    a second material (copper: out 1 kg, virgin 5, no route, Q 1) adds 1 × (0 − 5) = −5."""
    fs = [SecondaryFlow("p", "out", 1.0, "v", "a", 1.0, 1.0), SecondaryFlow("p", "out", 3.0, "v", "b", 1.0, 0.5),
          SecondaryFlow("p", "in", 2.0, "v", "a", 1.0, 1.0), SecondaryFlow("p", "out", 1.0, "cu", None, 1.0, 1.0)]
    d = module_d(fs, {"p": 1.0}, {"v": 10.0, "a": 3.0, "b": 7.0, "cu": 5.0})
    steel, copper = d.materials
    assert (steel.route_burden, steel.quality_ratio, steel.value) == pytest.approx((6.0, 0.625, -0.5), rel=1e-15)
    assert copper.value == -5.0 and d.value == pytest.approx(-5.5, rel=1e-15)
    with pytest.raises(LCAError, match="unknown recycling rule"):
        module_d(fs, {"p": 1.0}, {}, "open-loop")  # type: ignore[arg-type]


# --- in a model document ---------------------------------------------------------------------------------

def test_the_example_model_gives_the_hand_solution() -> None:
    model = load_model(MAGNET)
    lca = LCA.from_system(model.system, "test-gwp")
    assert lca.score({"magnet": 1.0}) == pytest.approx(18.2, rel=1e-14)
    d = model.module_d(lca, {"magnet": 1.0})
    assert d is not None and d.value == pytest.approx(-8.4, rel=1e-14) and not d.included
    assert d.materials[0].materials == ("end-of-life magnet", "ndfeb-swarf")
    doc = magnet_doc()
    doc["recycling"] = {"rule": "avoided-burden"}
    model = model_from_document(doc)
    d = model.module_d(lca, {"magnet": 1.0})
    assert d is not None and d.included
    assert total_score(lca.score({"magnet": 1.0}), d) == pytest.approx(9.8, rel=1e-14)
    doc.pop("recycling")                                           # the default rule is cut-off
    assert model_from_document(doc).recycling == "cut-off"
    steel = load_model(ROOT / "docs" / "examples" / "steel-electricity.yaml")
    assert steel.module_d(LCA.from_system(steel.system, "test-gwp"), {"steel": 1.0}) is None


def test_units_are_converted_to_the_replaced_products_unit() -> None:
    """Swarf 200 g, end-of-life 0.0007 t, secondary input 300 g: the same 0.9, 0.3 kg and D = −8.4."""
    doc = magnet_doc()
    doc["processes"][0]["recovered"][0].update(amount=200, unit="g")
    doc["processes"][0]["recovered"][1].update(amount=0.0007, unit="t")
    doc["processes"][0]["inputs"][1].update(amount=300, unit="g")
    model = model_from_document(doc)
    lca = LCA.from_system(model.system, "test-gwp")
    d = model.module_d(lca, {"magnet": 1.0})
    assert d is not None and d.value == pytest.approx(-8.4, rel=1e-12)
    assert lca.score({"magnet": 1.0}) == pytest.approx(18.2, rel=1e-12)


def test_recovered_output_of_a_multi_output_process_follows_the_allocation() -> None:
    """Oxide example plus 0.4 kg scrap per run of sx, replacing 'virgin' (10/kg) via 'refine' (2/kg), Q 1.
    Mass allocation (La 1 kg, Ce 3 kg: 25 % / 75 %): 1 kg La oxide carries 0.25 × 0.4 = 0.1 kg scrap,
    1 kg Ce oxide 0.75 × 0.4 / 3 = 0.1 kg; D = 0.1 × (2 − 10) = −0.8 each.  Substitution (La determining):
    1 kg La oxide carries all 0.4 kg: D = −3.2."""
    doc: dict[str, Any] = yaml.safe_load(OXIDES.read_text(encoding="utf-8"))
    doc["processes"][0]["recovered"] = [{"material": "scrap", "amount": 0.4, "replaces": "virgin",
                                         "recycling": "refine"}]
    doc["processes"] += [{"id": "virgin", "name": "virgin", "product": "metal", "unit": "kg",
                          "emissions": [{"flow": "co2", "amount": 10}]},
                         {"id": "refine", "name": "refining scrap", "product": "metal, secondary", "unit": "kg",
                          "emissions": [{"flow": "co2", "amount": 2}]}]
    for allocation, expected in (("mass", {"la-oxide": -0.8, "ce-oxide": -0.8}), ("substitution", {"la-oxide": -3.2})):
        model = model_from_document(doc, allocation=allocation)
        lca = LCA.from_system(model.system, "test-gwp")
        for product, value in expected.items():
            d = model.module_d(lca, {product: 1.0})
            assert d is not None and d.value == pytest.approx(value, rel=1e-13)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 2), st.floats(0, 2), st.floats(0, 2), st.floats(0.1, 1), st.floats(1, 50), st.floats(0, 10))
def test_avoided_burden_equals_the_expanded_system(virgin: float, secondary: float, recovered: float, q: float,
                                                   e_virgin: float, e_remelt: float) -> None:
    """With one route and one quality ratio on both sides, avoided-burden = cut-off + D equals the score of the
    system expanded by hand in the matrix: the magnet takes virgin + q·(secondary − recovered) of virgin alloy
    (its secondary input charged as virgin, its recovered output credited) and `recovered` of remelting."""
    doc = magnet_doc()
    doc["recycling"] = {"rule": "avoided-burden"}
    mag = doc["processes"][0]
    mag["inputs"][0]["amount"], mag["inputs"][1]["amount"] = virgin, max(secondary, 1e-6)
    mag["inputs"][1]["secondary"]["quality_ratio"] = q
    mag["recovered"] = [{"material": "scrap", "amount": recovered, "replaces": "virgin-alloy", "recycling": "remelt",
                         "quality_ratio": q}]
    doc["processes"][1]["emissions"][0]["amount"] = e_virgin
    doc["processes"][2]["emissions"][0]["amount"] = e_remelt
    model = model_from_document(doc)
    lca = LCA.from_system(model.system, "test-gwp")
    declared = total_score(lca.score({"magnet": 1.0}), model.module_d(lca, {"magnet": 1.0}))
    s = max(secondary, 1e-6)
    expanded = ProductSystem(
        processes=tuple(p for p in model.system.processes),
        flows=model.system.flows,
        technosphere=(TechnosphereExchange("magnet", "virgin-alloy", virgin + q * (s - recovered)),
                      TechnosphereExchange("magnet", "remelt", recovered)),
        biosphere=model.system.biosphere, methods=model.system.methods)
    assert declared == pytest.approx(LCA.from_system(expanded, "test-gwp").score({"magnet": 1.0}), rel=1e-9, abs=1e-9)


def test_monte_carlo_refuses_avoided_burden() -> None:
    doc = magnet_doc()
    doc["recycling"] = {"rule": "avoided-burden"}
    with pytest.raises(LCAError, match="avoided-burden"):
        model_from_document(doc).monte_carlo({"m": {"magnet": 1.0}})
    assert load_model(MAGNET).monte_carlo({"m": {"magnet": 1.0}}, seed=1).run(3).column("m") == pytest.approx(18.2)


@pytest.mark.parametrize(("change", "path"), [
    (lambda m: m["inputs"][1]["secondary"].update(replaces="remelt"), "processes[0].inputs[1].secondary.replaces"),
    (lambda m: m["inputs"][1]["secondary"].update(replaces="iron"), "processes[0].inputs[1].secondary.replaces"),
    (lambda m: m["inputs"][1]["secondary"].update(quality_ratio=1.2),
     "processes[0].inputs[1].secondary.quality_ratio"),
    (lambda m: m["inputs"][1].update(amount=-0.3), "processes[0].inputs[1].amount"),
    (lambda m: m["recovered"][0].update(amount=-1), "processes[0].recovered[0].amount"),
    (lambda m: m["recovered"][0].update(unit="kWh"), "processes[0].recovered[0].unit"),
    (lambda m: m["recovered"][0].update(recycling="smelter"), "processes[0].recovered[0].recycling"),
    (lambda m: m["recovered"][0].update(replaces="iron"), "processes[0].recovered[0].replaces"),
    (lambda m: m["recovered"][0].pop("material"), "processes[0].recovered[0].material"),
    (lambda m: m["recovered"][0].update(quality_ratio=-0.1), "processes[0].recovered[0].quality_ratio"),
])
def test_recycling_problems_name_their_path(change: Any, path: str) -> None:
    doc = copy.deepcopy(magnet_doc())
    change(doc["processes"][0])
    with pytest.raises(ValidationFailed) as info:
        model_from_document(doc, "m.yaml")
    assert [f.column for f in info.value.findings] == [path]


# --- the command line --------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_reports_module_d_apart_under_cut_off() -> None:
    r = runner.invoke(lca_app, ["run", str(MAGNET), "-d", "magnet=1 kg"])
    assert r.exit_code == 0, r.output
    assert "score   18.2\n" in r.output
    assert "module D -8.4 (cut-off: reported apart, not in the score)" in r.output
    r = runner.invoke(lca_app, ["run", str(MAGNET), "-d", "magnet=1 kg", "--json"])
    out = json.loads(r.stdout)
    assert out["score"] == pytest.approx(18.2, rel=1e-14) and out["module_d"] == pytest.approx(-8.4, rel=1e-14)
    assert out["recycling"]["rule"] == "cut-off" and out["recycling"]["module_d_in_score"] is False
    (m,) = out["recycling"]["materials"]
    assert (m["replaces"], m["net"], m["module_d"]) == ("virgin-alloy", pytest.approx(0.6), pytest.approx(-8.4))


def test_cli_adds_module_d_under_avoided_burden(tmp_path: Path) -> None:
    doc = magnet_doc()
    doc["recycling"] = {"rule": "avoided-burden"}
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    out = json.loads(runner.invoke(lca_app, ["run", str(path), "-d", "magnet=1 kg", "--json"]).stdout)
    assert out["score"] == pytest.approx(9.8, rel=1e-14)
    assert out["recycling"]["product_system_score"] == pytest.approx(18.2, rel=1e-14)
    r = runner.invoke(lca_app, ["run", str(path), "-d", "magnet=1 kg"])
    assert "score   9.8\n" in r.output and "module D -8.4 (avoided-burden: in the score" in r.output
