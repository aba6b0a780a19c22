"""EU CRMA Art. 29 recycled content: the scrap mass balance checked by hand and by properties, and the demo's
declaration (docs/circularity.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from rareeco.circularity.declaration import declare
from rareeco.circularity.massbalance import LineMonth, load_assumptions, run_chain, shares
from rareeco.demo.downstream import postconsumer_share
from rareeco.demo.load import load_demo
from rareeco.errors import NotFoundError, ValidationFailed
from rareeco.ledger.db import make_engine, session_scope

A = load_assumptions()
ND_IN_ND2O3 = 2 * 144.242 / (2 * 144.242 + 3 * 15.999)
PR_IN_PR6O11 = 6 * 140.908 / (6 * 140.908 + 11 * 15.999)
TARGETS = {"prnd-oxide-recycled": "prnd-metal-recycled", "prnd-metal-recycled": "ndfeb-magnet-recycled",
           "prnd-oxide": "prnd-metal", "prnd-metal": "ndfeb-magnet"}


def target(feed: str, outputs: set[str]) -> str | None:
    t = TARGETS.get(feed)
    return t if t in outputs else None


def chain(pre_t: float, post_t: float, oxide_t: float, dy_t: float, metal_t: float, oxide_fed_t: float,
          magnet_t: float, metal_fed_t: float, feb_t: float) -> list[LineMonth]:
    return [
        LineMonth("g / recycling", 1, {"prnd-oxide-recycled": oxide_t, "dy2o3-recycled": dy_t}, {},
                  {"purchased.ndfeb_scrap": pre_t, "purchased.ndfeb_scrap_postconsumer": post_t}),
        LineMonth("b / metal", 1, {"prnd-metal-recycled": metal_t}, {"prnd-oxide-recycled": oxide_fed_t}, {}),
        LineMonth("g / magnet", 1, {"ndfeb-magnet-recycled": magnet_t}, {"prnd-metal-recycled": metal_fed_t},
                  {"purchased.ferroboron": feb_t, "purchased.iron": 10.0}),
    ]


def test_oxide_stoichiometry_and_the_scrap_contents() -> None:
    assert A.element_fraction("Nd2O3")["Nd"] == pytest.approx(ND_IN_ND2O3)
    assert A.element_fraction("Pr6O11")["Pr"] == pytest.approx(PR_IN_PR6O11)
    assert A.element_fraction("Dy2O3")["Dy"] == pytest.approx(2 * 162.5 / (2 * 162.5 + 3 * 15.999))
    assert A.composition("prnd-oxide-recycled") == pytest.approx({"Nd": 0.75 * ND_IN_ND2O3, "Pr": 0.25 * PR_IN_PR6O11})
    pre = A.scrap["pre_consumer"]["contents"]
    assert pre["Nd"] + pre["Pr"] == pytest.approx(0.78 * 0.31) and pre["B"] == pytest.approx(0.0078)
    assert A.tag == "U"


def test_a_month_by_hand() -> None:
    """80 t pre + 20 t post scrap → 27 t PrNd oxide; 10 t of it to metal, 8.5 t metal; 5 t of the metal into a
    magnet with 1 t ferroboron (19 % B)."""
    r = run_chain(chain(80, 20, 27, 1.4, 8.5, 10, 16, 5, 1), A, target)
    assert r.findings == []
    bal = r.balances[0]
    nd_in = 100 * 0.78 * 0.2325
    assert bal["in_t"]["Nd"] == pytest.approx({"pre_consumer": 0.8 * nd_in, "post_consumer": 0.2 * nd_in,
                                               "total": nd_in})
    nd_out = 27 * 0.75 * ND_IN_ND2O3
    assert bal["loss_t"]["Nd"] == pytest.approx(nd_in - nd_out)
    assert bal["loss_t"]["B"] == pytest.approx(100 * 0.0078)                   # boron is not recovered
    ox = r.stocks[1]["prnd-oxide-recycled"]
    assert ox.post_t["Nd"] / ox.element_t["Nd"] == pytest.approx(0.2)
    metal = r.stocks[1]["prnd-metal-recycled"]
    assert sum(metal.element_t.values()) == pytest.approx(8.5)                 # all metal is Pr + Nd
    magnet = shares(r.stocks[1]["ndfeb-magnet-recycled"])
    assert magnet["Nd"]["post_consumer_pct"] == pytest.approx(20.0) and magnet["Nd"]["pre_consumer_pct"] == \
        pytest.approx(80.0)
    assert magnet["B"]["element_t"] == pytest.approx(0.19) and magnet["B"]["total_recycled_pct"] == 0.0
    assert magnet["Dy"]["present"] is False and "Co" not in magnet


def test_too_little_scrap_for_the_output_is_a_blocking_finding() -> None:
    r = run_chain(chain(10, 0, 27, 1.4, 8.5, 10, 16, 5, 1), A, target)
    assert {f.code for f in r.findings} == {"mass_balance_open"}
    assert all(f.severity == "blocking" for f in r.findings)


pos = st.floats(0.01, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(pre=st.floats(0, 1e4), post=st.floats(0, 1e4), recovery=st.floats(0.05, 1.0), dy_share=st.floats(0, 0.2),
       fed=st.floats(0, 1), metal_yield=st.floats(0.5, 1), to_magnet=st.floats(0, 1), magnet=pos, feb=st.floats(0, 50))
def test_shares_bounded_balance_closes_and_recycled_never_exceeds_scrap(pre: float, post: float, recovery: float,
                                                                        dy_share: float, fed: float,
                                                                        metal_yield: float, to_magnet: float,
                                                                        magnet: float, feb: float) -> None:
    scrap = pre + post
    if scrap < 1e-6:
        return
    # outputs below what the scrap brings: per t scrap at most 0.282 t PrNd oxide (Nd) and 0.0161 t Dy2O3
    oxide, dy = scrap * 0.28 * recovery, scrap * 0.016 * recovery * dy_share / 0.2
    metal = oxide * fed * 0.85 * metal_yield
    r = run_chain(chain(pre, post, oxide, dy, metal, oxide * fed, magnet, metal * to_magnet, feb), A, target)
    assert [f for f in r.findings if f.severity == "blocking"] == []
    bal = r.balances[0]
    for el, inn in bal["in_t"].items():
        out = sum(bal["out_t"][el].values())
        assert math.isclose(inn["total"], out + bal["loss_t"][el], rel_tol=1e-9, abs_tol=1e-9)   # closes
        assert bal["loss_t"][el] >= -1e-9
        assert inn["pre_consumer"] + inn["post_consumer"] == pytest.approx(inn["total"])
    for by_product in r.stocks.values():
        for s in by_product.values():
            for v in shares(s).values():
                if not v["present"]:
                    continue
                for k in ("pre_consumer_pct", "post_consumer_pct", "total_recycled_pct"):
                    assert -1e-9 <= v[k] <= 100 + 1e-9
                assert v["pre_consumer_pct"] + v["post_consumer_pct"] == pytest.approx(v["total_recycled_pct"])
    # recycled element anywhere downstream ≤ what the scrap brought, kind by kind
    for el, inn in bal["in_t"].items():
        ox = r.stocks[1]["prnd-oxide-recycled"]
        assert ox.pre_t.get(el, 0) <= inn["pre_consumer"] + 1e-9
        assert ox.post_t.get(el, 0) <= inn["post_consumer"] + 1e-9


def test_assumptions_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text('[scrap.pre_consumer]\nmagnet_share = 1.5\nalloy = {Nd = 0.9, Pr = 0.5}\n')
    with pytest.raises(ValidationFailed) as exc:
        load_assumptions(bad)
    assert "scrap.pre_consumer.magnet_share must be in (0, 1]" in exc.value.message
    assert "scrap.post_consumer is missing" in exc.value.message


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('circ') / 'demo.db'}")
    with session_scope(eng) as s:
        load_demo(s)
    return eng


def test_the_demo_declaration_of_the_recycled_magnet(demo: Engine) -> None:
    with session_scope(demo) as s:
        d = declare(s, "demo", "ndfeb-magnet-recycled", 2025)
        virgin = declare(s, "demo", "ndfeb-magnet", 2025)
        with pytest.raises(NotFoundError, match="was not made by demo in 2023"):
            declare(s, "demo", "ndfeb-magnet-recycled", 2023)
    assert d["findings"] == [] and d["regulation"].endswith("Article 29")
    nd, pr, b = d["elements"]["Nd"], d["elements"]["Pr"], d["elements"]["B"]
    # the recycled magnet's PrNd all comes from scrap; the post-consumer part is the year's scrap mix,
    # weighted by the metal that went into the magnet each month
    assert nd["total_recycled_pct"] == pytest.approx(100.0) and pr["total_recycled_pct"] == pytest.approx(100.0)
    assert nd["post_consumer_pct"] == pytest.approx(pr["post_consumer_pct"])
    monthly = [postconsumer_share(2025, m) for m in range(1, 13)]
    assert min(monthly) * 100 < nd["post_consumer_pct"] < max(monthly) * 100
    assert round(nd["post_consumer_pct"], 1) == 26.2
    assert b["present"] and b["total_recycled_pct"] == 0.0                       # boron is not recovered
    assert d["elements"]["Dy"]["present"] is False and d["elements"]["Tb"]["present"] is False
    assert virgin["elements"]["Nd"]["total_recycled_pct"] == 0.0
    rec = d["chain_of_custody"]["recycling_lines"][0]
    assert rec["line"] == "ganzhou / recycling" and len(rec["months"]) == 12
    assert rec["scrap_t"]["post_consumer"] == pytest.approx(1582.0, abs=0.05)
    assert rec["scrap_t"]["pre_consumer"] == pytest.approx(4509.3, abs=0.05)
    for el, inn in rec["in_t"].items():
        assert inn["total"] == pytest.approx(sum(rec["out_t"][el].values()) + rec["loss_t"][el])
    stages = {st_["product"]: st_ for st_ in d["chain_of_custody"]["stages"]}
    assert stages["prnd-oxide-recycled"]["used_t"] == {"prnd-metal-recycled": pytest.approx(396.1, abs=0.05)}
    assert any("implementing act" in c for c in d["caveats"]) and any("24 May 2027" in c for c in d["caveats"])
    assert d["provenance"]["assumptions_sha256"] == A.sha256
    # the figures of docs/circularity.md
    doc = (Path(__file__).resolve().parents[1] / "docs" / "circularity.md").read_text("utf-8")
    with session_scope(demo) as s:
        d24 = declare(s, "demo", "ndfeb-magnet-recycled", 2024)
    assert f"recycled magnet's post-consumer share is {d24['elements']['Nd']['post_consumer_pct']:.1f} %" in doc
    assert f"{nd['post_consumer_pct']:.1f} % post-consumer Nd and Pr" in doc
    for el in ("Nd", "Pr", "Dy"):
        assert f"{el} {rec['recovery_pct'][el]:.1f} %" in doc
    assert f"│ Nd      │       {nd['element_t']:.2f} │" in doc


def test_the_page_in_both_languages_and_only_for_the_own_organisation(demo: Engine) -> None:
    import warnings

    from test_footprint import hand_ledger
    from test_web_pages import assert_accessible, sign_in, users

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rareeco.api.app import create_app

    with session_scope(demo) as s:
        hand_ledger(s, "other")
        d = declare(s, "demo", "ndfeb-magnet-recycled", 2025)
    users(demo, "demo", cleo="viewer")
    users(demo, "other", otto="viewer")
    app = create_app(engine=demo, demo_mode=False)
    client, _ = sign_in(app, "cleo")
    html = client.get("/circularity?product=ndfeb-magnet-recycled&year=2025").text
    nd = d["elements"]["Nd"]
    assert f'<td data-key="post"><strong>{nd["post_consumer_pct"] / 100:.1%}</strong>' in html
    assert 'data-element="Dy"><th scope="row">Dy</th>\n      <td data-key="element_t" colspan="4">not present' in html
    assert "24 May 2027" in html and "ganzhou / recycling" in html
    assert_accessible(html)
    with session_scope(demo) as s:
        from rareeco.ledger.models import User

        s.query(User).filter(User.username == "cleo").one().lang = "zh"
    zh = client.get("/circularity?product=ndfeb-magnet-recycled&year=2025").text
    assert "再生含量" in zh and "消费后" in zh and "2027 年 5 月 24 日" in zh
    # another organisation's viewer sees its own ledger, which made no magnets: not the demo's figures
    other, _ = sign_in(app, "otto")
    r = other.get("/circularity?product=ndfeb-magnet-recycled&year=2025")
    assert r.status_code == 200 and 'data-state="empty"' in r.text and "was not made by other" in r.text
    assert "ganzhou" not in r.text and f"{nd['element_t']:,.2f}" not in r.text


def test_the_declare_command(demo: Engine, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from rareeco.cli import app

    db = str(demo.url)
    r = CliRunner().invoke(app, ["--db", db, "circularity", "declare", "--org", "demo", "--product",
                                 "ndfeb-magnet-recycled", "--year", "2025", "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert round(d["elements"]["Nd"]["post_consumer_pct"], 1) == 26.2
    text = CliRunner().invoke(app, ["--db", db, "circularity", "declare", "--org", "demo", "--product",
                                    "ndfeb-magnet-recycled", "--year", "2025"], catch_exceptions=False).output
    assert "Nd" in text and "26.2 %" in text and "24 May 2027" in text
    bad = tmp_path / "a.toml"
    bad.write_text("[scrap]\n")
    r = CliRunner().invoke(app, ["--db", db, "circularity", "declare", "--org", "demo", "--product",
                                 "ndfeb-magnet-recycled", "--year", "2025", "--assumptions", str(bad)])
    assert r.exit_code != 0
