"""The rare-earth model library (src/rareeco/lca/library): documented, hand-checkable, and bw2calc agrees."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import rareeco.lca
from rareeco.lca import LCA, matrix_data
from rareeco.lca.model import load_model

LIBRARY = Path(rareeco.lca.__file__).parent / "library" / "rare-earth-chain.yaml"
METHOD = "ipcc-ar6-gwp100"
PRODUCTS = ("prnd-oxide", "prnd-metal", "ndfeb-magnet", "prnd-oxide-recycled", "prnd-metal-recycled",
            "ndfeb-magnet-recycled", "ndfeb-magnet-m2m")


def test_every_exchange_and_parameter_has_a_source_or_an_assumption() -> None:
    model = load_model(LIBRARY)
    rows = model.provenance()
    assert len(rows) > 150
    undocumented = [r.path for r in model.provenance(undocumented=True) if r.kind != "process"]
    assert undocumented == []


def test_hand_checkable_process_data() -> None:
    model = load_model(LIBRARY)
    p = model.parameters.values
    # PrNd oxide of 25 % Pr6O11 and 75 % Nd2O3 holds 85.0 % metal (IUPAC atomic weights)
    pr = 6 * 140.908 / (6 * 140.908 + 11 * 15.999)
    nd = 2 * 144.242 / (2 * 144.242 + 3 * 15.999)
    assert p["metal_in_prnd_oxide"] == pytest.approx(0.25 * pr + 0.75 * nd, rel=1e-12)
    assert p["metal_in_prnd_oxide"] == pytest.approx(0.84994, abs=1e-5)
    bio = {(x.process, x.flow): x.amount for x in model.system.biosphere}
    # calcination: 0.25 × 0.776 + 0.75 × 0.785 = 0.78275 t CO2 per t PrNd oxide
    assert bio[("prnd-oxide", "co2")] == pytest.approx(782.75, rel=1e-12)
    # roasting: 1 t concentrate × 50 % REO × 70 % in bastnäsite × 0.252975 / 0.97 t CO2 per t REO
    assert bio[("roasting", "co2")] == pytest.approx(1000 * 0.5 * 0.7 * 0.252975 / 0.97, rel=1e-12)
    # anode carbon: 0.115 t graphite × 3.664
    assert bio[("prnd-metal", "co2")] == pytest.approx(1000 * 0.115 * 3.664, rel=1e-12)


def test_separation_allocation_factors() -> None:
    econ = load_model(LIBRARY).allocation_factors()["separation"]
    value = {"la-sx": 0.25 * 4.5, "ce-sx": 0.50 * 4.0, "prnd-sx": 0.22 * 392, "smeugd-concentrate": 0.023 * 30,
             "heavy-concentrate": 0.007 * 400}
    assert econ == pytest.approx({k: v / sum(value.values()) for k, v in value.items()}, rel=1e-12)
    mass = load_model(LIBRARY, allocation="mass").allocation_factors()["separation"]
    assert mass == pytest.approx({"la-sx": 0.25, "ce-sx": 0.50, "prnd-sx": 0.22, "smeugd-concentrate": 0.023,
                                  "heavy-concentrate": 0.007}, rel=1e-12)


def test_switching_saponification_to_magnesium_bicarbonate() -> None:
    """Per t REO the MgO route uses 0.50384 × 1.11 t MgO per t NaOH replaced at 1.1 against NaOH at 1.2 t CO2e/t,
    so the MgO contribution is 0.50384 × 1.11 × 1.1 / 1.2 of the NaOH one (the separation's supply is unchanged)."""
    base = LCA.from_system(load_model(LIBRARY).system, METHOD).contributions({"prnd-oxide": 1.0}).by_process
    mg = LCA.from_system(load_model(LIBRARY, parameters={"naoh_share": 0.0}).system, METHOD) \
        .contributions({"prnd-oxide": 1.0}).by_process
    assert mg.get("naoh", 0.0) == 0.0
    assert mg["mgo"] == pytest.approx(base["naoh"] * 40.304 / (2 * 39.997) * 1.11 * 1.1 / 1.2, rel=1e-12)
    assert sum(mg.values()) < sum(base.values())


def test_recycled_routes_are_lower_under_economic_allocation() -> None:
    lca = LCA.from_system(load_model(LIBRARY).system, METHOD)
    s = {p: lca.score({p: 1.0}) for p in PRODUCTS}
    assert s["ndfeb-magnet-m2m"] < s["ndfeb-magnet-recycled"] < s["ndfeb-magnet"]
    assert s["prnd-oxide-recycled"] < s["prnd-oxide"]


def test_bw2calc_agrees_on_every_product() -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import bw2calc
    except ImportError as exc:  # pragma: no cover - depends on the machine
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"bw2calc not installed ({exc}); pip install -e '.[test]'")
    from rareeco.lca.brightway import to_datapackage

    for allocation in ("mass", "economic"):
        data = matrix_data(load_model(LIBRARY, allocation=allocation).system, METHOD)
        ours = LCA(data)
        exp = to_datapackage(data, uncertainty=False)
        for p in PRODUCTS:
            theirs = bw2calc.LCA(exp.demand({p: 1.0}), data_objs=[exp.datapackage])
            theirs.lci()
            theirs.lcia()
            assert abs(theirs.score - ours.score({p: 1.0})) <= 1e-9 * abs(ours.score({p: 1.0})), (allocation, p)


def test_the_table_of_docs_lca_library() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "lca-library.md").read_text("utf-8")
    rows = [ln.split("|")[1:4] for ln in doc.splitlines() if ln.startswith("| ") and ln.count("|") == 4
            and ln.split("|")[2].strip()[:1].isdigit()]
    assert len(rows) == 11
    lcas = {a: LCA.from_system(load_model(LIBRARY, allocation=a).system, METHOD) for a in ("economic", "mass")}
    for product, econ, mass in (map(str.strip, r) for r in rows):
        assert econ == f"{lcas['economic'].score({product: 1.0}) / 1000:.3f}", product
        assert mass == f"{lcas['mass'].score({product: 1.0}) / 1000:.3f}", product
    model = load_model(LIBRARY)
    assert f"{len(model.parameters.values)}\nparameters" in doc or f"{len(model.parameters.values)} parameters" in doc
    assert f"({len(model.system.processes)} once" in doc


def test_library_name_and_parameter_override_on_the_command_line() -> None:
    from rareeco.lca.cli import parse_parameters, run_model

    r = run_model("library:rare-earth-chain", ["prnd-oxide=1 kg"], METHOD, parameters=parse_parameters(
        ["naoh_share=0"]))
    doc = (Path(__file__).parents[1] / "docs" / "lca-library.md").read_text("utf-8")
    assert "28.065 kg CO2e/kg" in doc and f"{r['score']:.3f}" == "28.065"
