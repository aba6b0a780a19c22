"""Small openLCA 2 JSON-LD packages for the import tests, built with the ``olca_schema`` dataclasses.

:func:`steel_entities` is the hand-solved steel ⇄ electricity ⇄ coal system of tests/test_lca_engine.py in
openLCA's own units, to exercise the conversions: electricity's reference unit is MJ (its exchanges are
written in kWh = 3.6 MJ), the 0.5 kg of coal is written as 0.0005 t, the 0.01 kg of steel as 10 g, steel's
1.5 kg CO2 as 1500 g, and methane's factor as 0.027 kg CO2e per g.  Score: 349.5/93 kg CO2e for 1 kg steel.

:func:`refinery_entities` is a two-output process with stored allocation factors, an avoided product and
a resource (CO2 taken from air, factor −1); its numbers are worked out in tests/test_lca_import.py.

``python tests/olca_example.py DIR`` writes the steel package as a directory: docs/examples/steel-electricity-olca.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

NS = uuid.UUID("6f1b3c52-6a7e-4d1e-9a55-3d3f4a0b8c11")
STAMP = "2025-01-01T00:00:00Z"


def uid(name: str) -> str:
    """A fixed uuid per name (uuid5), so a package is the same every time it is written."""
    return str(uuid.uuid5(NS, name))


def ref(entity: Any) -> Any:
    import olca_schema as o

    return o.Ref(id=entity.id, name=entity.name)


def root(cls: Any, name: str, **kw: Any) -> Any:
    """A root entity with a fixed id, version and time stamp."""
    return cls(id=uid(name), name=name, version="01.00.000", last_change=STAMP, **kw)


def unit(name: str, factor: float, is_ref: bool = False) -> Any:
    import olca_schema as o

    return o.Unit(id=uid(name), name=name, conversion_factor=factor, is_ref_unit=is_ref)


def flow(name: str, kind: str, prop: Any, category: str) -> Any:
    """A flow of type ``kind`` (PRODUCT_FLOW, WASTE_FLOW, ELEMENTARY_FLOW) with one flow property."""
    import olca_schema as o

    return root(o.Flow, name, flow_type=o.FlowType[kind], category=category,
                flow_properties=[o.FlowPropertyFactor(flow_property=ref(prop), conversion_factor=1.0,
                                                      is_ref_flow_property=True)])


def exchange(i: int, fl: Any, amount: float, u: Any, prop: Any, *, is_input: bool = False, is_ref: bool = False,
             provider: Any = None, **kw: Any) -> Any:
    import olca_schema as o

    return o.Exchange(internal_id=i, flow=ref(fl), amount=amount, unit=o.Ref(id=u.id, name=u.name),
                      flow_property=ref(prop), is_input=is_input, is_quantitative_reference=is_ref,
                      default_provider=provider, **kw)


def mass_and_energy() -> dict[str, Any]:
    """Unit groups and flow properties: mass (kg; g, t) and energy (MJ; kWh)."""
    import olca_schema as o

    u = {"kg": unit("kg", 1.0, True), "g": unit("g", 0.001), "t": unit("t", 1000.0),
         "MJ": unit("MJ", 1.0, True), "kWh": unit("kWh", 3.6)}
    mass_units = root(o.UnitGroup, "Units of mass", units=[u["kg"], u["g"], u["t"]])
    energy_units = root(o.UnitGroup, "Units of energy", units=[u["MJ"], u["kWh"]])
    kind = o.FlowPropertyType.PHYSICAL_QUANTITY
    mass = root(o.FlowProperty, "Mass", unit_group=ref(mass_units), flow_property_type=kind)
    energy = root(o.FlowProperty, "Energy", unit_group=ref(energy_units), flow_property_type=kind)
    return {**u, "mass_units": mass_units, "energy_units": energy_units, "mass": mass, "energy": energy}


def steel_entities(**changes: Any) -> list[Any]:
    """The steel package.  ``changes`` break it for the error tests:

    ``coal_unit`` (a unit ref for coal's input to electricity), ``steel_provider`` (the provider ref of
    steel's electricity input; None = unlinked), ``no_reference`` (coal mining has no quantitative reference).
    """
    import olca_schema as o

    r = mass_and_energy()
    mass, energy = r["mass"], r["energy"]
    steel = flow("steel, hot rolled", "PRODUCT_FLOW", mass, "products")
    electricity = flow("electricity, medium voltage", "PRODUCT_FLOW", energy, "products")
    coal = flow("hard coal", "PRODUCT_FLOW", mass, "products")
    air = "Elementary flows/Emission to air/unspecified"
    co2 = flow("Carbon dioxide", "ELEMENTARY_FLOW", mass, air)
    ch4 = flow("Methane", "ELEMENTARY_FLOW", mass, air)
    cn = root(o.Location, "China", code="CN")
    nm = root(o.Location, "Inner Mongolia", code="CN-NM")
    unit_process = o.ProcessType.UNIT_PROCESS
    p_el = root(o.Process, "electricity production, medium voltage", location=ref(nm), process_type=unit_process)
    p_steel = root(o.Process, "steel production, hot rolled", location=ref(cn), process_type=unit_process)
    p_coal = root(o.Process, "hard coal mining", location=ref(nm), process_type=unit_process)
    p_el.exchanges = [
        exchange(1, electricity, 1.0, r["kWh"], energy, is_ref=True),
        exchange(2, steel, 10.0, r["g"], mass, is_input=True, provider=ref(p_steel)),
        exchange(3, coal, 0.0005, changes.get("coal_unit", r["t"]), mass, is_input=True, provider=ref(p_coal)),
        exchange(4, co2, 0.9, r["kg"], mass),
    ]
    lognormal = o.Uncertainty(distribution_type=o.UncertaintyType.LOG_NORMAL_DISTRIBUTION,
                              geom_mean=2.0, geom_sd=1.2214027581601699)    # geomSd = exp(0.2)
    p_steel.exchanges = [
        exchange(1, steel, 1.0, r["kg"], mass, is_ref=True),
        exchange(2, electricity, 2.0, r["kWh"], energy, is_input=True,
                 provider=changes.get("steel_provider", ref(p_el)), uncertainty=lognormal),
        exchange(3, co2, 1500.0, r["g"], mass),
    ]
    p_coal.exchanges = [
        exchange(1, coal, 1.0, r["kg"], mass, is_ref=not changes.get("no_reference", False)),
        exchange(2, electricity, 0.1, r["kWh"], energy, is_input=True, provider=ref(p_el)),
        exchange(3, ch4, 0.01, r["kg"], mass),
    ]
    gwp = root(o.ImpactCategory, "made-up GWP for tests", ref_unit="kg CO2e", impact_factors=[
        o.ImpactFactor(flow=ref(co2), value=1.0, unit=ref(r["kg"]), flow_property=ref(mass)),
        o.ImpactFactor(flow=ref(ch4), value=0.027, unit=ref(r["g"]), flow_property=ref(mass)),
    ])
    method = root(o.ImpactMethod, "made-up method", impact_categories=[ref(gwp)])
    return [r["mass_units"], r["energy_units"], mass, energy, steel, electricity, coal, co2, ch4, cn, nm,
            p_el, p_steel, p_coal, gwp, method]


def refinery_entities(*, default_allocation: str | None = None, causal: bool = False) -> list[Any]:
    """A refinery making 2 kg of A (reference) and 1 kg of B per run, emitting 3 kg CO2 and taking 1 kg CO2 from
    air; physical factors 0.8/0.2, economic 0.6/0.4 (causal ones only with ``causal``: 0.5/0.5 for CO2 only).
    A user process takes 1 kg of A and avoids 0.5 kg of B.  GWP: CO2 × 1, CO2 from air × −1.
    """
    import olca_schema as o

    r = mass_and_energy()
    mass = r["mass"]
    a = flow("product A", "PRODUCT_FLOW", mass, "products")
    b = flow("product B", "PRODUCT_FLOW", mass, "products")
    use = flow("use of A", "PRODUCT_FLOW", mass, "products")
    co2 = flow("Carbon dioxide", "ELEMENTARY_FLOW", mass, "Elementary flows/Emission to air/unspecified")
    uptake = flow("Carbon dioxide, in air", "ELEMENTARY_FLOW", mass, "Elementary flows/Resource/in air")
    refinery = root(o.Process, "refinery", process_type=o.ProcessType.UNIT_PROCESS)
    user = root(o.Process, "user of A", process_type=o.ProcessType.UNIT_PROCESS)
    refinery.exchanges = [
        exchange(1, a, 2.0, r["kg"], mass, is_ref=True),
        exchange(2, b, 1.0, r["kg"], mass),
        exchange(3, co2, 3.0, r["kg"], mass),
        exchange(4, uptake, 1.0, r["kg"], mass, is_input=True),
    ]
    af = o.AllocationType
    factors = [o.AllocationFactor(allocation_type=af.PHYSICAL_ALLOCATION, product=ref(a), value=0.8),
               o.AllocationFactor(allocation_type=af.PHYSICAL_ALLOCATION, product=ref(b), value=0.2),
               o.AllocationFactor(allocation_type=af.ECONOMIC_ALLOCATION, product=ref(a), value=0.6),
               o.AllocationFactor(allocation_type=af.ECONOMIC_ALLOCATION, product=ref(b), value=0.4)]
    if causal:
        factors += [o.AllocationFactor(allocation_type=af.CAUSAL_ALLOCATION, product=ref(p), value=0.5,
                                       exchange=o.ExchangeRef(internal_id=3)) for p in (a, b)]
    refinery.allocation_factors = factors
    if default_allocation:
        refinery.default_allocation_method = af[default_allocation]
    user.exchanges = [
        exchange(1, use, 1.0, r["kg"], mass, is_ref=True),
        exchange(2, a, 1.0, r["kg"], mass, is_input=True, provider=ref(refinery)),
        exchange(3, b, 0.5, r["kg"], mass, is_input=True, provider=ref(refinery), is_avoided_product=True),
    ]
    gwp = root(o.ImpactCategory, "GWP", ref_unit="kg CO2e", impact_factors=[
        o.ImpactFactor(flow=ref(co2), value=1.0, unit=ref(r["kg"]), flow_property=ref(mass)),
        o.ImpactFactor(flow=ref(uptake), value=-1.0, unit=ref(r["kg"]), flow_property=ref(mass)),
    ])
    return [r["mass_units"], r["energy_units"], mass, r["energy"], a, b, use, co2, uptake, refinery, user, gwp]


def write_zip(path: Path, entities: list[Any]) -> Path:
    """The entities as a JSON-LD zip (``olca_schema.zipio.ZipWriter``)."""
    from olca_schema import zipio

    with zipio.ZipWriter(str(path)) as w:
        for e in entities:
            w.write(e)
    return path


def documents(entities: list[Any]) -> dict[str, dict[str, Any]]:
    """``{"folder/uuid.json": document}`` of the entities, as a JSON-LD package holds them."""
    from olca_schema import zipio

    return {f"{zipio._folder_of_entity(e)}/{e.id}.json": e.to_dict() for e in entities}


def write_directory(path: Path, entities: list[Any]) -> Path:
    """The entities as a JSON-LD directory (the folders of the zip), formatted for reading and diffs."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "olca-schema.json").write_text('{"version": 2}\n', encoding="utf-8")
    for name, doc in documents(entities).items():
        (path / name).parent.mkdir(exist_ok=True)
        (path / name).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    write_directory(Path(sys.argv[1]), steel_entities())
