"""Reference data: every shipped factor is cited and tagged; stoichiometry recomputed; selection rules."""

import pytest

from rareeco.errors import FactorNotFoundError, ReferenceDataError
from rareeco.inventory.grid import location_factor, market_residual_factor
from rareeco.reference import TAGS, FactorTable, builtin_sets, parse_factor_set
from rareeco.reference.catalogue import activities, grid_regions
from rareeco.units import parse_unit

# IUPAC standard atomic weights (abridged conventional values) — independent of the shipped data
AW = {"C": 12.011, "O": 15.999, "La": 138.905, "Ce": 140.116, "Pr": 140.908, "Nd": 144.242, "Tb": 158.925,
      "Dy": 162.500, "Ca": 40.078, "Mg": 24.305, "H": 1.008}
CO2 = AW["C"] + 2 * AW["O"]
# oxide: (RE atoms, O atoms) per formula unit
OXIDES = {"La2O3": ("La", 2, 3), "CeO2": ("Ce", 1, 2), "Pr6O11": ("Pr", 6, 11), "Nd2O3": ("Nd", 2, 3),
          "Tb4O7": ("Tb", 4, 7), "Dy2O3": ("Dy", 2, 3)}


def table() -> FactorTable:
    return FactorTable(builtin_sets())


def test_every_shipped_factor_is_cited_tagged_and_has_a_known_unit() -> None:
    n = 0
    for s in builtin_sets():
        assert s.meta.get("title"), s.set_id
        for f in s.factors:
            n += 1
            assert f.source and f.version and f.tag in TAGS, f.factor_id
            parse_unit(f.unit)
            if f.tag == "S":
                assert "unverified" in f.note, f"{f.factor_id}: S values must say they are unverified"
    assert n > 80


@pytest.mark.parametrize("oxide", list(OXIDES))
def test_stoichiometry_recomputed_from_atomic_weights(oxide: str) -> None:
    el, n_re, n_o = OXIDES[oxide]
    m_oxide = n_re * AW[el] + n_o * AW["O"]
    t = table()
    # oxalate RE2(C2O4)3: 3 C per RE atom; carbonate RE2(CO3)3 and bastnaesite REFCO3: 1.5 and 1 C per RE
    assert t.get("process_co2", f"oxalate_calcination:{oxide}").value == pytest.approx(3 * n_re * CO2 / m_oxide,
                                                                                      abs=6e-4)
    assert t.get("process_co2", f"carbonate_calcination:{oxide}").value == pytest.approx(
        1.5 * n_re * CO2 / m_oxide, abs=6e-4)
    assert t.get("process_co2", f"bastnaesite_roasting:{oxide}").value == pytest.approx(n_re * CO2 / m_oxide,
                                                                                       abs=6e-4)


def test_carbonate_minerals_and_oxalic_acid_ratio() -> None:
    t = table()
    assert t.get("process_co2", "carbonate_decomposition:calcite").value == pytest.approx(
        CO2 / (AW["Ca"] + AW["C"] + 3 * AW["O"]), abs=6e-4)
    assert t.get("process_co2", "carbonate_decomposition:magnesite").value == pytest.approx(
        CO2 / (AW["Mg"] + AW["C"] + 3 * AW["O"]), abs=6e-4)
    assert t.get("process_co2", "anode_carbon:graphite").value == pytest.approx(CO2 / AW["C"], abs=6e-4)
    dihydrate = 2 * AW["H"] + 2 * AW["C"] + 4 * AW["O"] + 2 * (2 * AW["H"] + AW["O"])
    assert t.get("oxalic_acid_co2", "oxalic_acid").value == pytest.approx(CO2 / dihydrate, abs=6e-4)


def test_gwp_sets_ar5_and_ar6_by_name() -> None:
    t = table()
    ar5 = {g: f.value for g, f in t.gwp("ar5").items()}
    ar6 = {g: f.value for g, f in t.gwp("AR6").items()}
    for gases in (ar5, ar6):
        assert {"CO2", "CH4", "N2O", "CF4", "C2F6", "SF6"} <= set(gases)
        assert gases["CO2"] == 1
    assert (ar5["CF4"], ar6["CF4"], ar5["C2F6"], ar6["C2F6"]) == (6630, 7380, 11100, 12400)
    with pytest.raises(FactorNotFoundError):
        t.gwp("ar4")


def test_grid_factor_rule_province_region_national_and_year_fallback() -> None:
    t = table()
    assert location_factor(t, "CN-NM", "CN-NORTH", 2022).factor.factor_id == "grid.cn-nm.2022"
    assert location_factor(t, "CN-NM", "CN-NORTH", 2022).note == ""
    c = location_factor(t, "CN-NM", "CN-NORTH", 2023)            # province has no 2023 value
    assert c.factor.factor_id == "grid.north.2023" and "CN-NM" in c.note
    c = location_factor(t, "CN-JX", "CN-CENTRAL", 2025)          # no 2025 anywhere → 2023, region
    assert c.factor.value == 0.5271 and "2025" in c.note and "2023" in c.note
    c = location_factor(t, "CN-XX", "CN-NOWHERE", 2022)          # unknown region → national
    assert c.factor.factor_id == "grid.cn.2022"
    with pytest.raises(FactorNotFoundError):
        location_factor(t, "CN-NM", "CN-NORTH", 2019)
    # market: national residual; 2021 has none → grid average (location) per Scope 2 Guidance
    assert market_residual_factor(t, "CN-NM", "CN-NORTH", 2024).factor.value == 0.6096
    m = market_residual_factor(t, "CN-NM", "CN-NORTH", 2021)
    assert m.factor.factor_id == "grid.cn-nm.2021" and "residual" in m.note


def test_bad_user_factor_set_lists_every_problem_with_row_and_column() -> None:
    text = ("factor_id,kind,key,year,gas,value,unit,source,tag,version\n"
            "a,grid_co2,CN,2024,CO2,abc,t CO2/MWh,MEE,V,1\n"
            "b,grid_co2,CN,2024,CO2,0.5,bogons,MEE,V,1\n"
            "c,grid_co2,CN,2024,CO2,0.5,t CO2/MWh,,X,1\n")
    with pytest.raises(ReferenceDataError) as e:
        parse_factor_set(text, "mine")
    where = {(f.row, f.column) for f in e.value.findings}
    assert where == {(2, "value"), (3, "unit"), (4, "tag"), (4, "source")}
    with pytest.raises(ReferenceDataError, match="missing columns"):
        parse_factor_set("factor_id,value\nx,1\n", "mine")


def test_user_set_takes_precedence() -> None:
    mine = parse_factor_set("factor_id,kind,key,year,gas,value,unit,source,tag,version\n"
                            "g24,grid_co2,CN-NORTH,2024,CO2,0.6,t CO2/MWh,MEE 2024 (user),U,2026\n", "mine")
    t = FactorTable([mine, *builtin_sets()])
    assert location_factor(t, "CN-NM", "CN-NORTH", 2024).factor.factor_id == "g24"


def test_catalogue_has_the_required_activities_and_known_units() -> None:
    cat = activities()
    for a in ("electricity.grid", "electricity.green_certificate", "electricity.onsite_solar", "fuel.natural_gas",
              "fuel.diesel", "fuel.lpg", "fuel.coal_bituminous", "process.oxalic_acid",
              "process.oxalate_calcination.Nd2O3", "process.carbonate_decomposition.calcite",
              "process.pfc_cf4", "process.pfc_c2f6", "process.electrolysis_metal", "purchased.hcl",
              "purchased.h2so4", "purchased.naoh", "purchased.nh4hco3", "purchased.oxalic_acid",
              "purchased.extractant_p507", "purchased.diluent_kerosene", "transport.road", "waste.landfill"):
        assert a in cat, a
    for a in cat.values():
        parse_unit(a.unit)
        assert a.label_en and a.label_zh
    assert grid_regions()["CN-NM"] == "CN-NORTH" and grid_regions()["CN-JX"] == "CN-CENTRAL"
