"""CEMS quantities as the measured direct (non-GHG) emissions of a line, allocated to its products, and the EPD's
acidification and eutrophication for module A3 — every figure by hand.

The hand ledger of test_footprint (2023): line ``baotou / sep`` makes A 10 t and B 30 t (mass allocation ¼ and ¾;
economic 10/13 and 3/13).  Its stack DA001 (line ``sep``) reports constant channels (spread 0) for three hours,
2023-06-01 00:00–03:00: SO2 50 mg/m3, NOx 100 mg/m3, flow 10 m3/s = 36,000 m3/h, no reference O2.

* SO2: 50 × 36,000 × 1e-6 = 1.8 kg/h × 3 h = 5.4 kg; NOx: 3.6 kg/h × 3 h = 10.8 kg.
* A (mass, per kg): SO2 5.4 × ¼ / 10,000 = 1.35e-4 kg; NOx 10.8 × ¼ / 10,000 = 2.7e-4 kg.
* A (economic): SO2 5.4 × 10/13 / 10,000 kg.
* With the test factors AP: SO2 2, NOx 0.5 mol H+ eq/kg → AP A3 of A = 1.35e-4 × 2 + 2.7e-4 × 0.5 = 4.05e-4;
  EP-terrestrial NOx 4 mol N eq/kg → 1.08e-3; EP-marine NOx 250 kg N eq/t (= 0.25 per kg) → 6.75e-5.
* Coverage: 3 valid hours of 8,760 — said so in the notes.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine

from rareeco.declare import epd as model
from rareeco.declare import epd_pdf, epd_service, ilcd, openepd_export
from rareeco.declare.epd_labels import EN, ZH
from rareeco.footprint import cems
from rareeco.footprint.service import footprints, product_footprint
from rareeco.ingest.hj212_gateway import Gateway, GatewayOptions, add_station
from rareeco.ingest.hj212_profile import Channel, Stack, frames, replay
from rareeco.ledger.db import session_scope
from rareeco.monitoring import outlets, processing
from rareeco.reference.usersets import add_factor_set, choose_sets
from test_footprint import hand_ledger

pytestmark = pytest.mark.filterwarnings("ignore:HarfBuzz-Subset:DeprecationWarning")

MN, PW = "STACKSEP001", "123456"
STACK = Stack(MN, PW, (Channel("a21026", 50.0, 0.0, 1), Channel("a21002", 100.0, 0.0, 1),
                       Channel("a00000", 10.0, 0.0, 2)))
SETTINGS: dict[str, Any] = {
    "outlets": [{"code": "DA001", "name": "Separation stack", "mn": MN, "site": "baotou", "line": "sep",
                 "flow": {"code": "a00000", "unit": "m3/s"},
                 "pollutants": [{"code": "a21026", "name": "SO2", "unit": "mg/m3"},
                                {"code": "a21002", "name": "NOx", "unit": "mg/m3"}]}]}
CF_SET = """factor_id,kind,key,year,gas,value,unit,source,tag,version,valid_from,valid_to,note
t.ap.so2,characterisation,AP:SO2,,,2,mol H+ eq/kg,test,U,1,,,
t.ap.nox,characterisation,AP:NOx,,,0.5,mol H+ eq/kg,test,U,1,,,
t.ept.nox,characterisation,EP-terrestrial:NOx,,,4,mol N eq/kg,test,U,1,,,
t.epm.nox,characterisation,EP-marine:NOx,,,250,kg N eq/t,test,U,1,,,
"""
SO2_KG, NOX_KG = 5.4, 10.8
UUID = "00000000-0000-4000-8000-00000000c0de"


def feed(engine: Engine, start: datetime, end: datetime) -> None:
    """The stack's minute uploads in [start, end) through a real gateway, then processed into CEMS series."""
    async def main() -> dict[str, int]:
        gw = Gateway(engine, "127.0.0.1", 0, GatewayOptions())
        await gw.start()
        try:
            return await replay("127.0.0.1", gw.port, {MN: frames(STACK, start, end)})
        finally:
            await gw.stop()
    sent = asyncio.run(main())
    assert sent["sent"] == sent["acknowledged"] > 0
    processing.process(engine, "acme")


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    with session_scope(engine) as s:
        hand_ledger(s, "acme")
        add_station(s, "acme", "baotou", MN, PW, "separation stack DA001")
        outlets.save(s, "acme", SETTINGS)
    feed(engine, datetime(2023, 6, 1), datetime(2023, 6, 1, 3))
    return engine


def declare(engine: Engine, product: str = "a") -> dict[str, Any]:
    with session_scope(engine) as s:
        return epd_service.declaration_for(s, "acme", product, 2023, epd_service.settings_of(s, "acme"), UUID, 1)


def choose_characterisation(engine: Engine) -> None:
    with session_scope(engine) as s:
        add_factor_set(s, "acme", CF_SET, "test-cf", "test")
        choose_sets(s, "acme", ["test-set", "test-cf"], None, "test")


def test_product_emissions_by_hand() -> None:
    line = cems.LineEmissions("baotou / sep", {"SO2": 0.0054, "NOx": 0.0108}, [])
    got = cems.product_emissions(line, 0.25, 10.0, 0.001)
    assert got == pytest.approx({"NOx": 2.7e-4, "SO2": 1.35e-4}, rel=1e-12)
    assert cems.product_emissions(None, 0.25, 10.0, 0.001) == {}
    assert cems.year_hours(2023) == 8760 and cems.year_hours(2024) == 8784


def test_measured_emissions_are_allocated_like_direct_emissions(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        p = footprints(s, "acme", 2023, iterations=0)
    line = next(ln for ln in p["lines"] if ln["line"] == "baotou / sep")
    assert line["measured_t"] == pytest.approx({"SO2": SO2_KG / 1000, "NOx": NOX_KG / 1000}, rel=1e-9)
    assert {(o["substance"], o["valid_h"], o["substituted_h"], o["missing_h"]) for o in line["measured_outlets"]} == \
        {("SO2", 3, 0, 8757), ("NOx", 3, 0, 8757)}
    met = next(ln for ln in p["lines"] if ln["line"] == "baotou / met")
    assert met["measured_t"] == {} and met["measured_outlets"] == []           # a line without outlets has none
    mass, econ = p["footprints"]["mass"], p["footprints"]["economic"]
    assert mass["a"]["direct_emissions_kg"] == pytest.approx({"SO2": SO2_KG / 4 / 10_000,
                                                              "NOx": NOX_KG / 4 / 10_000}, rel=1e-9)
    assert mass["b"]["direct_emissions_kg"]["SO2"] == pytest.approx(SO2_KG * 0.75 / 30_000, rel=1e-9)
    assert econ["a"]["direct_emissions_kg"]["SO2"] == pytest.approx(SO2_KG * 10 / 13 / 10_000, rel=1e-9)
    assert econ["b"]["direct_emissions_kg"]["NOx"] == pytest.approx(NOX_KG * 3 / 13 / 30_000, rel=1e-9)
    assert mass["m"]["direct_emissions_kg"] == {}
    # the line's measured quantities are conserved by both allocations
    for fps in (mass, econ):
        kg = sum(fps[x]["direct_emissions_kg"]["SO2"] * t * 1000 for x, t in (("a", 10), ("b", 30)))
        assert kg == pytest.approx(SO2_KG, rel=1e-9)
    # GWP is untouched: 65.05 t CO2e over 40 t
    assert mass["a"]["kg_co2e_per_declared_unit"] == pytest.approx(65.05 / 40, rel=1e-12)
    assert any("DA001: 3 valid + 0 substituted of 8760 h in 2023" in n and "not extrapolated" in n
               for n in p["notes"])
    one = product_footprint(p, "a")
    assert one["direct_emissions_kg"]["NOx"] == pytest.approx(2.7e-4, rel=1e-9)
    assert {o["outlet"] for o in one["measured_outlets"]} == {"DA001"}
    assert p["provenance"]["cems_sha256"] == cems.digest(p["measured_emissions"]["outlets"])


def test_a_footprint_is_recomputed_when_the_cems_data_change(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        first = footprints(s, "acme", 2023, iterations=0)
        again = footprints(s, "acme", 2023, iterations=0)
    assert again["result_id"] == first["result_id"]
    feed(ledger, datetime(2023, 6, 1, 3), datetime(2023, 6, 1, 4))             # one more hour
    with session_scope(ledger) as s:
        renewed = footprints(s, "acme", 2023, iterations=0)
    assert renewed["result_id"] != first["result_id"]
    assert renewed["footprints"]["mass"]["a"]["direct_emissions_kg"]["SO2"] == \
        pytest.approx(4 * 1.8 / 4 / 10_000, rel=1e-9)


def test_epd_ap_and_ep_for_a3_from_measured_emissions(ledger: Engine) -> None:
    choose_characterisation(ledger)
    c = declare(ledger)
    ap = model.result(c, "AP")
    assert ap["status"] == "declared" and set(ap["values"]) == {"A3"}
    assert ap["values"]["A3"] == pytest.approx(1.35e-4 * 2 + 2.7e-4 * 0.5, rel=1e-9)
    assert ap["nd_modules"] == {"A1": "nd_upstream_non_ghg", "A2": "nd_upstream_non_ghg",
                                "A1-A3": "nd_upstream_non_ghg"}
    assert model.result(c, "EP-terrestrial")["values"] == {"A3": pytest.approx(2.7e-4 * 4, rel=1e-9)}
    assert model.result(c, "EP-marine")["values"] == {"A3": pytest.approx(2.7e-4 * 0.25, rel=1e-9)}
    fresh = model.result(c, "EP-freshwater")
    assert fresh["status"] == "ND" and fresh["reason"] == "nd_no_characterisation"
    assert c["measured"]["indicators"]["EP-marine"]["uncharacterised"] == ["SO2"]
    assert model.result(c, "GWP-total")["values"]["A1-A3"] == pytest.approx(65.05 / 40, rel=1e-12)
    notes = model.measured_texts(c, "en")
    assert "DA001" in notes[0] and "2023" in notes[0] and "3 + 0 / 8760 h" in notes[0]
    assert EN["nd_upstream_non_ghg"] in notes and EN["measured_freshwater"] in notes
    assert model.measured_texts(c, "zh")[0].startswith("AP、EP-terrestrial、EP-marine")

    # ILCD: the AP result carries module A3 only (no A1-A3 amount) and validates
    with session_scope(ledger) as s:
        e, _ = epd_service.build(s, "acme", "a", 2023, "olga")
        assert model.result(e.content, "AP")["values"] == ap["values"]
        meta = epd_service.meta(s, e)
    xml = ilcd.to_xml(c, meta).decode()
    assert ilcd.validation_errors(xml) == []
    ap_xml = xml.split(f'refObjectId="{ap["uuid"]}"')[1].split("</LCIAResult>")[0]
    assert 'epd2013:module="A3"' in ap_xml and 'epd2013:module="A1-A3"' not in ap_xml
    # openEPD: A3 alone (openEPD's scope sets allow it), under "Unknown LCIA" for user-supplied factors
    doc = json.loads(openepd_export.to_json(c, meta))
    measured = doc["impacts"]["Unknown LCIA"]
    assert measured["ap"] == {"A3": {"mean": ap["values"]["A3"], "unit": "molHe"}}
    assert set(measured) == {"ap", "ep-terr", "ep-marine"} and "ap" not in doc["impacts"]["IPCC AR6"]
    assert "module A3 only" in doc["lca_discussion"]
    # PDF view: the A3-only row prints ND for A1–A3 and shows the measured note
    html = epd_pdf.render_html(c, meta, "en")
    assert 'data-indicator="AP"' in html and EN["measured_title"] in html
    row = html.split('<tr data-indicator="AP">')[1].split("</tr>")[0]
    assert f'<td class="n">{EN["nd"]}</td>' in row                              # A1–A3: ND, not a number
    text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(epd_pdf.pdf_bytes(c, meta, "zh"))).pages)
    assert ZH["measured_title"] in text.replace("\n", "")


def test_without_characterisation_factors_the_rows_stay_nd(ledger: Engine) -> None:
    c = declare(ledger)
    for code in ("AP", "EP-terrestrial", "EP-marine"):
        r = model.result(c, code)
        assert r["status"] == "ND" and r["values"] == {} and r["reason"] == "nd_no_characterisation"
    assert "measured" not in c and model.measured_texts(c) == []


def test_pages_show_the_measured_emissions(ledger: Engine) -> None:
    import warnings

    from test_web_pages import sign_in, users

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from rareeco.api.app import create_app
    choose_characterisation(ledger)
    users(ledger, "acme", bob="admin")
    with session_scope(ledger) as s:
        e, _ = epd_service.build(s, "acme", "a", 2023, "bob")
        epd_id = e.id
    client, _ = sign_in(create_app(engine=ledger, demo_mode=False), "bob")
    html = client.get("/footprints/a?year=2023&allocation=mass").text
    assert 'data-substance="SO2"' in html and 'data-substance="NOx"' in html and "DA001" in html
    page = client.get(f"/epds/{epd_id}").text
    row = page.split('<tr data-indicator="AP">')[1].split("</tr>")[0]
    assert 'data-module="A1-A3">ND<' in row and 'data-module="A1">ND<' in row
    assert "DA001" in page
