"""EPDs: the declaration from the footprint (checked by hand), what is not declared, module D, the three outputs
(ILCD+EPD against the XSDs with xmlschema, openEPD with the openepd model, the PDF's text with pypdf) and the
workflow rules — on the hand ledger of test_footprint and on the demo producer.

The hand ledger (2023, mass allocation by its settings): line ``sep`` makes A 10 t and B 30 t from 100 MWh and
10 t HCl; line ``met`` makes M 5 t from 6 t of A with 20 MWh and 1 kg CF4.  For one kg of M:

* A1 = the whole footprint of the 1.2 kg of A it takes: 1.2 × 65.05 / 40 = 1.9515 kg CO2e (an own
  intermediate product is a raw material);
* A2 = 0 (no freight);
* A3 = its line's electricity 20 × 0.6205 / 5 = 2.482 and its CF4 0.001 × GWP_CF4 / 5.

For one kg of A: A1 = HCl 10 × 0.3 × ¼ / 10 = 0.075, A3 = electricity 62.05 × ¼ / 10 = 1.55125.
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select, update
from typer.testing import CliRunner

from rareeco.cli import app as cli_app
from rareeco.declare import epd as model
from rareeco.declare import epd_pdf, epd_service, ilcd, openepd_export
from rareeco.declare.epd_labels import EN, INDICATOR_ZH, ZH
from rareeco.demo.load import load_demo
from rareeco.errors import ConflictError, ForbiddenError, ValidationFailed
from rareeco.footprint.service import footprints, product_footprint
from rareeco.ledger import accounts
from rareeco.ledger.db import make_engine, session_scope
from rareeco.ledger.models import AuditEntry, Epd
from test_footprint import cf4_gwp, hand_ledger

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")
PW = "correct horse battery"
YEAR = 2025
PRND_ECONOMIC = 47.436        # demo 2025, kg CO2e/kg, economic allocation (docs/footprints.md)
MAGNET_RECYCLED = 15.551      # demo 2025, sintered NdFeB magnet from recycled PrNd (docs/footprints.md)
GWP_TOTAL = "a7ea142a-9749-11ed-a8fc-0242ac120002"        # UUIDs of EN15804_A2_EF31_indicators.csv
AP = "b5c611c6-def3-11e6-bf01-fe55135034f3"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('epd') / 'ledger.db'}")
    with session_scope(eng) as s:
        load_demo(s)
        hand_ledger(s, "acme", "Acme Metals")
    yield eng
    eng.dispose()


def user(engine: Any, name: str, org: str, role: str) -> None:
    with session_scope(engine) as s:
        if s.execute(select(accounts.User).where(accounts.User.username == name)).scalar_one_or_none() is None:
            accounts.create_user(s, name, PW)
        accounts.grant(s, name, org, role)


def declare(engine: Any, org: str, product: str, year: int, **settings: Any) -> dict[str, Any]:
    with session_scope(engine) as s:
        st = model.parse_settings({**epd_service.settings_of(s, org).to_dict(), **settings})
        return epd_service.declaration_for(s, org, product, year, st, "00000000-0000-4000-8000-000000000000", 1)


def values(content: dict[str, Any], code: str = "GWP-total") -> dict[str, float]:
    return model.result(content, code)["values"]


# ------------------------------------------------------------------ indicators

def test_indicator_list_is_the_csvs() -> None:
    inds = model.indicators()
    assert len(inds) == 37                                           # 19 LCIA indicators + 18 flows
    assert {i.code for i in inds if i.kind == "lcia"} >= set(model.GWP_CODES)
    gwp = model.indicator("GWP-total")
    assert (gwp.uuid, gwp.version, gwp.unit, gwp.unit_group_uuid) == (
        GWP_TOTAL, "01.00.000", "kg CO2 eqv.", "1ebf3012-d0db-4de2-aefd-ef30cedb0be1")
    assert model.indicator("EP-freshwater").unit == "kg P eqv."
    assert [i.group for i in inds].count("core") == 13 and model.indicator("PM").group == "additional"
    assert model.indicator("PERE").kind == "flow" and model.indicator("HWD").group == "waste"


# ------------------------------------------------------------------ the declaration, by hand

def test_module_split_of_the_hand_ledger(demo: Any) -> None:
    m = declare(demo, "acme", "m", 2023)
    v = values(m)
    a1, a3 = 1.2 * 65.05 / 40, 20 * 0.6205 / 5 + 0.001 * cf4_gwp() / 5
    assert (v["A1"], v["A2"], v["A3"]) == (pytest.approx(a1, rel=1e-12), 0.0, pytest.approx(a3, rel=1e-12))
    assert v["A1-A3"] == pytest.approx(a1 + a3, rel=1e-12)
    assert m["modules"]["A1"] == m["modules"]["A2"] == m["modules"]["A3"] == "X"
    rules = {(t["consumer"], t["process"]): (t["module"], t["rule"]) for t in m["module_split"]["terms"]}
    assert rules[("a", "electricity.grid")] == ("A1", "module_rule_upstream")    # A's line: all A1
    assert rules[("m", "electricity.grid")] == ("A3", "module_rule_energy")
    assert rules[("m", "direct")] == ("A3", "module_rule_direct")                # its CF4
    a = declare(demo, "acme", "a", 2023)
    va = values(a)
    assert va["A1"] == pytest.approx(10 * 0.3 * 0.25 / 10, rel=1e-12)            # HCl, purchased
    assert va["A3"] == pytest.approx(100 * 0.6205 * 0.25 / 10, rel=1e-12)        # electricity
    assert va["A1-A3"] == pytest.approx(65.05 / 40, rel=1e-12)


def test_gwp_equals_the_footprint_for_the_demo(demo: Any) -> None:
    with session_scope(demo) as s:
        payload = footprints(s, "demo", YEAR)
    for product, documented in (("prnd-oxide", PRND_ECONOMIC), ("ndfeb-magnet-recycled", MAGNET_RECYCLED)):
        fp = product_footprint(payload, product)
        c = declare(demo, "demo", product, YEAR)
        v = values(c)
        assert v["A1-A3"] == fp["kg_co2e_per_declared_unit"]                     # the same number
        assert round(v["A1-A3"], 3) == documented
        assert math.fsum(v[m] for m in ("A1", "A2", "A3")) == pytest.approx(v["A1-A3"], rel=1e-12)
        assert values(c, "GWP-fossil")["A1-A3"] == pytest.approx(v["A1-A3"], rel=1e-12)   # the demo is all fossil
        assert values(c, "GWP-biogenic") == {"A1-A3": 0.0, "A1": 0.0, "A2": 0.0, "A3": 0.0, **(
            {"D": 0.0} if "D" in v else {})}
        assert c["allocation"]["compared"]["mass"]["A1-A3"] == fp["by_allocation_kg_co2e"]["mass"]
    # by hand: PrNd oxide has no feeds, so its economic figure is its mass figure × f_economic / f_mass
    ox = product_footprint(payload, "prnd-oxide")
    f = ox["allocation_factors"]
    assert ox["kg_co2e_per_declared_unit"] == pytest.approx(
        ox["by_allocation_kg_co2e"]["mass"] * f["economic"]["prnd-oxide"] / f["mass"]["prnd-oxide"], rel=1e-9)
    # by hand: the recycled magnet = its recycled metal × t metal per t magnet + its own line's inputs
    magnet = declare(demo, "demo", "ndfeb-magnet-recycled", YEAR)
    line = next(ln for ln in payload["lines"] if ln["line"] == "ganzhou / magnet")
    ratio = line["feeds_t"]["prnd-metal-recycled"] / line["made_t"]["ndfeb-magnet-recycled"]
    own = math.fsum(t["kg_co2e"] for t in magnet["module_split"]["terms"] if t["consumer"] == "ndfeb-magnet-recycled")
    metal = product_footprint(payload, "prnd-metal-recycled")["kg_co2e_per_declared_unit"]
    assert values(magnet)["A1-A3"] == pytest.approx(ratio * metal + own, rel=1e-9)


def test_not_declared_is_never_zero(demo: Any) -> None:
    c = declare(demo, "demo", "prnd-oxide", YEAR)
    nd = [r for r in c["results"] if r["status"] == "ND"]
    assert len(nd) == 33 and {r["code"] for r in c["results"] if r["status"] == "declared"} == set(model.GWP_CODES)
    for r in nd:
        assert r["values"] == {} and r["reason"] in ("nd_no_characterisation", "nd_no_inventory")
    assert model.result(c, "EP-freshwater")["reason"] == "nd_no_characterisation"
    assert model.result(c, "HWD")["reason"] == "nd_no_inventory"
    assert {m for m, x in c["modules"].items() if x == "X"} == {"A1", "A2", "A3"}      # D MND: an intermediate
    assert [r["code"] for r in c["mnd_reasons"]] == ["mnd_reason_downstream", "mnd_reason_eol",
                                                     "mnd_reason_d_not_final"]
    assert c["programme"]["registration_number"] is None                         # a draft claims no registration
    assert c["pcr"] == {"name": "Rare-earth concentrates, oxides, metals and magnets",
                        "operator": "EPD International", "date": "2024-01"}


def test_module_d_by_hand(demo: Any) -> None:
    # hand ledger: M made from A; scenario: A is the substituted product, B the "recycled" one
    c = declare(demo, "acme", "m", 2023, substitutes="a", route="b")
    d = c["module_d"]
    assert d["oxide"] == "a" and d["oxide_kg"] == pytest.approx(6 / 5)
    assert values(c)["D"] == 0.0                          # mass allocation: A and B carry the same 1.62625
    e = declare(demo, "acme", "m", 2023, substitutes="a", route="b", eol_recovery_rate=0.5)
    assert e["allocation"]["compared"]["economic"]["D"] == pytest.approx(
        0.5 * 1.2 * (65.05 * 3 / 13 / 30 - 65.05 * 10 / 13 / 10), rel=1e-9)   # D = r (E_route − E_virgin Q)
    # demo: the primary magnet recovers the oxide its metal was made from, replacing primary oxide
    with session_scope(demo) as s:
        payload = footprints(s, "demo", YEAR)
    m = declare(demo, "demo", "ndfeb-magnet", YEAR)
    d = m["module_d"]
    lines = {ln["line"]: ln for ln in payload["lines"]}
    kg = (lines["ganzhou / magnet"]["feeds_t"]["prnd-metal"] / lines["ganzhou / magnet"]["made_t"]["ndfeb-magnet"]
          * lines["baotou / metal"]["feeds_t"]["prnd-oxide"] / lines["baotou / metal"]["made_t"]["prnd-metal"])
    e_route = product_footprint(payload, "prnd-oxide-recycled")["kg_co2e_per_declared_unit"]
    e_virgin = product_footprint(payload, "prnd-oxide")["kg_co2e_per_declared_unit"]
    assert d["oxide_kg"] == pytest.approx(kg, rel=1e-12) and d["secondary_input_kg"] == 0.0
    assert values(m)["D"] == pytest.approx(kg * (e_route - e_virgin), rel=1e-12)
    assert values(m)["D"] == pytest.approx(-16.785, abs=5e-4)
    assert values(m)["A1-A3"] == pytest.approx(32.332, abs=5e-4)                 # D is never added to A1–A3
    # the recycled magnet: its rare earths are secondary input, so at rate 1 the net flow is zero …
    r = declare(demo, "demo", "ndfeb-magnet-recycled", YEAR)
    assert r["module_d"]["net_kg"] == 0.0 and values(r)["D"] == 0.0
    # … and below 1 module D is a load: the product used more secondary material than it gives back
    half = declare(demo, "demo", "ndfeb-magnet-recycled", YEAR, eol_recovery_rate=0.5)
    x = half["module_d"]["secondary_input_kg"]
    assert values(half)["D"] == pytest.approx(-0.5 * x * (e_route - e_virgin), rel=1e-12) and values(half)["D"] > 0
    off = declare(demo, "demo", "ndfeb-magnet", YEAR, module_d="off")
    assert off["modules"]["D"] == "MND" and "D" not in values(off)


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationFailed) as exc:
        model.parse_settings({"programme": "nope", "eol_recovery_rate": 2, "colour": "red", "quality_ratio": "x"})
    assert {f.column for f in exc.value.findings} == {"programme", "eol_recovery_rate", "colour", "quality_ratio"}
    assert model.parse_settings({"programme": "csre"}).programme == "csre"


# ------------------------------------------------------------------ the outputs

@pytest.fixture(scope="module")
def magnet(demo: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with session_scope(demo) as s:
        e, _ = epd_service.build(s, "demo", "ndfeb-magnet", YEAR, "olga")
        return e.content, epd_service.meta(s, e)


def test_ilcd_validates_against_the_xsds(magnet: tuple[dict[str, Any], dict[str, Any]]) -> None:
    content, meta = magnet
    xml = ilcd.to_xml(content, meta)
    assert ilcd.validation_errors(xml) == []
    text = xml.decode()
    result = re.search(rf'refObjectId="{GWP_TOTAL}".*?</LCIAResult>', text, re.S)
    assert result is not None
    amounts = dict(re.findall(r'epd2013:module="([^"]+)"[^>]*>([^<]+)<', result.group(0)))
    assert float(amounts["A1-A3"]) == values(content)["A1-A3"] and float(amounts["D"]) == values(content)["D"]
    assert AP not in text                                      # not declared: no LCIAResult, no zero
    assert 'epd2019:epd-version="1.3"' in text and f"<common:UUID>{content['uuid']}</common:UUID>" in text
    assert '<baseName xml:lang="zh">烧结钕铁硼磁体</baseName>' in text
    # a broken document does not validate
    for broken in (text.replace("<typeOfDataSet>EPD</typeOfDataSet>", "<typeOfDataSet>LCI</typeOfDataSet>"),
                   re.sub(r"<common:UUID>[^<]*</common:UUID>", "", text, count=1),
                   text.replace("<common:referenceYear>2025", "<common:referenceYear>twenty")):
        assert ilcd.validation_errors(broken) != []


def test_openepd_parses_with_the_openepd_model(magnet: tuple[dict[str, Any], dict[str, Any]]) -> None:
    from openepd.model.epd import Epd

    content, meta = magnet
    data = json.loads(openepd_export.to_json(content, meta))
    epd = Epd.model_validate(data)
    gwp = epd.impacts.get_impact_set("IPCC AR6").gwp                               # type: ignore[union-attr]
    assert gwp.A1A2A3.mean == values(content)["A1-A3"] and gwp.D.mean == values(content)["D"]
    assert gwp.A1 is None and gwp.C1 is None                                     # not declared: absent
    assert epd.impacts.get_impact_set("IPCC AR6").ep_fresh is None               # type: ignore[union-attr]
    assert (epd.declared_unit.qty, epd.declared_unit.unit) == (1.0, "kg")        # type: ignore[union-attr]
    assert epd.private is True and epd.version == 1 and epd.product_name == "Sintered NdFeB magnet"
    with pytest.raises(Exception, match="declared_unit"):
        Epd.model_validate({**data, "declared_unit": {"qty": -1, "unit": "kg"}})
    with pytest.raises(ValueError, match="ignored fields"):
        openepd_export.validate({**data, "declard_unit": {"qty": 1, "unit": "kg"}})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_text_has_product_and_gwp(demo: Any, lang: str) -> None:
    with session_scope(demo) as s:
        e, _ = epd_service.build(s, "demo", "prnd-oxide", YEAR, "olga")
        pdf = epd_pdf.pdf_bytes(e.content, epd_service.meta(s, e), lang)
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
    name = "氧化镨钕" if lang == "zh" else "Praseodymium-neodymium oxide"
    L = ZH if lang == "zh" else EN
    assert name in text and f"{PRND_ECONOMIC:.3f}" in text
    assert L["draft_banner"].split(" ")[0] in text and L["sec_nd"] in text.replace("\n", "")
    assert "ND" in text and "MND" in text and "Stockholm" in text
    flat = text.replace("\n", "")
    if lang == "zh":   # the not-declared indicators are named in Chinese, with their abbreviation
        assert "平流层臭氧消耗潜势 (ODP)" in flat and "Depletion potential of the stratospheric" not in flat
    else:
        assert "Depletion potential of the stratospheric ozone layer (ODP)" in flat


# ------------------------------------------------------------------ the workflow

def test_workflow_rules(engine: Any) -> None:
    """On SQLite and PostgreSQL: the stored declaration keeps its checksum through the JSON column."""
    eng = engine
    with session_scope(eng) as s:
        hand_ledger(s, "acme")
        hand_ledger(s, "other")
    user(eng, "dora", "acme", "steward")        # the declarant
    user(eng, "vera", "acme", "verifier")       # the verifier
    user(eng, "val", "acme", "verifier")
    user(eng, "adam", "acme", "admin")
    with session_scope(eng) as s:
        e, what = epd_service.build(s, "acme", "m", 2023, "dora")
        assert (what, e.version, e.status) == ("created", 1, "draft")
        assert epd_service.build(s, "acme", "m", 2023, "dora")[1] == "unchanged"
        with pytest.raises(ConflictError):
            epd_service.verify(s, "acme", e.id, "vera")                          # not submitted yet
        epd_service.submit(s, "acme", e.id, "dora")
        epd_service.add_comment(s, "acme", e.id, "vera", "Please state the allocation.")
        with pytest.raises(ForbiddenError, match="not a verifier"):
            epd_service.verify(s, "acme", e.id, "adam")                          # an admin is not a verifier
        with pytest.raises(ForbiddenError, match="not a verifier"):
            epd_service.verify(s, "acme", e.id, "dora")                          # nor is the declarant
        first = e.id
    with session_scope(eng) as s:                                                # a verifier who built it: refused
        e2, _ = epd_service.build(s, "acme", "a", 2023, "val")
        epd_service.submit(s, "acme", e2.id, "val")
        with pytest.raises(ForbiddenError, match="built this version"):
            epd_service.verify(s, "acme", e2.id, "val")
        with pytest.raises(Exception, match="not found"):
            epd_service.get(s, "other", first)                                   # isolation
    with session_scope(eng) as s:
        e = epd_service.verify(s, "acme", first, "vera")
        assert (e.status, e.verified_by) == ("verified", "vera")
        e = epd_service.publish(s, "acme", first, "dora")
        sha, content = e.content_sha256, json.dumps(e.content, sort_keys=True)
        with pytest.raises(ConflictError):
            epd_service.add_comment(s, "acme", first, "vera", "too late")        # published: no more comments
        with pytest.raises(ConflictError):
            epd_service.submit(s, "acme", first, "dora")
        # a change after publication makes version 2; version 1 stays as it was
        v2, what = epd_service.build(s, "acme", "m", 2023, "dora", {"address": "1 Smelter Road"})
        assert (what, v2.version, v2.uuid, v2.supersedes_id) == ("new_version", 2, e.uuid, first)
        assert (e.status, e.content_sha256, json.dumps(e.content, sort_keys=True)) == ("published", sha, content)
        epd_service.submit(s, "acme", v2.id, "dora")
        epd_service.verify(s, "acme", v2.id, "vera")
        epd_service.publish(s, "acme", v2.id, "dora")
        assert e.status == "superseded" and epd_service.meta(s, e)["superseded_by_version"] == 2
        assert v2.content["declarant"]["address"] == "1 Smelter Road"
        v2_id = v2.id
    with session_scope(eng) as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.org_id == "acme",
                                                                           AuditEntry.action.like("epd.%")))]
        assert {"epd.build", "epd.submit", "epd.comment", "epd.verify", "epd.publish", "epd.new_version",
                "epd.supersede"} <= set(actions)
        # a published version changed behind rareeco's back is refused
        s.execute(update(Epd).where(Epd.id == v2_id).values(content={**s.get(Epd, v2_id).content, "version": 9}))
    with session_scope(eng) as s, pytest.raises(epd_service.IntegrityError):
        epd_service.check_content(epd_service.get(s, "acme", v2_id))


# ------------------------------------------------------------------ command line

def test_cli_build_writes_valid_files(demo: Any, tmp_path: Path) -> None:
    url = str(demo.url)
    runner = CliRunner()
    r = runner.invoke(cli_app, ["--db", url, "epd", "build", "--org", "demo", "--product", "ndfeb-magnet-recycled",
                                "--year", "2025", "--pdf", str(tmp_path / "m.pdf"), "--ilcd", str(tmp_path / "m.xml"),
                                "--openepd", str(tmp_path / "m.json"), "--lang", "zh", "--actor", "olga"])
    assert r.exit_code == 0, r.output
    assert "GWP-total A1–A3 15.551 kg CO2e per 1 kg (economic allocation); D 0.000" in r.output
    assert "valid against EPD_DataSet.xsd" in r.output and "accepted by the openepd model" in r.output
    assert "烧结钕铁硼磁体（再生稀土）" in PdfReader(tmp_path / "m.pdf").pages[0].extract_text()
    for f, said in (("m.xml", "valid ILCD+EPD"), ("m.json", "accepted by the openepd EPD model")):
        r = runner.invoke(cli_app, ["--db", url, "epd", "validate", str(tmp_path / f)])
        assert r.exit_code == 0 and said in r.output, r.output
    bad = (tmp_path / "m.xml").read_text().replace("<typeOfDataSet>EPD", "<typeOfDataSet>X")
    (tmp_path / "bad.xml").write_text(bad)
    r = runner.invoke(cli_app, ["--db", url, "epd", "validate", str(tmp_path / "bad.xml")])
    assert r.exit_code == 1
    r = runner.invoke(cli_app, ["--db", url, "epd", "list", "--org", "demo", "--json"])
    rows = json.loads(r.output)
    assert {(x["product"], x["status"]) for x in rows} >= {("ndfeb-magnet-recycled", "draft")}
    r = runner.invoke(cli_app, ["--db", url, "epd", "verify", str(rows[0]["id"]), "--org", "demo", "--actor", "olga"])
    assert r.exit_code == 1 and "is not a verifier" in str(r.exception)


def test_every_indicator_has_a_chinese_name() -> None:
    from rareeco.declare.epd import indicators

    assert {i.code for i in indicators()} == set(INDICATOR_ZH)
