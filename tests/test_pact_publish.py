"""Publishing PACT v3 footprints: figures worked out by hand (the hand ledger of test_footprint), the schema of the
specification, immutability (a new publication deprecates, never edits), the filters' logic, callback targets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from rareeco.declare import pact
from rareeco.declare.pact import Criteria, Keys
from rareeco.errors import ConflictError, NotFoundError, ValidationFailed
from rareeco.ledger import periods
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import AuditEntry, PactFootprint
from spec_support import need_pact_spec
from test_footprint import hand_ledger

need_pact_spec()

CREATED = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)       # publication time: the tests do not depend on the clock


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    with session_scope(engine) as s:
        hand_ledger(s, "acme")
    return engine


def test_dec_is_a_plain_decimal_string() -> None:
    assert [pact.dec(v) for v in (47.68773633, 1000.0, 1e-9, -0.0, -2.5, 0.1 + 0.2)] == \
        ["47.687736", "1000", "0", "0", "-2.5", "0.3"]
    assert pact.dec(26.482451, 2) == "26.48"


def test_publish_the_hand_ledger(ledger: Engine) -> None:
    """Product a, 2023, mass allocation (the settings'): 65.05 t CO2e of line sep × 10 t / 40 t, over 10 t of a
    = 1.62625 kg CO2e per kg."""
    with session_scope(ledger) as s:
        pact.set_profile(s, "acme", "test", company_ids=["urn:pact:company:customcode:buyer-id:4321"],
                         product="a", classifications=["urn:pact:productclassification:hs:284690"])
        row = pact.publish(s, "acme", "a", 2023, "test", created=CREATED)
        pf = row.payload
        assert pact.schema_findings(pf) == []
        assert row.status == "Active" and row.product_code == "a" and row.result_id is not None
        p = pf["pcf"]
        assert p["pcfExcludingBiogenicUptake"] == p["pcfIncludingBiogenicUptake"] == p["fossilGhgEmissions"] \
            == pact.dec(65.05 / 40) == "1.62625"
        assert (p["referencePeriodStart"], p["referencePeriodEnd"]) == ("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
        assert (pf["validityPeriodStart"], pf["validityPeriodEnd"]) == ("2024-06-01T08:00:00Z", "2027-01-01T00:00:00Z")
        assert pf["companyIds"] == ["urn:pact:company:customcode:buyer-id:4321"]
        assert pf["productIds"] == ["urn:rareeco:product:acme:a"]
        assert pf["productClassifications"] == ["urn:pact:productclassification:hs:284690"]
        assert p["geographyCountry"] == "CN" and "geographyCountrySubdivision" not in p
        assert p["crossSectoralStandards"] == ["ISO14067", "GHGP-Product"]
        assert p["productOrSectorSpecificRules"][0]["operator"] == "EPD International"
        assert p["primaryDataShare"] == "0" and "verification" not in p      # a's line has no direct emissions
        assert set(p["dqi"]) == {"technologicalDQR", "geographicalDQR", "temporalDQR"}
        assert all(1 <= float(v) <= 3 for v in p["dqi"].values())
        assert p["allocationRulesDescription"].startswith("mass allocation of the line baotou / sep")
        assert "a 25.00 %" in p["allocationRulesDescription"] and "b 75.00 %" in p["allocationRulesDescription"]
        assert "under economic allocation the footprint is 5.004 kg CO2e" in pf["comment"]      # 65.05×10/13/10
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "pact.publish")).scalar_one().subject == \
            "acme/a/2023"


def test_a_new_publication_deprecates_the_earlier_one_and_the_same_one_is_refused(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        first = pact.publish(s, "acme", "m", 2023, "test", created=CREATED)
        first_payload = json.loads(json.dumps(first.payload))
        with pytest.raises(ConflictError, match="already published"):
            pact.publish(s, "acme", "m", 2023, "test", created=CREATED)
        periods.lock(s, "acme", "2023", "vera", "checked")                 # the year is verified: a new version
        second = pact.publish(s, "acme", "m", 2023, "test", created=CREATED.replace(hour=9))
        assert second.payload["precedingPfIds"] == [first.id]
        assert second.payload["pcf"]["verification"] == {
            "providerName": "vera", "completedAt": second.payload["pcf"]["verification"]["completedAt"],
            "comments": "The activity data of 2023 were verified and the period 2023 locked in rareeco by vera: "
                        "checked"}
        third = pact.publish(s, "acme", "m", 2023, "test", allocation="economic", created=CREATED.replace(hour=10))
        assert third.payload["precedingPfIds"] == [second.id, first.id]
    with session_scope(ledger) as s:
        rows = {r.id: r for r in s.execute(select(PactFootprint)).scalars()}
        assert [rows[i].status for i in (first.id, second.id, third.id)] == ["Deprecated", "Deprecated", "Active"]
        old = rows[first.id].payload
        assert old == {**first_payload, "status": "Deprecated"}             # only the status changed
        assert pact.schema_findings(old) == []


def test_publishing_something_that_does_not_exist_is_refused(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        with pytest.raises(NotFoundError):
            pact.publish(s, "acme", "zz", 2023, "test", created=CREATED)
        with pytest.raises(NotFoundError):
            pact.publish(s, "acme", "a", 2019, "test", created=CREATED)
        with pytest.raises(ValidationFailed, match="past its validity"):
            pact.publish(s, "acme", "a", 2023, "test", created=datetime(2027, 1, 2, tzinfo=UTC))


def synthetic(**split: float) -> dict[str, Any]:
    """A product footprint as :func:`product_footprint` gives it, with an ISO 14067 split of our choosing."""
    parts = {"fossil_kg_co2e": 10.0, "biogenic_emissions_kg_co2e": 0.0, "biogenic_removals_kg_co2e": 0.0,
             "dluc_kg_co2e": 0.0, "aircraft_kg_co2e": 0.0, "basis": "test", **split}
    total = parts["fossil_kg_co2e"] + parts["dluc_kg_co2e"] + parts["biogenic_emissions_kg_co2e"] \
        - parts["biogenic_removals_kg_co2e"]
    return {"product": "x", "year": 2025, "line": "s / l", "declared_unit": "1 t", "name": "X", "name_zh": "",
            "kg_co2e_per_declared_unit": total, "allocation": "mass", "allocation_factors": {"mass": {"x": 1.0}},
            "allocation_basis": {"mass": {"x": "1 t"}}, "by_allocation_kg_co2e": {"mass": total},
            "primary_data_share_pct": 40.0, "contributions_kg_co2e": {"x": 4.0, "electricity.grid": 6.0},
            "direct_emissions_by_line_kg_co2e": {"x": 4.0}, "iso14067": parts, "gwp_set": "ar6",
            "data_quality": {"technological": 1.6, "temporal": 1.0, "geographical": 2.2}, "notes": [],
            "excluded": [{"activity": "fuel.lpg", "reason": "no factor"}, {"line": "other / line", "reason": "n/a"}],
            "provenance": {"software_version": "t", "result_id": 1, "input_sha256": "0" * 64,
                           "settings_sha256": "1" * 64, "factor_sets": {"set": "v1"}}}


def build(fp: dict[str, Any], country: str = "CN-NM") -> dict[str, Any]:
    prof = pact.Profile("o", "O Co", ["urn:rareeco:org:o"])
    return pact.build(fp, prof, pf_id="3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b", created=CREATED, country=country)


def test_biogenic_uptake_land_use_and_a_declared_tonne() -> None:
    pf = build(synthetic(biogenic_removals_kg_co2e=2.5, dluc_kg_co2e=1.25, biogenic_emissions_kg_co2e=0.5))
    assert pact.schema_findings(pf) == []
    p = pf["pcf"]
    assert (p["pcfExcludingBiogenicUptake"], p["pcfIncludingBiogenicUptake"]) == ("11.75", "9.25")
    assert (p["biogenicCO2Uptake"], p["landUseChangeGhgEmissions"], p["biogenicNonCO2Emissions"]) == \
        ("-2.5", "1.25", "0.5")
    assert (p["declaredUnitAmount"], p["productMassPerDeclaredUnit"]) == ("1000", "1000")
    assert p["geographyCountrySubdivision"] == "CN-NM" and "geographyCountry" not in p
    # the exclusion of another line is not this product's; the activity-level one is, and it is not quantified
    assert "fuel.lpg: no factor" in p["exemptedEmissionsDescription"] and "other / line" not in \
        p["exemptedEmissionsDescription"]
    assert p["exemptedEmissionsPercent"] == "0"
    assert p["dqi"] == {"technologicalDQR": "1.6", "geographicalDQR": "2.2", "temporalDQR": "1"}


def test_a_split_that_does_not_add_up_is_refused() -> None:
    fp = synthetic()
    fp["kg_co2e_per_declared_unit"] = 12.0
    with pytest.raises(ValidationFailed, match="does not add up"):
        build(fp)


def test_the_v2_shape_validates_against_v2() -> None:
    pf = build(synthetic(biogenic_removals_kg_co2e=1.0))
    v2 = pact.to_v2(pf, "34290")
    assert pact.schema_findings(v2, "v2") == []
    assert v2["pcf"]["pCfIncludingBiogenic"] == "9" and v2["pcf"]["primaryDataShare"] == 40.0


def keys(**payload: Any) -> Keys:
    base = {"id": "i", "productIds": ["urn:p:1", "urn:P:2"], "companyIds": ["urn:c:1"],
            "productClassifications": ["urn:k:1"], "validityPeriodStart": "2026-01-01T00:00:00Z",
            "validityPeriodEnd": "2029-01-01T00:00:00Z",
            "pcf": {"referencePeriodEnd": "2026-01-01T00:00:00Z", "geographyCountrySubdivision": "CN-NM"}}
    return Keys.of("o", "p", "Active", CREATED, {**base, **payload})


def crit(**params: Any) -> Criteria:
    return Criteria.parse(lambda name: [v for v in ([params[name]] if isinstance(params.get(name), str)
                                                    else params.get(name, []))])


@pytest.mark.parametrize("params,expected", [
    ({}, True),
    ({"productId": ["urn:p:2", "urn:none"]}, True),                   # OR within a criterion, case-insensitive
    ({"productId": "URN:P:1", "companyId": "urn:c:1"}, True),
    ({"productId": "urn:p:1", "companyId": "urn:none"}, False),        # AND across criteria
    ({"geography": "cn"}, True), ({"geography": "CN-NM"}, True), ({"geography": "DE"}, False),
    ({"classification": "urn:K:1"}, True),
    ({"validOn": "2026-01-01T00:00:00Z"}, True), ({"validOn": "2029-01-01"}, True),
    ({"validOn": "2025-12-31T23:59:59Z"}, False),
    ({"validAfter": "2025-12-31T23:59:59+00:00"}, True), ({"validAfter": "2026-01-01T00:00:00Z"}, False),
    ({"validBefore": "2029-01-01T00:00:01Z"}, True), ({"validBefore": "2029-01-01T00:00:00Z"}, False),
    ({"status": "active"}, True), ({"status": "Deprecated"}, False), ({"status": "Bogus"}, False),
])
def test_filters(params: dict[str, Any], expected: bool) -> None:
    assert keys().matches(crit(**params)) is expected


def test_validity_defaults_to_three_years_after_the_reference_period() -> None:
    k = keys(validityPeriodStart=None, validityPeriodEnd=None)
    assert (k.valid_from, k.valid_until) == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))


def test_malformed_filter_values() -> None:
    for bad in ({"validOn": "yesterday"}, {"validOn": ["2025-01-01", "2025-01-02"]}, {"status": ["a", "b"]}):
        with pytest.raises(pact.CriteriaError):
            crit(**bad)
    with pytest.raises(pact.CriteriaError):
        Criteria.from_event_data({"productId": [1, 2]})


@pytest.mark.parametrize("source,hosts,target", [
    ("https://buyer.example.com", ["buyer.example.com"], "https://buyer.example.com/3/events"),
    ("https://BUYER.example.com:443/pact/3/events", ["buyer.example.com"], "https://buyer.example.com/pact/3/events"),
    ("//buyer.example.com/3/events", ["buyer.example.com"], "https://buyer.example.com/3/events"),
    ("https://buyer.example.com:8443/x", ["buyer.example.com:8443"], "https://buyer.example.com:8443/x/3/events"),
    ("https://buyer.example.com:8443", ["buyer.example.com"], None),          # another port: another host
    ("http://buyer.example.com", ["buyer.example.com"], None),                # never plain HTTP
    ("https://evil.example.com", ["buyer.example.com"], None),
    ("https://buyer.example.com.evil.example.com", ["buyer.example.com"], None),
    ("https://user@evil.example.com", ["buyer.example.com"], None),
    ("not a url", ["buyer.example.com"], None),
])
def test_event_targets_only_registered_hosts(source: str, hosts: list[str], target: str | None) -> None:
    assert pact.event_target(source, hosts) == target


def test_callback_hosts_are_host_names() -> None:
    assert pact.callback_host(" Buyer.Example.com:8443 ") == "buyer.example.com:8443"
    assert pact.callback_host("https://buyer.example.com/") == "buyer.example.com"
    for bad in ("https://x.example.com/path", "x.example.com:99999", "a b", "", "x.example.com:0"):
        with pytest.raises(ValidationFailed):
            pact.callback_host(bad)


def test_profile_urns_are_checked(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        with pytest.raises(ValidationFailed):
            pact.set_profile(s, "acme", "t", company_ids=["acme company"])
        with pytest.raises(NotFoundError):
            pact.set_profile(s, "acme", "t", product="zz", classifications=["urn:x:1"])
        with pytest.raises(ValidationFailed):
            pact.set_profile(s, "acme", "t", classifications=["urn:x:1"])           # no product named
        assert pact.profile(s, "acme").company_ids == ["urn:rareeco:org:acme"]


def test_without_the_official_specification_the_bundled_schema_validates(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """An installed rareeco has no ../shared: publishing still validates, with rareeco's own schema."""
    example = json.loads((pact.spec_dir() / "v3" / "examples" / "example-1.json").read_text("utf-8"))
    monkeypatch.setenv("RAREECO_PACT_SPEC_DIR", str(tmp_path))
    pact.validator.cache_clear()
    pact._openapi.cache_clear()
    try:
        assert pact.schema_findings(example) == []
        broken = {**example, "status": "Published"}
        assert [f.column for f in pact.schema_findings(broken)] == ["status"]
    finally:
        pact.validator.cache_clear()
        pact._openapi.cache_clear()
