"""Import openLCA 2 JSON-LD (olca-schema) into a :class:`~rareeco.lca.system.ProductSystem`.

openLCA exports a database, or part of one, as a zip file (or a directory) of JSON documents, one per
entity, in folders named after their type: ``processes/``, ``flows/``, ``flow_properties/``,
``unit_groups/``, ``lcia_categories/``, ``lcia_methods/``, ``locations/`` … (the olca-schema format,
version 2).  They are read with GreenDelta's ``olca_schema`` package (``Process.from_dict`` …), an
optional dependency: ``pip install 'rareeco[olca]'``.

Mapping (docs/lca-import.md has the tables):

* each process → one :class:`~rareeco.lca.system.Process` per product it provides (its quantitative
  reference; a multi-output process is split with its stored allocation factors), id = the process uuid
  (``uuid/flow-uuid`` for the other co-products of a multi-output process);
* an input of a product (an output of a waste) linked by ``defaultProvider`` → a technosphere exchange;
  an avoided product → a negative one;
* an elementary flow → a biosphere exchange, emission > 0, resource (input) < 0;
* an LCIA category → a :class:`~rareeco.lca.system.Method`; factors of input (resource) flows change sign
  with the amounts, so scores equal openLCA's.

Every amount is converted to the reference unit of its flow with openLCA's own data:
``amount_ref = amount · f_unit / f_property`` (``f_unit`` the unit's factor to its group's reference
unit, ``f_property`` the flow's factor of that flow property); characterisation factors get the inverse.
Formulas and parameters are **not** evaluated: the stored ``amount`` (evaluated by openLCA when it
exported) is used.

References
----------
GreenDelta, olca-schema 2 (the openLCA data exchange format), https://greendelta.github.io/olca-schema/.
openLCA 2 manual, "Allocation" and "Units and flow properties".
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rareeco.errors import RareecoError, UnitError
from rareeco.lca.errors import LCAError
from rareeco.lca.importing import Imported, Problems, mirrored, require, unique_ids, unit_label
from rareeco.lca.system import (
    BiosphereExchange,
    Flow,
    Method,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
)

AllocationMethod = Literal["physical", "economic", "causal"]
ALLOCATION_TYPES: Mapping[str, AllocationMethod] = {
    "PHYSICAL_ALLOCATION": "physical", "ECONOMIC_ALLOCATION": "economic", "CAUSAL_ALLOCATION": "causal"}
# folder of the JSON-LD package → olca_schema class name
FOLDERS: Mapping[str, str] = {
    "processes": "Process", "flows": "Flow", "flow_properties": "FlowProperty", "unit_groups": "UnitGroup",
    "lcia_categories": "ImpactCategory", "lcia_methods": "ImpactMethod", "locations": "Location"}


def _schema() -> Any:
    return require("olca_schema", "olca", "reading openLCA JSON-LD")


class _Problem(Exception):
    """A problem with one exchange or factor, raised by the helpers and turned into a finding by the caller."""

    def __init__(self, message: str, fix: str, code: str = "lca_import_invalid") -> None:
        super().__init__(message)
        self.message, self.fix, self.code = message, fix, code


# --- reading the files -------------------------------------------------------------------------------

def read_json_ld(source: str | Path) -> tuple[dict[str, dict[str, dict[str, Any]]], int | None]:
    """The JSON documents of a JSON-LD zip or directory: ``{folder: {uuid: document}}`` and the schema version.

    Only the folders of :data:`FOLDERS` are read; the version is that of ``olca-schema.json`` (None if absent).
    """
    path = Path(source)
    out: dict[str, dict[str, dict[str, Any]]] = {folder: {} for folder in FOLDERS}
    version: int | None = None

    def take(name: str, text: bytes | str) -> None:
        nonlocal version
        parts = name.replace("\\", "/").strip("/").split("/")
        if parts[-1] == "olca-schema.json":
            version = json.loads(text).get("version")
        elif len(parts) >= 2 and parts[-2] in out and parts[-1].endswith(".json"):
            doc = json.loads(text)
            out[parts[-2]][str(doc.get("@id") or parts[-1][:-5])] = doc

    try:
        if path.is_dir():
            for file in sorted(path.rglob("*.json")):
                take(file.relative_to(path).as_posix(), file.read_bytes())
        else:
            with zipfile.ZipFile(path) as z:
                for name in sorted(z.namelist()):
                    if name.endswith(".json"):
                        take(name, z.read(name))
    except (OSError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RareecoError(f"{source}: cannot read it as openLCA JSON-LD ({exc})",
                           fix="give a zip or a directory exported by openLCA 2 (File > Export > JSON-LD)") from exc
    return out, version


@dataclass(frozen=True)
class OlcaPackage:
    """The entities of a JSON-LD package as ``olca_schema`` objects, by uuid."""

    processes: dict[str, Any]
    flows: dict[str, Any]
    flow_properties: dict[str, Any]
    unit_groups: dict[str, Any]
    categories: dict[str, Any]
    methods: dict[str, Any]
    locations: dict[str, Any]
    source: str = "<json-ld>"
    version: int | None = 2


def package_from_documents(docs: Mapping[str, Mapping[str, Mapping[str, Any]]], source: str = "<json-ld>",
                           version: int | None = 2) -> OlcaPackage:
    """Parse the documents of :func:`read_json_ld` with ``olca_schema``'s ``from_dict``."""
    o = _schema()
    parsed = {folder: {uid: getattr(o, cls).from_dict(dict(d)) for uid, d in docs.get(folder, {}).items()}
              for folder, cls in FOLDERS.items()}
    return OlcaPackage(parsed["processes"], parsed["flows"], parsed["flow_properties"], parsed["unit_groups"],
                       parsed["lcia_categories"], parsed["lcia_methods"], parsed["locations"], source, version)


def load_package(source: str | Path) -> OlcaPackage:
    """Read a JSON-LD zip or directory (openLCA 2 export) into an :class:`OlcaPackage`."""
    _schema()  # the missing package is the first thing to report
    docs, version = read_json_ld(source)
    return package_from_documents(docs, str(source), version)


# --- units ---------------------------------------------------------------------------------------------

def to_reference(amount: float, unit_factor: float, property_factor: float) -> float:
    """An amount in a unit of some flow property of a flow → the flow's reference unit.

    Parameters
    ----------
    amount : float
        Amount [the exchange's unit].
    unit_factor : float
        The unit's ``conversionFactor`` to its unit group's reference unit [ref unit of the property / unit].
    property_factor : float
        The flow's ``conversionFactor`` of that flow property [property ref unit / flow ref unit].

    Notes
    -----
    :math:`a_{ref} = a \\cdot f_{unit} / f_{property}` (openLCA's ``unitFactor / propertyFactor``).
    """
    return amount * unit_factor / property_factor


@dataclass
class _Units:
    """Unit look-ups of one package: reference unit of a flow, conversion factor of an exchange's unit."""

    pkg: OlcaPackage
    aliases: Mapping[str, str] | None = None
    _labels: dict[str, str] = field(default_factory=dict)

    def _group(self, flow_property_id: str | None) -> tuple[Any, Any]:
        fp = self.pkg.flow_properties.get(flow_property_id or "")
        if fp is None:
            raise _Problem(f"flow property {flow_property_id!r} is not in the package",
                           "export the data set together with its reference data (flow properties, unit groups)")
        ug = self.pkg.unit_groups.get(fp.unit_group.id if fp.unit_group else "")
        if ug is None:
            raise _Problem(f"the unit group of flow property {fp.name!r} is not in the package",
                           "export the data set together with its reference data (flow properties, unit groups)")
        return fp, ug

    @staticmethod
    def _ref_factor(flow: Any) -> Any:
        refs = [f for f in flow.flow_properties or [] if f.is_ref_flow_property]
        if len(refs) != 1:
            raise _Problem(f"flow {flow.name!r} ({flow.id}) has {len(refs)} reference flow properties",
                           "give the flow exactly one reference flow property in openLCA")
        return refs[0]

    def reference_unit(self, flow: Any) -> str:
        """The flow's reference unit (reference unit of its reference flow property), as a registry unit."""
        if flow.id in self._labels:
            return self._labels[flow.id]
        _, ug = self._group(self._ref_factor(flow).flow_property.id)
        ref = [u for u in ug.units or [] if u.is_ref_unit]
        if len(ref) != 1:
            raise _Problem(f"unit group {ug.name!r} has {len(ref)} reference units",
                           "give the unit group exactly one reference unit in openLCA")
        try:
            label = unit_label(ref[0].name, self.aliases)
        except UnitError as exc:
            raise _Problem(f"reference unit {ref[0].name!r} of flow {flow.name!r}: {exc.message}", exc.fix or "",
                           "lca_import_unit") from None
        self._labels[flow.id] = label
        return label

    def factor(self, flow: Any, flow_property: Any, unit: Any) -> float:
        """Multiplier from (``flow_property``, ``unit``) refs (None: the flow's reference) to reference units."""
        prop_id = flow_property.id if flow_property is not None else self._ref_factor(flow).flow_property.id
        fpf = next((f for f in flow.flow_properties or [] if f.flow_property and f.flow_property.id == prop_id), None)
        if fpf is None or not fpf.conversion_factor:
            name = flow_property.name if flow_property is not None else prop_id
            raise _Problem(f"flow {flow.name!r} has no (non-zero) factor for flow property {name!r}",
                           "add the flow property to the flow in openLCA, or give the amount in one it has",
                           "lca_import_unit")
        fp, ug = self._group(prop_id)
        if unit is None:
            u = next((x for x in ug.units or [] if x.is_ref_unit), None)
        else:
            u = next((x for x in ug.units or [] if x.id == unit.id), None) or next(
                (x for x in ug.units or [] if unit.id is None and x.name == unit.name), None)
        if u is None or not u.conversion_factor:
            name = unit.name if unit is not None else "(reference)"
            raise _Problem(f"unknown unit {name!r}: it is not a unit of group {ug.name!r} of flow property "
                           f"{fp.name!r}", f"use one of {[x.name for x in ug.units or []]} or add the unit to "
                           "the group in openLCA and export again", "lca_import_unit")
        return to_reference(1.0, float(u.conversion_factor), float(fpf.conversion_factor))


# --- uncertainty ---------------------------------------------------------------------------------------

def olca_uncertainty(u: Any, factor: float = 1.0) -> Uncertainty | None:
    """An openLCA ``Uncertainty`` → rareeco's, its parameters converted to reference units by ``factor`` > 0.

    ==========================  =========================================================
    openLCA                     rareeco (the exchange amount is the median/mean/mode)
    ==========================  =========================================================
    LOG_NORMAL_DISTRIBUTION     ``lognormal``, ``sigma = ln(geomSd)``
    NORMAL_DISTRIBUTION         ``normal``, ``std = sd · factor``
    TRIANGLE_DISTRIBUTION       ``triangular``, ``minimum``/``maximum`` · factor
    UNIFORM_DISTRIBUTION        ``uniform``, ``minimum``/``maximum`` · factor
    ==========================  =========================================================
    """
    if u is None or u.distribution_type is None:
        return None
    kind = u.distribution_type.value if hasattr(u.distribution_type, "value") else str(u.distribution_type)
    if kind == "LOG_NORMAL_DISTRIBUTION":
        if u.geom_sd is None or not u.geom_sd > 1:
            raise _Problem(f"log-normal geometric standard deviation {u.geom_sd!r} must be > 1",
                           "give geomSd > 1 or remove the uncertainty")
        return Uncertainty.lognormal(sigma=math.log(u.geom_sd))
    if kind == "NORMAL_DISTRIBUTION":
        if u.sd is None:
            raise _Problem("normal distribution without sd", "give sd or remove the uncertainty")
        return Uncertainty.normal(u.sd * factor)
    if kind in ("TRIANGLE_DISTRIBUTION", "UNIFORM_DISTRIBUTION"):
        if u.minimum is None or u.maximum is None:
            raise _Problem(f"{kind.lower()} without minimum and maximum", "give both or remove the uncertainty")
        make = Uncertainty.triangular if kind == "TRIANGLE_DISTRIBUTION" else Uncertainty.uniform
        return make(u.minimum * factor, u.maximum * factor)
    raise _Problem(f"uncertainty type {kind!r} is not supported", "use log-normal, normal, triangle or uniform")


# --- exchanges -----------------------------------------------------------------------------------------

def _value(enum: Any) -> str:
    return "" if enum is None else str(getattr(enum, "value", enum))


def exchange_role(flow_type: str, is_input: bool, avoided: bool) -> Literal["provided", "linked", "elementary"]:
    """What an exchange is: a product the process provides, one it takes from a provider, or an elementary flow.

    A product output and a waste input are *provided* (the functions of the process); a product input and
    a waste output are *linked* to a provider; an avoided product or waste is linked with a negative amount.
    """
    if flow_type == "ELEMENTARY_FLOW":
        return "elementary"
    if avoided:
        return "linked"
    if flow_type == "WASTE_FLOW":
        return "provided" if is_input else "linked"
    return "linked" if is_input else "provided"


def allocation_table(process: Any, method: AllocationMethod) -> dict[tuple[str, int | None], float]:
    """The stored allocation factors of ``process`` for ``method``: ``(product flow id, exchange id or None) → f``.

    Physical and economic factors apply to every exchange (key exchange None); causal ones to one exchange
    (its ``internalId``).
    """
    kind = {v: k for k, v in ALLOCATION_TYPES.items()}[method]
    out: dict[tuple[str, int | None], float] = {}
    for f in process.allocation_factors or []:
        if _value(f.allocation_type) != kind or f.product is None or f.value is None:
            continue
        exchange = f.exchange.internal_id if method == "causal" and f.exchange is not None else None
        out[(f.product.id, exchange)] = float(f.value)
    return out


@dataclass
class _Run:
    """State of one import: the package, options, findings and what has been built so far."""

    pkg: OlcaPackage
    units: _Units
    problems: Problems
    allocation: AllocationMethod | None
    drop_unlinked: bool
    providers: dict[tuple[str, str], str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    technosphere: list[TechnosphereExchange] = field(default_factory=list)
    biosphere: list[BiosphereExchange] = field(default_factory=list)
    flows: dict[str, Flow] = field(default_factory=dict)
    flow_is_input: dict[str, bool] = field(default_factory=dict)
    formulas: int = 0


def _where(proc: Any, e: Any | None = None) -> str:
    text = f"process {proc.name!r} ({proc.id})"
    if e is None:
        return text
    flow = e.flow.name if e.flow is not None else "?"
    unit = e.unit.name if e.unit is not None else ""
    return (f"{text}, exchange {e.internal_id} ({'input' if e.is_input else 'output'} of {e.amount!r} {unit} "
            f"{flow!r})").replace("  ", " ")


def _provided(run: _Run, proc: Any) -> list[Any]:
    """The provided exchanges of ``proc`` (reference first); registers their provider ids."""
    out = []
    for e in proc.exchanges or []:
        flow = run.pkg.flows.get(e.flow.id if e.flow else "")
        if flow is not None and exchange_role(_value(flow.flow_type), bool(e.is_input),
                                              bool(e.is_avoided_product)) == "provided":
            out.append(e)
    out.sort(key=lambda e: not e.is_quantitative_reference)
    for e in out:
        run.providers[(proc.id, e.flow.id)] = proc.id if e.is_quantitative_reference else f"{proc.id}/{e.flow.id}"
    return out


def _location(run: _Run, proc: Any) -> str:
    ref = proc.location
    if ref is None:
        return "GLO"
    loc = run.pkg.locations.get(ref.id or "")
    return str((loc.code if loc is not None else None) or ref.name or "GLO")


def _amount(run: _Run, e: Any, flow: Any) -> tuple[float, Uncertainty | None]:
    """The exchange amount and distribution in the flow's reference unit (sign as stored)."""
    if e.amount_formula:
        run.formulas += 1
    factor = run.units.factor(flow, e.flow_property, e.unit)
    amount = to_reference(float(e.amount or 0.0), factor, 1.0)
    return amount, olca_uncertainty(e.uncertainty, factor)


def _signed(amount: float, unc: Uncertainty | None, sign: float, where: str) -> tuple[float, Uncertainty | None]:
    value, u = sign * amount, mirrored(unc, sign)
    if u is not None:
        try:
            u.check(value, where)
        except LCAError as exc:
            raise _Problem(exc.message.removeprefix(f"{where}: "), exc.fix or "") from None
    return value, u


_Row = tuple[Any, str, float, Uncertainty | None]


def _exchanges(run: _Run, proc: Any, provided: list[Any]) -> tuple[list[_Row], list[_Row]]:
    """Linked ``(exchange, supplier id, amount, unc)`` and elementary ``(exchange, flow id, amount, unc)`` rows."""
    linked: list[_Row] = []
    elementary: list[_Row] = []
    provided_ids = {id(e) for e in provided}
    for e in proc.exchanges or []:
        if id(e) in provided_ids:
            continue
        where = _where(proc, e)
        flow = run.pkg.flows.get(e.flow.id if e.flow else "")
        try:
            if flow is None:
                raise _Problem(f"flow {e.flow.id if e.flow else None!r} is not in the package",
                               "export the process together with the flows it uses")
            amount, unc = _amount(run, e, flow)
            role = exchange_role(_value(flow.flow_type), bool(e.is_input), bool(e.is_avoided_product))
            if role == "elementary":
                value, unc = _signed(amount, unc, -1.0 if e.is_input else 1.0, where)
                if flow.id not in run.flows:
                    run.flows[flow.id] = Flow(flow.id, flow.name or flow.id, run.units.reference_unit(flow),
                                              flow.category or "unspecified")
                first = run.flow_is_input.setdefault(flow.id, bool(e.is_input))
                if first != bool(e.is_input):
                    run.problems.add(where, f"elementary flow {flow.name!r} is an input here and an output elsewhere;"
                                     " its characterisation factors take the sign of its first use",
                                     "use separate flows for a resource and an emission", blocking=False,
                                     code="lca_import_flow_direction")
                elementary.append((e, flow.id, value, unc))
                continue
            provider = e.default_provider
            if provider is None or not provider.id:
                if run.drop_unlinked:
                    run.problems.add(where, "unlinked input dropped (no default provider)",
                                     "link it to a provider in openLCA to include its supply chain",
                                     blocking=False, code="lca_import_unlinked")
                    continue
                raise _Problem("input has no default provider (unlinked)",
                               "link it to a provider process in openLCA and export again, or drop unlinked inputs "
                               "(drop_unlinked=True, --drop-unlinked): their supply chain is then left out",
                               "lca_import_unlinked")
            supplier = run.providers.get((provider.id, flow.id))
            if supplier is None:
                known = provider.id in run.pkg.processes
                raise _Problem(f"default provider {provider.name!r} ({provider.id}) "
                               + ("does not provide flow " + repr(flow.name) if known else "is not in the package"),
                               "export the provider together with this process, or correct the link in openLCA",
                               "lca_import_reference")
            value, unc = _signed(amount, unc, -1.0 if e.is_avoided_product else 1.0, where)
            linked.append((e, supplier, value, unc))
        except _Problem as p:
            run.problems.add(where, p.message, p.fix, code=p.code, process=proc.id, exchange=e.internal_id)
    return linked, elementary


def _factors(run: _Run, proc: Any, provided: list[Any], exchanges: list[Any]) -> dict[str, dict[int, float]]:
    """Allocation factor of each exchange (by ``id()``) for each provided product flow id."""
    if len(provided) == 1:
        return {provided[0].flow.id: {id(e): 1.0 for e in exchanges}}
    method = run.allocation or ALLOCATION_TYPES.get(_value(proc.default_allocation_method))
    names = [e.flow.name for e in provided]
    if method is None:
        raise _Problem(f"has {len(provided)} products {names} and no allocation method",
                       "choose one whose factors the process stores (allocation='physical'|'economic'|'causal', "
                       "--allocation), set the process's default allocation in openLCA, or split the process",
                       "lca_import_allocation")
    table = allocation_table(proc, method)
    out: dict[str, dict[int, float]] = {}
    for product in provided:
        factors: dict[int, float] = {}
        for e in exchanges:
            key = (product.flow.id, e.internal_id if method == "causal" else None)
            if key not in table:
                what = f"exchange {e.internal_id} ({e.flow.name if e.flow else '?'})" if method == "causal" else ""
                raise _Problem(f"no {method} allocation factor for product {product.flow.name!r} {what}".rstrip(),
                               f"store {method} allocation factors for every product in openLCA, or choose a method "
                               "whose factors it stores", "lca_import_allocation")
            factors[id(e)] = table[key]
        out[product.flow.id] = factors
    if method != "causal":
        total = sum(table[(p.flow.id, None)] for p in provided)
        if abs(total - 1.0) > 1e-6:
            run.problems.add(_where(proc), f"{method} allocation factors sum to {total:g}, not 1",
                             "check the factors in openLCA", blocking=False, code="lca_import_allocation")
    return out


def _process(run: _Run, proc: Any, provided: list[Any]) -> None:
    where = _where(proc)
    refs = [e for e in proc.exchanges or [] if e.is_quantitative_reference]
    if len(refs) != 1:
        run.problems.add(where, f"has {len(refs)} quantitative reference exchanges",
                         "mark exactly one product output (or waste input) as the quantitative reference in openLCA",
                         code="lca_import_reference", process=proc.id)
        return
    if refs[0].flow is None or refs[0].flow.id not in run.pkg.flows:
        name = refs[0].flow.name if refs[0].flow else None
        run.problems.add(where, f"the flow of its quantitative reference ({name!r}) is not in the package",
                         "export the process together with its flows",
                         code="lca_import_reference", process=proc.id)
        return
    if not provided or not provided[0].is_quantitative_reference:
        run.problems.add(where, "its quantitative reference is not a product output or waste input",
                         "make a product output (or, for a treatment process, a waste input) the reference",
                         code="lca_import_reference", process=proc.id)
        return
    linked, elementary = _exchanges(run, proc, provided)
    try:
        factors = _factors(run, proc, provided, [x[0] for x in linked + elementary])
        products = []
        for e in provided:
            flow = run.pkg.flows[e.flow.id]
            amount, _ = _amount(run, e, flow)
            if amount == 0:
                raise _Problem(f"product {flow.name!r} has amount 0", "give the product a non-zero amount")
            products.append((flow, amount, run.units.reference_unit(flow)))
    except _Problem as p:
        run.problems.add(where, p.message, p.fix, code=p.code, process=proc.id)
        return
    location = _location(run, proc)
    for flow, amount, unit in products:
        pid = run.providers[(proc.id, flow.id)]
        name = proc.name or proc.id if len(products) == 1 else f"{proc.name} | {flow.name}"
        run.processes.append(Process(pid, name, flow.name or flow.id, unit, location, amount))
        f = factors[flow.id]
        for x, supplier, value, unc in linked:
            run.technosphere.append(TechnosphereExchange(pid, supplier, value * f[id(x)], None, _scaled(unc, f[id(x)])))
        for x, flow_id, value, unc in elementary:
            run.biosphere.append(BiosphereExchange(pid, flow_id, value * f[id(x)], None, _scaled(unc, f[id(x)])))


def _scaled(u: Uncertainty | None, factor: float) -> Uncertainty | None:
    """``u`` for an amount allocated with ``factor``; none left for a factor ≤ 0 (the amount is then not a median)."""
    if u is None or factor == 1.0:
        return u
    return u.scaled(factor) if factor > 0 else None


def _methods(run: _Run) -> dict[str, Method]:
    cats = sorted(run.pkg.categories.values(), key=lambda c: (c.name or "", c.id))
    ids = unique_ids((c.name or c.id for c in cats), (c.id for c in cats))
    out: dict[str, Method] = {}
    for mid, cat in zip(ids, cats, strict=True):
        factors: dict[str, float] = {}
        regional = 0
        for f in cat.impact_factors or []:
            flow = run.pkg.flows.get(f.flow.id if f.flow else "")
            if flow is None or flow.id not in run.flows:
                continue                      # a flow no process uses cannot change a score
            if f.location is not None:
                regional += 1
                continue
            if f.formula:
                run.formulas += 1
            try:
                per_ref = float(f.value or 0.0) / run.units.factor(flow, f.flow_property, f.unit)
            except _Problem as p:
                run.problems.add(f"LCIA category {cat.name!r} ({cat.id}), factor of {flow.name!r}", p.message, p.fix,
                                 code=p.code)
                continue
            sign = -1.0 if run.flow_is_input.get(flow.id) else 1.0   # resources are < 0 in B (openLCA does the same)
            factors[flow.id] = factors.get(flow.id, 0.0) + sign * per_ref
        if regional:
            run.problems.add(f"LCIA category {cat.name!r} ({cat.id})",
                             f"{regional} regionalised (location-specific) factors ignored",
                             "regionalised assessment is not supported; the factors without a location are used",
                             blocking=False, code="lca_import_regionalised")
        out[mid] = Method(mid, cat.ref_unit or "score", factors, cat.name or mid)
    return out


def system_from_package(pkg: OlcaPackage, *, allocation: AllocationMethod | None = None,
                        drop_unlinked: bool = False, unit_aliases: Mapping[str, str] | None = None) -> Imported:
    """Build the product system of an openLCA JSON-LD package (see the module docstring for the mapping).

    Parameters
    ----------
    pkg : OlcaPackage
        The package (:func:`load_package`).
    allocation : {"physical", "economic", "causal"}, optional
        Allocation of multi-output processes, with the factors each stores; default each process's own
        default allocation method.  A process without stored factors for the method is an error.
    drop_unlinked : bool
        Drop product inputs without a default provider (each an advisory finding) instead of failing.
    unit_aliases : mapping, optional
        openLCA unit name → unit of rareeco's registry, for reference units it does not read (``{"MWp": "MW"}``).

    Returns
    -------
    Imported
        The system, named after the source, and the advisory findings.  Blocking problems (unlinked inputs,
        unknown units, missing references, allocation without factors …) are raised together as one
        :class:`~rareeco.errors.ValidationFailed`, each finding naming the process and the exchange.
    """
    problems = Problems(pkg.source)
    if pkg.version is not None and pkg.version != 2:
        problems.add("olca-schema.json", f"schema version {pkg.version!r}; only version 2 (openLCA 2) is read",
                     "export the data again from openLCA 2 (File > Export > JSON-LD)", code="lca_import_version")
        problems.raise_if_blocking("openLCA package")
    run = _Run(pkg, _Units(pkg, unit_aliases), problems, allocation, drop_unlinked)
    procs = sorted(pkg.processes.values(), key=lambda p: (p.name or "", p.id))
    if not procs:
        problems.add("processes/", "the package has no process", "export at least one process from openLCA",
                     code="lca_import_empty")
    provided = {p.id: _provided(run, p) for p in procs}
    for p in procs:
        _process(run, p, provided[p.id])
    methods = _methods(run)
    if run.formulas:
        problems.add("formulas", f"{run.formulas} amounts or factors have formulas; the amounts stored by openLCA "
                     "were used (parameters are not re-evaluated)", "change parameters in openLCA and export again",
                     blocking=False, code="lca_import_formula")
    problems.raise_if_blocking("openLCA package")
    try:
        system = ProductSystem(tuple(run.processes), tuple(run.flows.values()), tuple(run.technosphere),
                               tuple(run.biosphere), methods)
    except RareecoError as exc:
        problems.add("product system", exc.message, exc.fix or "", code=exc.code)
        problems.raise_if_blocking("openLCA package")
        raise
    return Imported(system, Path(pkg.source).stem or "openlca-import", problems.warnings, pkg.source)


def import_olca(source: str | Path, *, allocation: AllocationMethod | None = None, drop_unlinked: bool = False,
                unit_aliases: Mapping[str, str] | None = None) -> Imported:
    """Read an openLCA 2 JSON-LD zip or directory and build its product system (:func:`system_from_package`)."""
    return system_from_package(load_package(source), allocation=allocation, drop_unlinked=drop_unlinked,
                               unit_aliases=unit_aliases)
