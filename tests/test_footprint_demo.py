"""The demo producer's footprints: the figures docs/footprints.md states, conservation, and bw2calc.

* every figure of the page's table and walk-through is recomputed from the demo ledger;
* conservation: Σ footprint × (made − used as own feed) over all products equals everything the lines
  emitted — and, without electricity, the inventory's scope 1 + scope 3 of the same lines (two calculators);
* bw2calc, the reference engine, gives the same footprint for every product under both allocations.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from rareeco.demo.load import load_demo
from rareeco.footprint.service import compute, read_year, systems
from rareeco.footprint.system import METHOD, FootprintSystem
from rareeco.inventory.service import compute as inventory_compute
from rareeco.lca import LCA, matrix_data
from rareeco.ledger.db import make_engine, session_scope

DOC = (Path(__file__).parents[1] / "docs" / "footprints.md").read_text("utf-8")
YEAR = 2025


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fp') / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    return eng


@pytest.fixture(scope="module")
def payload(demo: Engine) -> dict[str, Any]:
    with session_scope(demo) as s:
        return compute(s, "demo", YEAR)


def demo_systems(demo: Engine) -> dict[str, FootprintSystem]:
    with session_scope(demo) as s:
        built, unavailable = systems(read_year(s, "demo", YEAR))
    assert not unavailable and set(built) == {"mass", "economic"}
    return built


def test_the_table_of_the_page(payload: dict[str, Any]) -> None:
    rows = [line.split("|")[1:-1] for line in DOC.splitlines() if re.match(r"^\| [a-z0-9-]+ \| \d", line)]
    assert len(rows) == len(payload["products"]) == 11
    for product, econ, mass, interval, pds in (map(str.strip, r) for r in rows):
        e, m = payload["footprints"]["economic"][product], payload["footprints"]["mass"][product]
        assert econ == f"{e['kg_co2e_per_declared_unit']:.3f}", product
        assert mass == f"{m['kg_co2e_per_declared_unit']:.3f}", product
        p = e["uncertainty"]["percentiles"]
        assert interval == f"{p['p2.5']:.2f}–{p['p97.5']:.2f}", product
        assert pds == f"{e['primary_data_share_pct']:.1f} %", product


def test_the_prnd_oxide_walkthrough(payload: dict[str, Any]) -> None:
    sep = [p for p, v in payload["products"].items() if v["line"] == "baotou / separation"]
    made = {p: next(ln for ln in payload["lines"] if ln["line"] == "baotou / separation")["made_t"][p] for p in sep}
    mass = payload["footprints"]["mass"]
    total = math.fsum(mass[p]["kg_co2e_per_declared_unit"] * made[p] for p in sep)       # t CO2e
    assert f"**{total:,.1f} t CO2e**" in DOC and f"{sum(made.values()):,.1f} t" in DOC
    share = payload["allocation_factors"]["economic"]["baotou / separation"]["prnd-oxide"]
    econ = payload["footprints"]["economic"]["prnd-oxide"]
    assert total * share / made["prnd-oxide"] == pytest.approx(econ["kg_co2e_per_declared_unit"], rel=1e-12)
    assert f"{100 * share:.2f} %" in DOC and f"{made['prnd-oxide']:,.1f} t × 392 CNY/kg" in DOC
    for process, v in list(econ["contributions_kg_co2e"].items())[:8]:
        assert f"{v:.3f}" in DOC, process
    assert len(payload["background"]) == 18 and "11 product processes and 18" in DOC


def test_the_recycled_comparison(payload: dict[str, Any]) -> None:
    econ = payload["footprints"]["economic"]
    for primary, recycled in (("prnd-oxide", "prnd-oxide-recycled"), ("prnd-metal", "prnd-metal-recycled"),
                              ("ndfeb-magnet", "ndfeb-magnet-recycled")):
        a, b = econ[primary]["kg_co2e_per_declared_unit"], econ[recycled]["kg_co2e_per_declared_unit"]
        assert f"| {a:.3f} | {b:.3f} | {100 * (1 - b / a):.1f} % |" in DOC


def test_allocation_conserves_the_organisations_burden(demo: Engine, payload: dict[str, Any]) -> None:
    """Σ_p footprint_p × (made_p − used_p) = all the lines' emissions, under both allocations."""
    net: dict[str, float] = {}
    for ln in payload["lines"]:
        for p, t in ln["made_t"].items():
            net[p] = net.get(p, 0.0) + t
        for p, t in ln["feeds_t"].items():
            net[p] = net.get(p, 0.0) - t
    totals = {a: math.fsum(fp[p]["kg_co2e_per_declared_unit"] * net[p] for p in net)
              for a, fp in payload["footprints"].items()}
    assert totals["mass"] == pytest.approx(totals["economic"], rel=1e-12)
    # the same burden from the inventory (scope 1 + scope 3 of the same records) plus electricity at the
    # carbon-footprint factors: two calculators, one total
    with session_scope(demo) as s:
        inv, _ = inventory_compute(s, "demo", YEAR)
    mwh = {a: math.fsum(ln["amounts"].get(a, 0.0) for ln in payload["lines"])
           for a in ("electricity.grid", "electricity.onsite_solar")}
    electricity = mwh["electricity.grid"] * 0.6205 + mwh["electricity.onsite_solar"] * 0.0545
    assert totals["mass"] == pytest.approx(inv["scope1_t_co2e"] + inv["scope3_t_co2e"] + electricity, rel=1e-9)


IN_CI = os.environ.get("CI", "").lower() == "true"


def test_bw2calc_gives_the_same_footprints(demo: Engine) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import bw2calc
    except ImportError as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            raise
        pytest.skip(f"bw2calc not installed ({exc}); pip install -e '.[test]'")
    from rareeco.lca.brightway import to_datapackage

    for fs in demo_systems(demo).values():
        data = matrix_data(fs.system, METHOD)
        ours = LCA(data).product_scores()
        exp = to_datapackage(data, uncertainty=False)
        for p in fs.line_of:
            lca = bw2calc.LCA(exp.demand({p: 1.0}), data_objs=[exp.datapackage])
            lca.lci()
            lca.lcia()
            i = data.processes.ids.index(p)
            assert abs(lca.score - ours[i]) <= 1e-9 * abs(ours[i]), p
        assert np.all(np.isfinite(ours))
