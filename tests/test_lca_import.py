"""Imports of openLCA JSON-LD and Brightway data (docs/lca-import.md), checked against hand-solved numbers.

* The steel ⇄ electricity ⇄ coal system (tests/olca_example.py; solved by hand in tests/test_lca_engine.py)
  written as openLCA JSON-LD in openLCA's own units scores 349.5/93 kg CO2e for 1 kg of steel.
* The refinery (tests/olca_example.py): per run 2 kg A, 1 kg B, 3 kg CO2 emitted, 1 kg CO2 taken from air
  (factor −1, so net 2 kg CO2e).  Physical factors 0.8/0.2: A = 2 · 0.8 / 2 = 0.8 kg CO2e/kg,
  B = 2 · 0.2 / 1 = 0.4; economic 0.6/0.4: A = 0.6, B = 0.8.  The user of 1 kg A avoiding 0.5 kg B scores
  0.8 − 0.5 · 0.4 = 0.6 (physical) and 0.6 − 0.5 · 0.8 = 0.2 (economic).
* Brightway: our own export read back gives the same score for every product; bw2io-style dicts map each
  stats_arrays uncertainty type field by field.

olca_schema and bw_processing are optional: without them those tests skip with a message, except under
``CI=true`` where they fail (as tests/test_lca_bw2calc.py does for bw2calc).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from rareeco.cli import app
from rareeco.errors import ValidationFailed
from rareeco.lca import (
    LCA,
    BiosphereExchange,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
    matrix_data,
)
from rareeco.lca.brightway import (
    system_from_activities,
    system_from_datapackage,
    to_datapackage,
    uncertainty_from_stats_arrays,
)
from rareeco.lca.errors import LCAError
from rareeco.lca.importing import MissingDependencyError, model_document, unit_label
from rareeco.lca.model import model_from_document
from test_lca_engine import FLOWS, PROCESSES, TEST_GWP

IN_CI = os.environ.get("CI", "").lower() == "true"
HAND_SCORE = 349.5 / 93          # kg CO2e for 1 kg of steel (tests/test_lca_engine.py)
DOCS_EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "steel-electricity-olca"
runner = CliRunner()


def need(module: str) -> Any:
    """Import an optional ``module``; skip the test without it (fail under CI=true)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{module} is required in CI (pip install -e '.[test]'): {exc}")
        pytest.skip(f"{module} not installed ({exc}); pip install -e '.[test]' to run the import tests")


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


@pytest.fixture
def olca() -> Any:
    need("olca_schema")
    import olca_example

    return olca_example


def score(system: ProductSystem, demand: dict[str, float], method: str | None = None) -> float:
    return LCA.from_system(system, method or next(iter(system.methods))).score(demand)


def findings_text(exc: ValidationFailed) -> str:
    return "\n".join(f"{f.message} — {f.fix}" for f in exc.findings)


# --- openLCA JSON-LD ---------------------------------------------------------------------------------

def test_olca_zip_scores_the_hand_system_exactly(olca: Any, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    imported = import_olca(olca.write_zip(tmp_path / "steel.zip", olca.steel_entities()))
    s = imported.system
    steel, el, coal = (olca.uid(n) for n in ("steel production, hot rolled", "electricity production, medium voltage",
                                              "hard coal mining"))
    assert rel_diff(score(s, {steel: 1.0}), HAND_SCORE) < 1e-12
    assert imported.warnings == ()
    # reference units and conversions through the unit groups: electricity is made in MJ (1 kWh = 3.6 MJ)
    procs = {p.id: p for p in s.processes}
    assert (procs[el].unit, procs[el].production_amount, procs[el].location) == ("MJ", 3.6, "CN-NM")
    assert (procs[steel].unit, procs[steel].reference_product) == ("kg", "steel, hot rolled")
    tech = {(x.consumer, x.supplier): x for x in s.technosphere}
    assert tech[(el, coal)].amount == pytest.approx(0.5, rel=1e-15)           # 0.0005 t
    assert tech[(el, steel)].amount == pytest.approx(0.01, rel=1e-15)         # 10 g
    assert tech[(steel, el)].amount == pytest.approx(7.2, rel=1e-15)          # 2 kWh
    assert tech[(steel, el)].uncertainty == Uncertainty("lognormal", sigma=pytest.approx(0.2, rel=1e-14))
    bio = {(x.process, x.flow): x.amount for x in s.biosphere}
    assert bio[(steel, olca.uid("Carbon dioxide"))] == pytest.approx(1.5, rel=1e-15)   # 1500 g
    method = s.methods["made-up-gwp-for-tests"]
    assert (method.unit, method.name) == ("kg CO2e", "made-up GWP for tests")
    assert method.factors[olca.uid("Methane")] == pytest.approx(27.0, rel=1e-14)        # 0.027 per g
    # every product: per kWh of electricity = per MJ × 3.6, as in the hand system
    lca = LCA.from_system(s, "made-up-gwp-for-tests")
    assert rel_diff(lca.score({el: 3.6}), 105 / 93) < 1e-12                     # 1 kWh (hand: 105/93)
    assert rel_diff(lca.score({coal: 1.0}), 35.61 / 93) < 1e-12                 # 1 kg coal (hand: 35.61/93)


def test_olca_directory_in_docs_is_the_built_package(olca: Any) -> None:
    from rareeco.lca.olca import import_olca

    expected = olca.documents(olca.steel_entities())
    on_disk = {p.relative_to(DOCS_EXAMPLE).as_posix(): json.loads(p.read_text(encoding="utf-8"))
               for p in DOCS_EXAMPLE.rglob("*.json") if p.name != "olca-schema.json"}
    assert on_disk == expected, "regenerate with: python tests/olca_example.py docs/examples/steel-electricity-olca"
    s = import_olca(DOCS_EXAMPLE).system
    assert rel_diff(score(s, {olca.uid("steel production, hot rolled"): 1.0}), HAND_SCORE) < 1e-12


def test_olca_unlinked_input_names_process_and_exchange(olca: Any, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    path = olca.write_zip(tmp_path / "unlinked.zip", olca.steel_entities(steel_provider=None))
    with pytest.raises(ValidationFailed) as e:
        import_olca(path)
    [f] = e.value.findings
    assert f.code == "lca_import_unlinked"
    assert "process 'steel production, hot rolled'" in f.message
    assert "exchange 2 (input of 2.0 kWh 'electricity, medium voltage')" in f.message
    assert "no default provider" in f.message and "--drop-unlinked" in (f.fix or "")
    # dropping it is a choice, reported as a warning: steel then scores only its own 1.5 kg CO2
    imported = import_olca(path, drop_unlinked=True)
    [w] = imported.warnings
    assert w.severity == "advisory" and "exchange 2" in w.message and "dropped" in w.message
    assert score(imported.system, {olca.uid("steel production, hot rolled"): 1.0}) == pytest.approx(1.5)


def test_olca_unknown_unit_names_process_and_exchange(olca: Any, tmp_path: Path) -> None:
    import olca_schema as o

    from rareeco.lca.olca import import_olca

    bag = o.Ref(id=olca.uid("bag"), name="bag")
    with pytest.raises(ValidationFailed) as e:
        import_olca(olca.write_zip(tmp_path / "unit.zip", olca.steel_entities(coal_unit=bag)))
    [f] = e.value.findings
    assert f.code == "lca_import_unit"
    assert "process 'electricity production, medium voltage'" in f.message and "exchange 3" in f.message
    assert "unknown unit 'bag'" in f.message and "group 'Units of mass'" in f.message
    assert "['kg', 'g', 't']" in (f.fix or "")


def test_olca_missing_reference_exchange_names_the_process(olca: Any, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    with pytest.raises(ValidationFailed) as e:
        import_olca(olca.write_zip(tmp_path / "noref.zip", olca.steel_entities(no_reference=True)))
    [f] = e.value.findings
    assert f.code == "lca_import_reference"
    assert f.message.startswith(f"process 'hard coal mining' ({olca.uid('hard coal mining')}): has 0 quantitative")


def test_olca_allocation_with_stored_factors(olca: Any, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    path = olca.write_zip(tmp_path / "refinery.zip", olca.refinery_entities())
    refinery, user = olca.uid("refinery"), olca.uid("user of A")
    a, b = refinery, f"{refinery}/{olca.uid('product B')}"      # the reference product keeps the process id
    physical = import_olca(path, allocation="physical").system
    assert score(physical, {a: 1.0}) == pytest.approx(0.8, rel=1e-14)
    assert score(physical, {b: 1.0}) == pytest.approx(0.4, rel=1e-14)
    assert score(physical, {user: 1.0}) == pytest.approx(0.6, rel=1e-14)
    # the resource is negative in B, and so is its factor's sign flipped: −1 × −0.8 = +0.8 removed from A
    uptake = olca.uid("Carbon dioxide, in air")
    assert {(x.process, x.flow): x.amount for x in physical.biosphere}[(a, uptake)] == pytest.approx(-0.8)
    assert physical.methods["gwp"].factors[uptake] == 1.0
    assert {(x.consumer, x.supplier): x.amount for x in physical.technosphere}[(user, b)] == -0.5   # avoided
    economic = import_olca(path, allocation="economic").system
    assert score(economic, {a: 1.0}) == pytest.approx(0.6, rel=1e-14)
    assert score(economic, {user: 1.0}) == pytest.approx(0.2, rel=1e-14)
    # the process's own default is used when no method is chosen
    default = import_olca(olca.write_zip(tmp_path / "default.zip",
                                         olca.refinery_entities(default_allocation="ECONOMIC_ALLOCATION"))).system
    assert score(default, {b: 1.0}) == pytest.approx(0.8, rel=1e-14)


def test_olca_allocation_errors_name_process_and_product(olca: Any, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    path = olca.write_zip(tmp_path / "refinery.zip", olca.refinery_entities())
    with pytest.raises(ValidationFailed) as e:
        import_olca(path)
    assert "process 'refinery'" in e.value.message and "2 products ['product A', 'product B']" in e.value.message
    assert "--allocation" in (e.value.fix or "")
    with pytest.raises(ValidationFailed) as e:
        import_olca(path, allocation="causal")
    assert "no causal allocation factor for product 'product A'" in e.value.message
    causal = olca.write_zip(tmp_path / "causal.zip", olca.refinery_entities(causal=True))
    with pytest.raises(ValidationFailed) as e:     # CO2 has causal factors, the uptake (exchange 4) has none
        import_olca(causal, allocation="causal")
    assert "exchange 4 (Carbon dioxide, in air)" in e.value.message


def test_olca_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rareeco.lca.olca import import_olca

    monkeypatch.setitem(sys.modules, "olca_schema", None)   # import olca_schema now raises ImportError
    with pytest.raises(MissingDependencyError) as e:
        import_olca(tmp_path / "any.zip")
    assert "olca_schema" in e.value.message and e.value.fix == "pip install 'rareeco[olca]'"


# --- Brightway datapackages ----------------------------------------------------------------------------

def uncertain_hand_system() -> ProductSystem:
    """The hand system with one distribution of each kind (values within them)."""
    return ProductSystem(
        processes=PROCESSES, flows=FLOWS,
        technosphere=(TechnosphereExchange("electricity", "steel", 0.01, uncertainty=Uncertainty.uniform(0.005, 0.02)),
                      TechnosphereExchange("electricity", "coal", 0.0005, unit="t",
                                           uncertainty=Uncertainty.normal(0.00005)),
                      TechnosphereExchange("steel", "electricity", 2.0, uncertainty=Uncertainty.lognormal(sigma=0.2)),
                      TechnosphereExchange("coal", "electricity", 0.1)),
        biosphere=(BiosphereExchange("electricity", "co2", 0.9),
                   BiosphereExchange("steel", "co2", 1.5, uncertainty=Uncertainty.triangular(1.2, 1.8)),
                   BiosphereExchange("coal", "ch4", 0.01)),
        methods={"test-gwp": TEST_GWP})


def test_brightway_round_trip_same_scores_for_every_product() -> None:
    need("bw_processing")
    original = uncertain_hand_system()
    data = matrix_data(original, "test-gwp")
    imported = system_from_datapackage(to_datapackage(data).datapackage)
    back = imported.system
    assert imported.warnings == ()
    assert [(p.id, p.name, p.unit) for p in back.processes] == [(p.id, p.name, p.unit) for p in original.processes]
    ours, theirs = LCA(data).product_scores(), LCA.from_system(back, "test-gwp").product_scores()
    np.testing.assert_allclose(theirs, ours, rtol=1e-12)
    assert ours[1] == pytest.approx(HAND_SCORE, rel=1e-13)
    # distributions survive (stats_arrays stores parameters as float32)
    got = {(x.consumer, x.supplier): x.uncertainty for x in back.technosphere}
    assert got[("steel", "electricity")].sigma == pytest.approx(0.2, rel=1e-7)
    assert got[("electricity", "coal")].std == pytest.approx(0.05, rel=1e-7)          # 0.00005 t = 0.05 kg
    unif = got[("electricity", "steel")]
    assert (unif.distribution, unif.minimum, unif.maximum) == ("uniform", pytest.approx(0.005, rel=1e-7),
                                                              pytest.approx(0.02, rel=1e-7))
    tri = {(x.process, x.flow): x.uncertainty for x in back.biosphere}[("steel", "co2")]
    assert (tri.distribution, tri.minimum, tri.maximum) == ("triangular", pytest.approx(1.2, rel=1e-7),
                                                            pytest.approx(1.8, rel=1e-7))


def write_bare_datapackage(directory: Path) -> Path:
    """The hand system as bw2data would write it: integer ids, no rareeco metadata, inputs flipped; a zip."""
    bwp = need("bw_processing")
    dp = bwp.create_datapackage(fs=bwp.generic_zipfile_filesystem(dirpath=directory, filename="hand.zip"),
                                name="hand", sequential=True)
    # ids: electricity 11, steel 12, coal 13; co2 21, ch4 22 (A as in tests/test_lca_engine.py)
    tech = [(11, 11, 1.0, False), (12, 12, 1.0, False), (13, 13, 1.0, False),
            (12, 11, 0.01, True), (13, 11, 0.5, True), (11, 12, 2.0, True), (11, 13, 0.1, True)]
    idx = np.array([(r, c) for r, c, _, _ in tech], dtype=bwp.INDICES_DTYPE)
    dp.add_persistent_vector(matrix="technosphere_matrix", name="tech", indices_array=idx,
                             data_array=np.array([v for *_, v, _ in tech]), flip_array=np.array([f for *_, f in tech]))
    bio = [(21, 11, 0.9), (21, 12, 1.5), (22, 13, 0.01)]
    dp.add_persistent_vector(matrix="biosphere_matrix", name="bio",
                             indices_array=np.array([(r, c) for r, c, _ in bio], dtype=bwp.INDICES_DTYPE),
                             data_array=np.array([v for *_, v in bio]))
    dp.add_persistent_vector(matrix="characterization_matrix", name="gwp",
                             indices_array=np.array([(21, 21), (22, 22)], dtype=bwp.INDICES_DTYPE),
                             data_array=np.array([1.0, 27.0]))
    dp.finalize_serialization()
    return directory / "hand.zip"


def test_brightway_datapackage_on_disk_without_metadata(tmp_path: Path) -> None:
    path = write_bare_datapackage(tmp_path)
    imported = system_from_datapackage(path, method_id="gwp", method_unit="kg CO2e")
    s = imported.system
    assert [p.id for p in s.processes] == ["11", "12", "13"]
    assert {p.unit for p in s.processes} == {"dimensionless"}
    assert s.methods["gwp"].factors == {"21": 1.0, "22": 27.0}
    assert rel_diff(score(s, {"12": 1.0}, "gwp"), HAND_SCORE) < 1e-12


def test_brightway_datapackage_errors(tmp_path: Path) -> None:
    bwp = need("bw_processing")
    dp = bwp.create_datapackage(name="broken", sequential=True)
    dp.add_persistent_vector(matrix="technosphere_matrix", name="tech",
                             indices_array=np.array([(1, 1), (2, 1)], dtype=bwp.INDICES_DTYPE),
                             data_array=np.array([1.0, 0.5]), flip_array=np.array([False, True]))
    with pytest.raises(ValidationFailed) as e:
        system_from_datapackage(dp)
    assert "technosphere entry (2, 1)" in e.value.message and "id 2 has no production (diagonal) entry" in \
        e.value.message


# --- Brightway activity dicts (bw2io strategies output) -------------------------------------------------

def bw_activities() -> list[dict[str, Any]]:
    """The hand system as bw2io dicts, one distribution of each stats_arrays type, plus a natural resource."""
    def x(code: str, amount: float, kind: str, **kw: Any) -> dict[str, Any]:
        db = "bio" if kind == "biosphere" else "db"
        return {"input": (db, code), "amount": amount, "type": kind, **kw}

    return [
        {"database": "db", "code": "el", "name": "electricity, medium voltage", "unit": "kilowatt hour",
         "location": "CN-NM", "reference product": "electricity", "exchanges": [
             x("el", 1.0, "production", **{"uncertainty type": 0}),
             x("st", 0.01, "technosphere", **{"uncertainty type": 4, "minimum": 0.005, "maximum": 0.02}),
             x("coal", 0.5, "technosphere", **{"uncertainty type": 3, "loc": 0.5, "scale": 0.05}),
             x("co2", 0.9, "biosphere", **{"uncertainty type": 5, "loc": 0.9, "minimum": 0.8, "maximum": 1.0})]},
        {"database": "db", "code": "st", "name": "steel, hot rolled", "unit": "kilogram", "location": "CN",
         "reference product": "steel", "exchanges": [
             x("st", 1.0, "production"),
             x("el", 2.0, "technosphere", **{"uncertainty type": 2, "loc": math.log(2.0), "scale": 0.2}),
             x("co2", 1.5, "biosphere", **{"uncertainty type": 1})]},
        {"database": "db", "code": "coal", "name": "hard coal, mined", "unit": "kilogram", "location": "CN-NM",
         "exchanges": [
             x("coal", 1.0, "production"),
             x("el", 0.1, "technosphere"),
             x("ch4", 0.01, "biosphere", name="Methane", unit="kilogram", categories=("air",))]},
        # recycling: makes 1 t of scrap steel, avoids 0.8 kg of steel (uniform bounds mirrored), takes 0.2 kg CO2
        # from air as a natural resource (Brightway: positive amount, factor −1)
        {"database": "db", "code": "rec", "name": "steel scrap recycling", "unit": "ton", "exchanges": [
            x("rec", 1.0, "production"),
            x("st", 0.8, "substitution", **{"uncertainty type": 4, "minimum": 0.7, "maximum": 0.9}),
            x("co2air", 0.2, "biosphere")]},
        {"database": "bio", "code": "co2", "name": "Carbon dioxide, fossil", "unit": "kilogram",
         "categories": ("air",), "type": "emission"},
    ]


BW_BIOSPHERE = [{"database": "bio", "code": "co2air", "name": "Carbon dioxide, in air", "unit": "kilogram",
                 "categories": ("natural resource", "in air"), "type": "natural resource"}]
BW_METHODS = [{"name": ("made-up", "GWP"), "unit": "kg CO2-Eq", "exchanges": [
    {"input": ("bio", "co2"), "amount": 1.0}, {"input": ("bio", "ch4"), "amount": 27.0},
    {"input": ("bio", "co2air"), "amount": -1.0}, {"input": ("bio", "n2o"), "amount": 273.0}]}]


def test_bw_dicts_map_uncertainty_field_by_field() -> None:
    imported = system_from_activities(bw_activities(), biosphere=BW_BIOSPHERE, methods=BW_METHODS)
    s = imported.system
    assert imported.warnings == ()
    tech = {(t.consumer, t.supplier): t for t in s.technosphere}
    bio = {(b.process, b.flow): b for b in s.biosphere}
    assert tech[("db:st", "db:el")].uncertainty == Uncertainty("lognormal", sigma=0.2)            # type 2
    assert tech[("db:el", "db:coal")].uncertainty == Uncertainty("normal", std=0.05)              # type 3
    assert tech[("db:el", "db:st")].uncertainty == Uncertainty("uniform", minimum=0.005, maximum=0.02)  # 4
    assert bio[("db:el", "bio:co2")].uncertainty == Uncertainty("triangular", minimum=0.8, maximum=1.0)  # 5
    assert bio[("db:st", "bio:co2")].uncertainty is None                                          # type 1
    assert tech[("db:coal", "db:el")].uncertainty is None                                         # none given
    # substitution: a negative input, its uniform bounds mirrored
    avoided = tech[("db:rec", "db:st")]
    assert (avoided.amount, avoided.uncertainty) == (-0.8, Uncertainty("uniform", minimum=-0.9, maximum=-0.7))
    # a natural resource is negative in rareeco, and its factor changes sign with it: the score does not
    assert bio[("db:rec", "bio:co2air")].amount == -0.2
    method = s.methods["made-up-gwp"]
    assert (method.name, method.unit) == ("made-up | GWP", "kg CO2-Eq")
    assert method.factors == {"bio:co2": 1.0, "bio:ch4": 27.0, "bio:co2air": 1.0}    # n2o: no activity emits it
    procs = {p.id: p for p in s.processes}
    assert (procs["db:el"].unit, procs["db:el"].location, procs["db:el"].reference_product) == \
        ("kilowatt hour", "CN-NM", "electricity")
    assert procs["db:rec"].unit == "tonne"                    # Brightway's "ton" is a metric tonne
    assert rel_diff(score(s, {"db:st": 1.0}), HAND_SCORE) < 1e-12
    # 1 t recycled: −0.8 kg steel, −0.2 kg CO2 taken from air × 1 (Brightway: +0.2 × −1)
    assert score(s, {"db:rec": 1.0}) == pytest.approx(-0.8 * HAND_SCORE - 0.2, rel=1e-12)


def test_bw_dicts_errors_name_activity_and_exchange() -> None:
    acts = bw_activities()
    acts[1]["exchanges"].append({"input": ("db", "gone"), "amount": 3.0, "type": "technosphere", "unit": "kg"})
    acts[2]["exchanges"][1].update({"uncertainty type": 8, "scale": 1.0, "shape": 2.0})          # Weibull
    with pytest.raises(ValidationFailed) as e:
        system_from_activities(acts, biosphere=BW_BIOSPHERE, methods=BW_METHODS)
    text = findings_text(e.value)
    assert "activity 'steel, hot rolled' (db:st), exchange 3 (technosphere 3.0 kg ('db', 'gone')): input ('db', " \
           "'gone') is not among the activities" in text
    assert "activity 'hard coal, mined' (db:coal), exchange 1" in text and "uncertainty type 8 (weibull)" in text
    acts[2]["exchanges"][1]["uncertainty type"] = 0
    imported = system_from_activities(acts, biosphere=BW_BIOSPHERE, methods=BW_METHODS, drop_unlinked=True)
    [w] = imported.warnings
    assert w.severity == "advisory" and "exchange 3" in w.message and "dropped" in w.message


def test_bw_lognormal_loc_that_disagrees_is_a_warning() -> None:
    acts = bw_activities()
    acts[1]["exchanges"][1]["loc"] = 0.0                                    # ln 2 expected
    [w] = system_from_activities(acts, biosphere=BW_BIOSPHERE).warnings
    assert "loc 0 differs from ln|amount| 0.693147" in w.message and "median" in w.message


def test_uncertainty_from_stats_arrays_reads_dicts_and_array_rows() -> None:
    assert uncertainty_from_stats_arrays({"uncertainty type": 0}, 5.0) is None
    assert uncertainty_from_stats_arrays({}, 5.0) is None
    assert uncertainty_from_stats_arrays({"uncertainty_type": np.uint8(2), "loc": np.float32(math.log(5)),
                                          "scale": np.float32(0.5), "minimum": np.float32("nan")}, 5.0) == \
        Uncertainty("lognormal", sigma=0.5)
    with pytest.raises(LCAError, match="normal distribution without scale"):
        uncertainty_from_stats_arrays({"uncertainty type": 3}, 1.0)


def test_unit_labels_of_other_tools() -> None:
    assert unit_label("ton") == "tonne"          # not pint's short ton
    assert unit_label("Item(s)") == "count" and unit_label("m2*a") == "meter ** 2 * year"
    assert unit_label("kilowatt hour") == "kilowatt hour"
    assert unit_label("pig place", {"pig place": "count"}) == "count"
    with pytest.raises(Exception, match="unit 'pig place' is not a unit rareeco knows"):
        unit_label("pig place")


def test_model_document_round_trip_keeps_scores_and_distributions() -> None:
    system = uncertain_hand_system()
    model = model_from_document(model_document(system, "hand"))
    assert model.system.technosphere == system.technosphere and model.system.biosphere == system.biosphere
    assert score(model.system, {"steel": 1.0}) == pytest.approx(HAND_SCORE, rel=1e-13)


# --- rareeco lca convert -------------------------------------------------------------------------------

def test_cli_convert_olca_then_run(olca: Any, tmp_path: Path) -> None:
    out = tmp_path / "steel.yaml"
    r = runner.invoke(app, ["lca", "convert", str(DOCS_EXAMPLE), str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {out}: 3 processes, 2 flows, 1 method (0 warnings)" in r.output
    r = runner.invoke(app, ["lca", "run", str(out), "--demand", "steel, hot rolled=1 kg", "--json"])
    assert r.exit_code == 0, r.output
    assert rel_diff(json.loads(r.output)["score"], HAND_SCORE) < 1e-12


def test_cli_convert_brightway_datapackage_and_dicts(tmp_path: Path) -> None:
    out = tmp_path / "hand.json"
    r = runner.invoke(app, ["lca", "convert", str(write_bare_datapackage(tmp_path)), str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [m["id"] for m in doc["methods"]] == ["brightway"]
    r = runner.invoke(app, ["lca", "run", str(out), "--demand", "12=1", "--json"])
    assert rel_diff(json.loads(r.output)["score"], HAND_SCORE) < 1e-12
    example = DOCS_EXAMPLE.parent / "brightway-activities.json"          # docs/lca-import.md: 1.5 + 2 · 0.9
    r = runner.invoke(app, ["lca", "convert", str(example), str(tmp_path / "example.yaml")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["lca", "run", str(tmp_path / "example.yaml"), "--demand", "steel=1 kg", "--json"])
    assert json.loads(r.output)["score"] == pytest.approx(3.3, rel=1e-14)
    acts = tmp_path / "acts.json"
    acts.write_text(json.dumps({"activities": bw_activities(), "biosphere": BW_BIOSPHERE, "methods": BW_METHODS}),
                    encoding="utf-8")
    r = runner.invoke(app, ["lca", "convert", str(acts), str(tmp_path / "acts.yaml")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["lca", "run", str(tmp_path / "acts.yaml"), "--demand", "db:st=1 kg", "--json"])
    assert rel_diff(json.loads(r.output)["score"], HAND_SCORE) < 1e-12


def test_cli_convert_errors_are_one_line_with_findings(olca: Any, tmp_path: Path) -> None:
    path = olca.write_zip(tmp_path / "unlinked.zip", olca.steel_entities(steel_provider=None))
    r = runner.invoke(app, ["lca", "convert", str(path), str(tmp_path / "x.yaml")])
    assert r.exit_code == 1
    assert "error" in r.output and "exchange 2 (input of 2.0 kWh 'electricity, medium voltage')" in r.output
    assert not (tmp_path / "x.yaml").exists()
    r = runner.invoke(app, ["lca", "convert", str(path), str(tmp_path / "x.yaml"), "--drop-unlinked"])
    assert r.exit_code == 0 and "warning" in r.output and "(1 warning)" in r.output
    r = runner.invoke(app, ["lca", "convert", str(path), str(tmp_path / "x.txt")])
    assert r.exit_code == 1 and "must end in .yaml, .yml or .json" in r.output
