"""Product systems written as documents (YAML or JSON), without code.

A model document holds a product system and its characterisation methods (docs/lca-model.md)::

    name: steel-electricity
    parameters: [{name: kwh_per_kg, value: 2, source: "plant meter 2024"}]
    processes:
      - id: steel
        name: steel, hot rolled
        product: steel
        unit: kg
        inputs:    [{from: electricity, amount: kwh_per_kg, unit: kWh}]
        emissions: [{flow: co2, amount: 1.5, source: "mass balance 2024"}]
    flows:   [{id: co2, name: carbon dioxide, unit: kg, compartment: air}]
    methods: [{id: test-gwp, unit: kg CO2e, factors: {co2: 1}}]

Beyond processes, flows and methods a document may hold **parameters** (amounts written as formulas,
evaluated by :mod:`rareeco.lca.parameters` without ``eval``), **provenance** (``source`` and
``assumption`` on parameters, processes, co-products, inputs, emissions and recovered outputs;
:meth:`Model.provenance`), **multi-output processes** (``coproducts``, split by the document's
``allocation`` with :mod:`rareeco.lca.allocation`) and **recycling** (``secondary`` inputs,
``recovered`` outputs and the ``recycling`` rule; module D by :mod:`rareeco.lca.recycling`).

The format is *described once*, in :data:`MODEL`: the loader checks documents against that
description and :func:`model_schema` turns it into the JSON Schema of ``docs/lca-model.schema.json``,
so the two cannot drift apart.  Every problem is a :class:`~rareeco.errors.Finding` naming its
document path (``processes[3].inputs[1].unit``) and how to fix it; all of them are raised together
as one :class:`~rareeco.errors.ValidationFailed`.  Nothing is built until the document is clean, so
:class:`~rareeco.lca.system.ProductSystem` sees only checked data.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from rareeco.errors import Finding, RareecoError, UnitError, ValidationFailed
from rareeco.lca.allocation import (
    Allocation,
    CoProduct,
    DatedPrice,
    MultiOutputProcess,
    economic_allocation,
    mass_allocation,
    physical_allocation,
    price_on,
    substitution,
)
from rareeco.lca.errors import AllocationError, LCAError, UnknownReferenceError
from rareeco.lca.matrices import matrix_data
from rareeco.lca.parameters import (
    MAX_FORMULA_CHARS,
    Formula,
    FormulaError,
    LinkedAmount,
    Parameter,
    ParameterMonteCarlo,
    Parameters,
    compile_formula,
    name_problem,
    resolve_parameters,
)
from rareeco.lca.recycling import RULES, ModuleD, RecyclingRule, SecondaryFlow, module_d
from rareeco.lca.solve import LCA, Demand
from rareeco.lca.system import (
    DISTRIBUTIONS,
    BiosphereExchange,
    Flow,
    Method,
    Process,
    ProductSystem,
    TechnosphereExchange,
    Uncertainty,
)
from rareeco.lca.uncertainty import MonteCarlo
from rareeco.units import conversion_factor, same_dimension

SCHEMA_ID = "https://rareeco.example/schemas/lca-model.schema.json"
Kind = Literal["string", "number", "amount", "date", "list", "object", "factors"]
AllocationMethod = Literal["mass", "economic", "physical", "substitution"]
ALLOCATION_METHODS: tuple[AllocationMethod, ...] = ("mass", "economic", "physical", "substitution")


# --- the description of the format ---------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One key of an object in a model document."""

    name: str
    kind: Kind
    help: str
    required: bool = False
    of: Obj | None = None                 # the object of a "list" or "object" field
    enum: tuple[str, ...] | None = None
    min_items: int = 0                    # a "list": at least this many items (1 if required)


@dataclass(frozen=True)
class Variant:
    """One admissible set of keys of an object: all of ``required`` and none of ``forbidden``."""

    required: tuple[str, ...]
    forbidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class Obj:
    """An object of a model document: its keys (no others are allowed) and, if any, its variants.

    With ``variants`` the object must match exactly one of them (``variants_help`` says how).
    """

    title: str
    help: str
    fields: tuple[Field, ...]
    variants: tuple[Variant, ...] = ()
    variants_help: str = ""

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _cited(*fields: Field) -> tuple[Field, ...]:
    """``fields`` followed by the two provenance keys."""
    return (*fields,
            Field("source", "string", "where the data comes from (document, table, page, measurement campaign)"),
            Field("assumption", "string", "the assumption behind the value, when it is not measured or cited"))


AMOUNT_HELP = "a number, or a formula of parameters (see parameters)"
UNCERTAINTY = Obj("uncertainty", "The distribution of the amount; the amount itself is its median (lognormal), "
                  "mean (normal), mode (triangular) or static value (uniform).", (
                      Field("distribution", "string", "lognormal, normal, triangular or uniform", True,
                            enum=DISTRIBUTIONS),
                      Field("gsd", "number", "lognormal: geometric standard deviation exp(sigma), > 1"),
                      Field("sigma", "number", "lognormal: standard deviation of ln|x|, > 0 (give gsd or sigma)"),
                      Field("std", "number", "normal: standard deviation, > 0, in the exchange's unit"),
                      Field("min", "number", "triangular/uniform: lower bound, in the exchange's unit"),
                      Field("max", "number", "triangular/uniform: upper bound, in the exchange's unit"),
                  ))
# parameters each distribution needs (one of the alternatives, all keys of it)
NEEDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "lognormal": (("gsd",), ("sigma",)), "normal": (("std",),),
    "triangular": (("min", "max"),), "uniform": (("min", "max"),),
}
PARAMETER = Obj("parameter", "A named number (value) or a formula of other parameters; exchange amounts may use it.",
                _cited(
                    Field("name", "string", "unique name (letters, digits, _), used in formulas", True),
                    Field("value", "number", "the value (the median, mean, mode or static value if uncertain)"),
                    Field("formula", "string", f"a formula of other parameters (at most {MAX_FORMULA_CHARS} "
                                               "characters: numbers, names, + - * / ** ( ), min max abs sqrt exp "
                                               "log log10)"),
                    Field("unit", "string", "unit of the value (documentation: formulas are plain arithmetic)"),
                    Field("help", "string", "what the parameter means"),
                    Field("uncertainty", "object", "distribution of the value (value parameters only)",
                          of=UNCERTAINTY),
                ),
                variants=(Variant(("value",), ("formula",)), Variant(("formula",), ("value", "uncertainty"))),
                variants_help="a parameter has a value (optionally with an uncertainty) or a formula (whose "
                              "uncertainty comes from the parameters it uses), not both")
SECONDARY = Obj("secondary", "Marks an input as secondary material (recycled or recovered in an earlier life cycle).", (
    Field("replaces", "string", "id of the virgin (primary) process whose product this material substitutes", True),
    Field("quality_ratio", "number", "quality of the secondary material relative to the virgin one, 0–1 "
                                     "(default 1)"),
))
INPUT = Obj("input", "An input of another process's product per run of this process (negative: avoided "
            "production).", _cited(
                Field("from", "string", "id of the supplying process (or co-product)", True),
                Field("amount", "amount", f"amount per run of this process: {AMOUNT_HELP}", True),
                Field("unit", "string", "unit of the amount (default the supplier's unit; same dimension)"),
                Field("uncertainty", "object", "distribution of the amount", of=UNCERTAINTY),
                Field("secondary", "object", "this input is secondary material (see recycling)", of=SECONDARY),
            ))
EMISSION = Obj("emission", "An elementary flow emitted (> 0) or taken from nature (< 0) per run.", _cited(
    Field("flow", "string", "id of the elementary flow (see flows)", True),
    Field("amount", "amount", f"amount per run of this process: {AMOUNT_HELP}", True),
    Field("unit", "string", "unit of the amount (default the flow's unit; same dimension)"),
    Field("uncertainty", "object", "distribution of the amount", of=UNCERTAINTY),
))
PRICE = Obj("price", "A dated price of a co-product (economic allocation).", (
    Field("value", "number", "price per unit, ≥ 0", True),
    Field("unit", "string", "currency per unit, e.g. CNY/kg or USD/t (one currency in a process)", True),
    Field("valid_from", "date", "first day the price applies, YYYY-MM-DD", True),
    Field("valid_to", "date", "last day the price applies, YYYY-MM-DD (default: until the next price)"),
    Field("source", "string", "where the price comes from", True),
))
COPRODUCT = Obj("coproduct", "One product of a multi-output process; it becomes a process of its own id.", _cited(
    Field("id", "string", "unique id (among processes and co-products), used by inputs and demands", True),
    Field("name", "string", "readable name", True),
    Field("unit", "string", "unit of the co-product", True),
    Field("amount", "amount", f"output per run of the process, > 0: {AMOUNT_HELP}", True),
    Field("mass_kg", "number", "mass of one unit [kg] (mass allocation of a co-product not measured in a mass unit)"),
    Field("prices", "list", "dated prices (economic allocation)", of=PRICE),
    Field("properties", "factors", "property name → value per unit of the co-product (physical allocation)"),
    Field("substitutes", "string", "id of the process whose production this co-product displaces (substitution)"),
))
RECOVERED = Obj("recovered", "Secondary material leaving the system per run (production scrap, end-of-life "
                "material) to be recycled in another system.", _cited(
                    Field("material", "string", "what leaves (a label, e.g. ndfeb-swarf)", True),
                    Field("amount", "amount", f"amount per run of this process, ≥ 0: {AMOUNT_HELP}", True),
                    Field("unit", "string", "unit of the amount (default the unit of the replaced process)"),
                    Field("replaces", "string", "id of the virgin process whose product it substitutes", True),
                    Field("recycling", "string", "id of the recycling process turning it into that substitute "
                                                 "(its burden enters module D; none: no recycling burden)"),
                    Field("quality_ratio", "number", "quality relative to the virgin product, 0–1 (default 1)"),
                ))
PROCESS = Obj("process", "An activity making one reference product (product and unit) or several (coproducts).",
              _cited(
                  Field("id", "string", "unique id, used by inputs and demands", True),
                  Field("name", "string", "readable name", True),
                  Field("product", "string", "the reference product (single-output process)"),
                  Field("unit", "string", "unit of the reference product (kg, t, kWh, MJ, t*km …)"),
                  Field("location", "string", "location code (default GLO)"),
                  Field("production_amount", "amount", f"product made per run, non-zero (default 1): {AMOUNT_HELP}"),
                  Field("coproducts", "list", "the products of a multi-output process (instead of product, unit "
                                              "and production_amount)", of=COPRODUCT, min_items=2),
                  Field("inputs", "list", "technosphere inputs", of=INPUT),
                  Field("emissions", "list", "elementary flows (biosphere exchanges)", of=EMISSION),
                  Field("recovered", "list", "secondary material leaving the system (see recycling)", of=RECOVERED),
              ),
              variants=(Variant(("product", "unit"), ("coproducts",)),
                        Variant(("coproducts",), ("product", "unit", "production_amount"))),
              variants_help="a process has product and unit (and production_amount), or coproducts, not both")
FLOW = Obj("flow", "An elementary flow.", (
    Field("id", "string", "unique id, used by emissions and factors", True),
    Field("name", "string", "readable name", True),
    Field("unit", "string", "unit the flow is measured in", True),
    Field("compartment", "string", "air, water, soil or natural resource (default air)"),
))
METHOD = Obj("method", "A characterisation method.", (
    Field("id", "string", "unique id, given to --method", True),
    Field("unit", "string", "unit of the score, e.g. kg CO2e", True),
    Field("name", "string", "readable name"),
    Field("factors", "factors", "flow id → factor [method unit per flow unit]; other flows count zero", True),
))
ALLOCATION = Obj("allocation", "How multi-output processes are split (ISO 14044 §4.3.4.2).", (
    Field("method", "string", "mass, economic (prices on date), physical (by property) or substitution", True,
          enum=ALLOCATION_METHODS),
    Field("property", "string", "physical: the co-product property to allocate by (a key of their properties)"),
    Field("date", "date", "economic: the date whose prices apply, YYYY-MM-DD"),
))
RECYCLING = Obj("recycling", "How secondary material counts (EN 15804+A2 §6.4.3.3; ISO 14067 §6.4.6.3).", (
    Field("rule", "string", "cut-off (module D reported apart) or avoided-burden (module D in the score)", True,
          enum=RULES),
))
MODEL = Obj("model", "A product system with its characterisation methods (rareeco LCA model format).", (
    Field("name", "string", "name of the model", True),
    Field("description", "string", "free text"),
    Field("parameters", "list", "named values and formulas that amounts may use", of=PARAMETER),
    Field("processes", "list", "the processes (at least one)", True, of=PROCESS),
    Field("flows", "list", "the elementary flows", of=FLOW),
    Field("methods", "list", "the characterisation methods", of=METHOD),
    Field("allocation", "object", "how multi-output processes are split (needed when a process has coproducts)",
          of=ALLOCATION),
    Field("recycling", "object", "the recycling rule (default cut-off)", of=RECYCLING),
))


def _field_schema(f: Field) -> dict[str, Any]:
    out: dict[str, Any]
    if f.kind == "string":
        out = {"type": "string", "minLength": 1}
        if f.enum:
            out["enum"] = list(f.enum)
    elif f.kind == "number":
        out = {"type": "number"}
    elif f.kind == "amount":
        out = {"anyOf": [{"type": "number"}, {"type": "string", "minLength": 1, "maxLength": MAX_FORMULA_CHARS}]}
    elif f.kind == "date":
        out = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    elif f.kind == "factors":
        out = {"type": "object", "additionalProperties": {"type": "number"}}
    elif f.kind == "list":
        assert f.of is not None
        out = {"type": "array", "items": _obj_schema(f.of)}
        least = max(f.min_items, 1 if f.required else 0)
        if least:
            out["minItems"] = least
    else:
        assert f.of is not None
        out = _obj_schema(f.of)
    return {"description": f.help, **out}


def _obj_schema(obj: Obj) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": obj.title, "description": obj.help, "type": "object",
        "properties": {f.name: _field_schema(f) for f in obj.fields},
        "required": [f.name for f in obj.fields if f.required],
        "additionalProperties": False,
    }
    if obj.variants:
        out["oneOf"] = [{"required": list(v.required), "properties": {k: False for k in v.forbidden}}
                        for v in obj.variants]
    if obj is UNCERTAINTY:
        out["allOf"] = [
            {"if": {"properties": {"distribution": {"const": dist}}},
             "then": {"anyOf": [{"required": list(keys)} for keys in alternatives]}}
            for dist, alternatives in NEEDS.items()]
    return out


def model_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of model documents, generated from :data:`MODEL`."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **_obj_schema(MODEL)}


# --- checking a document against the description -------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.findings: list[Finding] = []

    def add(self, path: str, message: str, fix: str, code: str = "lca_model_invalid", value: Any = None) -> None:
        self.findings.append(Finding(code, f"{path}: {message}", file=self.source, column=path,
                                     value=None if value is None else repr(value), fix=fix,
                                     data={"path": path}))

    def obj(self, value: Any, obj: Obj, path: str) -> dict[str, Any] | None:
        """``value`` checked against ``obj`` (keys, types, nested objects); None if it is not an object."""
        if not isinstance(value, Mapping):
            self.add(path, f"a {obj.title} must be an object (mapping), got {type(value).__name__}",
                     f"write the {obj.title} as key: value pairs ({', '.join(f.name for f in obj.fields)})")
            return None
        for key in value:
            if obj.field(str(key)) is None:
                self.add(_join(path, str(key)), f"unknown key {key!r} in a {obj.title}",
                         f"remove it or use one of: {', '.join(f.name for f in obj.fields)}")
        for f in obj.fields:
            if f.name not in value and f.required:
                self.add(_join(path, f.name), f"{f.name!r} is missing", f"give {f.name}: {f.help}",
                         code="lca_model_missing")
        self.variants(value, obj, path)
        out: dict[str, Any] = {}
        for f in obj.fields:
            if f.name in value:
                checked = self.value(value[f.name], f, _join(path, f.name))
                if checked is not None:
                    out[f.name] = checked
        return out

    def variants(self, value: Mapping[str, Any], obj: Obj, path: str) -> None:
        """Exactly one of ``obj.variants`` must fit: a clash of keys, or the missing keys of the nearest one."""
        if not obj.variants:
            return
        open_ = [v for v in obj.variants if not any(k in value for k in v.forbidden)]
        if not open_:
            keys = sorted({k for v in obj.variants for k in (*v.required, *v.forbidden) if k in value})
            self.add(path, f"{', '.join(map(repr, keys))} cannot be given together", obj.variants_help)
        elif not any(all(k in value for k in v.required) for v in open_):
            for k in open_[0].required:
                if k not in value:
                    f = obj.field(k)
                    self.add(_join(path, k), f"{k!r} is missing", f"give {k}: {f.help if f else k} "
                             f"({obj.variants_help})", code="lca_model_missing")

    def value(self, v: Any, f: Field, path: str) -> Any:
        if f.kind == "string":
            if isinstance(v, bool) or not isinstance(v, str | int | float) or (isinstance(v, str) and not v.strip()):
                self.add(path, f"{v!r} is not a non-empty text", f"give {f.name} as text: {f.help}", value=v)
                return None
            text = str(v).strip()
            if f.enum and text not in f.enum:
                self.add(path, f"{text!r} is not allowed", f"use one of {', '.join(f.enum)}", value=v)
                return None
            return text
        if f.kind == "number":
            return self.number(v, path, f"give {f.name} as a finite number: {f.help}")
        if f.kind == "amount":
            if isinstance(v, str) and v.strip():
                return v.strip()
            return self.number(v, path, f"give {f.name} as {AMOUNT_HELP}")
        if f.kind == "date":
            return self.date(v, path)
        if f.kind == "factors":
            if not isinstance(v, Mapping):
                self.add(path, f"{f.name} must be a mapping of names to numbers",
                         f"write {f.name} as name: number pairs, e.g. {{co2: 1.0, ch4: 27}}")
                return None
            return {str(k): n for k, x in v.items()
                    if (n := self.number(x, _join(path, str(k)), f"give the {f.name} value as a finite number"))
                    is not None}
        if f.kind == "list":
            assert f.of is not None
            if not isinstance(v, list):
                self.add(path, f"{f.name} must be a list, got {type(v).__name__}",
                         f"write {f.name} as a list of {f.of.title} objects")
                return None
            least = max(f.min_items, 1 if f.required else 0)
            if len(v) < least:
                self.add(path, f"{f.name} is empty" if not v else f"{f.name} has {len(v)} item(s), fewer than "
                         f"{least}", f"give at least {least} {f.of.title}" + ("s" if least > 1 else ""))
            items = [self.obj(x, f.of, f"{path}[{i}]") for i, x in enumerate(v)]
            return [x for x in items if x is not None] if all(x is not None for x in items) else None
        assert f.of is not None
        return self.obj(v, f.of, path)

    def number(self, v: Any, path: str, fix: str) -> float | None:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.add(path, f"{v!r} is not a finite number", fix, value=v)
            return None
        return float(v)

    def date(self, v: Any, path: str) -> dt.date | None:
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return v
        if isinstance(v, str) and _DATE.match(v.strip()):
            try:
                return dt.date.fromisoformat(v.strip())
            except ValueError:
                pass
        self.add(path, f"{v!r} is not a date", "write the date as YYYY-MM-DD (e.g. 2024-06-30)", value=v)
        return None

    def unit(self, unit: Any, path: str) -> bool:
        try:
            conversion_factor(str(unit), str(unit))
        except UnitError as exc:
            self.add(path, f"unknown unit {unit!r}", exc.fix or "write a unit such as kg, t, kWh or MJ",
                     code="lca_model_unit", value=unit)
            return False
        return True

    def convertible(self, unit: str, ref: str, path: str, ref_text: str) -> bool:
        if not self.unit(unit, path):
            return False
        try:
            conversion_factor(unit, ref)
        except UnitError:
            self.add(path, f"unit {unit!r} is not convertible to {ref!r}, {ref_text}",
                     f"give the amount in a unit of the same dimension as {ref!r} (or check the id it refers to)",
                     code="lca_model_unit", value=unit)
            return False
        return True


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _uncertainty(raw: Mapping[str, Any] | None, amount: float, path: str, ck: _Checker) -> Uncertainty | None:
    if raw is None or "distribution" not in raw:
        return None
    dist = str(raw["distribution"])
    alternatives = NEEDS[dist]
    given = {k for k in raw if k != "distribution"}
    allowed = {k for keys in alternatives for k in keys}
    for extra in sorted(given - allowed):
        ck.add(f"{path}.{extra}", f"{extra!r} is not a parameter of a {dist} distribution",
               f"a {dist} takes {' or '.join(' and '.join(keys) for keys in alternatives)}")
    matching = [keys for keys in alternatives if all(k in raw for k in keys)]
    if len(matching) != 1:
        ck.add(path, f"a {dist} distribution needs {' or '.join(' and '.join(k) for k in alternatives)}"
               + (" (not both)" if len(matching) > 1 else ""),
               f"give {' or '.join(' and '.join(k) for k in alternatives)} beside distribution: {dist}",
               code="lca_model_missing")
        return None
    if given - allowed:
        return None
    try:
        if dist == "lognormal":
            unc = Uncertainty.lognormal(sigma=raw.get("sigma"), gsd=raw.get("gsd"))
        elif dist == "normal":
            unc = Uncertainty.normal(raw["std"])
        elif dist == "triangular":
            unc = Uncertainty.triangular(raw["min"], raw["max"])
        else:
            unc = Uncertainty.uniform(raw["min"], raw["max"])
        unc.check(amount, path)
    except LCAError as exc:
        msg = exc.message if exc.message.startswith(path) else f"{path}: {exc.message}"
        ck.findings.append(Finding("lca_model_uncertainty", msg, file=ck.source, column=path, fix=exc.fix,
                                   data={"path": path}))
        return None
    return unc


# --- the loaded model -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllocationRule:
    """How multi-output processes are split: ``method`` with its ``property`` (physical) or date ``on`` (economic)."""

    method: AllocationMethod
    property: str | None = None
    on: dt.date | None = None

    def text(self) -> str:
        """``mass``, ``physical:reo``, ``economic:2024-06-30`` … (what ``--allocation`` takes)."""
        extra = self.property if self.method == "physical" else (self.on.isoformat() if self.on else None)
        return f"{self.method}:{extra}" if extra else self.method


def parse_allocation(text: str) -> AllocationRule:
    """``mass`` | ``economic[:YYYY-MM-DD]`` | ``physical:<property>`` | ``substitution`` → :class:`AllocationRule`."""
    method, _, extra = text.strip().partition(":")
    fix = "write mass, economic (or economic:YYYY-MM-DD), physical:<property> or substitution"
    if method not in ALLOCATION_METHODS:
        raise LCAError(f"unknown allocation {text!r}", fix=fix)
    m = cast(AllocationMethod, method)
    if m == "physical":
        return AllocationRule(m, property=extra.strip() or None)
    if m == "economic" and extra:
        try:
            return AllocationRule(m, on=dt.date.fromisoformat(extra.strip()))
        except ValueError:
            raise LCAError(f"allocation {text!r}: {extra!r} is not a date", fix="write economic:YYYY-MM-DD") from None
    if extra:
        raise LCAError(f"allocation {text!r}: {method} takes nothing after ':'", fix=fix)
    return AllocationRule(m)


@dataclass(frozen=True)
class ProvenanceRow:
    """Where one item of the model comes from.

    ``kind`` is parameter, process, coproduct, price, input, emission or recovered; ``item`` the
    supplier, flow, co-product, material or parameter it names; ``amount`` [``unit``] the value used
    (a formula evaluated; ``formula`` its text); ``source`` and ``assumption`` as written ('' if not).
    """

    path: str
    kind: str
    process: str
    item: str
    amount: float | None
    unit: str
    formula: str
    source: str
    assumption: str

    @property
    def documented(self) -> bool:
        """True if the row has a source or an assumption."""
        return bool(self.source or self.assumption)


@dataclass(frozen=True)
class Model:
    """A loaded model document: its name, the product system (with its methods) and where it came from.

    Besides the :class:`~rareeco.lca.system.ProductSystem`: the resolved ``parameters``, the
    ``allocations`` of multi-output processes (process id → :class:`~rareeco.lca.allocation.Allocation`,
    factors summing to 1) under ``allocation_rule``, ``aliases`` (co-products credited by substitution →
    the process they displace), the ``recycling`` rule with the ``secondary_flows``, the exchange
    amounts written as formulas (``linked``, for :meth:`monte_carlo`) and the provenance ``rows``.
    """

    name: str
    system: ProductSystem
    source: str = "<document>"
    description: str = ""
    parameters: Parameters = field(default_factory=lambda: Parameters({}, {}, {}, ()))
    allocation_rule: AllocationRule | None = None
    allocations: Mapping[str, Allocation] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    recycling: RecyclingRule = "cut-off"
    secondary_flows: tuple[SecondaryFlow, ...] = ()
    linked: tuple[LinkedAmount, ...] = ()
    rows: tuple[ProvenanceRow, ...] = ()

    def method(self, method_id: str | None = None) -> Method:
        """The method ``method_id``, or the only one of the model when it has exactly one."""
        if method_id is None:
            if len(self.system.methods) == 1:
                return next(iter(self.system.methods.values()))
            raise LCAError(f"{self.source}: the model has {len(self.system.methods)} methods; say which",
                           fix=f"give --method with one of {sorted(self.system.methods) or 'the methods you add'}")
        if method_id not in self.system.methods:
            raise UnknownReferenceError(f"{self.source}: no method {method_id!r} in the model",
                                        fix=f"use one of {sorted(self.system.methods)} (see methods[].id)")
        return self.system.methods[method_id]

    def demand(self, texts: list[str]) -> dict[str, float]:
        """``--demand`` texts → {process id: amount}; a co-product credited by substitution names its substitute."""
        out = []
        for t in texts:
            m = _DEMAND.match(t)
            out.append(f"{self.aliases[m['product']]}={m['amount']} {m['unit']}"
                       if m and m["product"] in self.aliases else t)
        return demand_of(self.system, out)

    def provenance(self, undocumented: bool = False) -> list[ProvenanceRow]:
        """Each parameter, process, co-product, price, input, emission and recovered output with its
        ``source``/``assumption`` (``undocumented=True``: only those with neither), in document order."""
        return [r for r in self.rows if not (undocumented and r.documented)]

    def allocation_factors(self) -> dict[str, dict[str, float]]:
        """Multi-output process id → {co-product id: allocation factor [-]} (each sums to 1)."""
        return {pid: dict(a.factors) for pid, a in self.allocations.items()}

    def module_d(self, lca: LCA, demand: Demand) -> ModuleD | None:
        """Module D of ``demand`` with the model's recycling rule (None if the model has no secondary flows).

        ``lca`` must be built from :attr:`system` (any method).  See :func:`rareeco.lca.recycling.module_d`.
        """
        if not self.secondary_flows:
            return None
        s = lca.supply(demand)
        lam = lca.product_scores()
        ids = lca.data.processes.ids
        return module_d(self.secondary_flows, dict(zip(ids, s.tolist(), strict=True)),
                        dict(zip(ids, lam.tolist(), strict=True)), self.recycling)

    def monte_carlo(self, demands: Mapping[str, Demand], method: str | None = None, seed: int | None = None,
                    partition: bool = True) -> MonteCarlo:
        """A Monte Carlo of ``demands`` (label → demand): exchange distributions and uncertain parameters.

        With uncertain parameters it is a :class:`~rareeco.lca.parameters.ParameterMonteCarlo`
        (formulas re-evaluated per draw), otherwise the plain :class:`~rareeco.lca.uncertainty.MonteCarlo`.
        Module D is not sampled, so the avoided-burden rule (which adds it to the score) is refused.
        """
        if self.recycling == "avoided-burden" and self.secondary_flows:
            raise LCAError("Monte Carlo samples the product system's score without module D; under the "
                           "avoided-burden rule the score includes module D",
                           fix="run the Monte Carlo with recycling: {rule: cut-off} (module D apart)")
        data = matrix_data(self.system, self.method(method).id)
        if self.parameters.uncertain:
            return ParameterMonteCarlo(data, demands, self.parameters, self.linked, seed=seed, partition=partition)
        return MonteCarlo(data, demands, seed=seed, partition=partition)


def model_from_document(doc: Any, source: str = "<document>", allocation: str | AllocationRule | None = None,
                        parameters: Mapping[str, float] | None = None) -> Model:
    """Check ``doc`` (parsed YAML/JSON) and build its :class:`Model`.

    Parameters
    ----------
    doc : parsed document
    source : str
        Name of the document in messages.
    allocation : str or AllocationRule, optional
        Overrides the document's ``allocation`` (``"mass"``, ``"economic:2024-06-30"``,
        ``"physical:reo"``, ``"substitution"``); a property or date not given is taken from the document.
    parameters : mapping name → value, optional
        Overrides parameter values (a scenario).

    Raises
    ------
    ValidationFailed
        One finding per problem, each naming its document path (``processes[3].inputs[1].unit``) and the fix.
    """
    rule = parse_allocation(allocation) if isinstance(allocation, str) else allocation
    ck = _Checker(source)
    data = ck.obj(doc, MODEL, "")
    if data is not None:
        model = _Builder(data, ck, source, rule, parameters).build()
        if not ck.findings and model is not None:
            return model
    first = ck.findings[0] if ck.findings else None
    n = len(ck.findings)
    raise ValidationFailed(
        f"{source}: {n} problem{'s' if n != 1 else ''} in the LCA model"
        + (f"; first: {first.message}" if first else ""),
        fix=(first.fix if first and n == 1 else "fix each finding (see docs/lca-model.md)"), findings=ck.findings)


# --- building the model ------------------------------------------------------------------------------

def _ids(items: list[dict[str, Any]], section: str, what: str, ck: _Checker, key: str = "id") -> dict[str, int]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if key not in item:
            continue
        if item[key] in seen:
            ck.add(f"{section}[{i}].{key}", f"{what} {key} {item[key]!r} is also used by {section}[{seen[item[key]]}]",
                   f"give each {what} its own {key}", code="lca_model_duplicate", value=item[key])
        else:
            seen[item[key]] = i
    return seen


@dataclass(frozen=True)
class _Exchange:
    """An input or emission as read: its owner process, the exchange (in its own unit), formula and path."""

    owner: str
    x: TechnosphereExchange | BiosphereExchange
    formula: Formula | None
    path: str
    secondary: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class _Recovered:
    """A recovered output as read: ``amount`` [``unit``] per run of ``owner``."""

    owner: str
    material: str
    amount: float
    unit: str
    replaces: str
    recycling: str | None
    quality_ratio: float


class _Builder:
    """Turns a checked document into a :class:`Model`, adding a finding (with its path) for each problem.

    Order: parameters → product ids and units → flows and methods → allocation rule and substitutes →
    each process (amounts, references, units, recycling) → allocation of multi-output processes →
    the product system.  Nothing is built past a step that added findings.
    """

    def __init__(self, data: dict[str, Any], ck: _Checker, source: str, override: AllocationRule | None,
                 overrides: Mapping[str, float] | None) -> None:
        self.data, self.ck, self.source = data, ck, source
        self.override, self.overrides = override, overrides
        self.procs: list[dict[str, Any]] = data.get("processes") or []
        self.params = Parameters({}, {}, {}, ())
        self.failed: frozenset[str] = frozenset()     # declared parameters without a value
        self.ids: dict[str, str] = {}                 # process and co-product ids → path
        self.units: dict[str, str] = {}               # product id → unit (known units only)
        self.mops: dict[str, list[str]] = {}          # multi-output process id → its co-product ids
        self.aliases: dict[str, str] = {}             # credited co-product → the process it displaces
        self.amounts: dict[str, float] = {}           # process id → production; co-product id → output
        self.tech: list[_Exchange] = []
        self.bio: list[_Exchange] = []
        self.recovered: list[_Recovered] = []
        self.rows: list[ProvenanceRow] = []
        self.flow_ids: set[str] = set()

    def build(self) -> Model | None:
        self.params = self._parameters()
        self._products()
        flow_units = self._flows()
        rule = self._rule()
        self._substitutes(rule)
        for i, p in enumerate(self.procs):
            self._process(i, p, flow_units)
        if self.ck.findings:
            return None
        assert rule is not None or not self.mops
        allocations = {p["id"]: a for i, p in enumerate(self.procs) if "coproducts" in p
                       and (a := self._allocate(i, p, cast(AllocationRule, rule))) is not None}
        if self.ck.findings:
            return None
        return self._assemble(rule, allocations)

    # --- amounts and parameters ---------------------------------------------------------------------
    def _parameters(self) -> Parameters:
        raw: list[dict[str, Any]] = self.data.get("parameters") or []
        index = _ids(raw, "parameters", "parameter", self.ck, key="name")
        defs: list[Parameter] = []
        for i, r in enumerate(raw):
            name = r.get("name")
            if name is None or index.get(name) != i:
                continue
            why = name_problem(name)
            if why:
                self.ck.add(f"parameters[{i}].name", why, "rename it: a letter or _, then letters, digits or _",
                            value=name)
                continue
            unc = (_uncertainty(r.get("uncertainty"), r["value"], f"parameters[{i}].uncertainty", self.ck)
                   if "value" in r else None)
            defs.append(Parameter(name, r.get("value"), r.get("formula"), r.get("unit", ""), r.get("help", ""),
                                  r.get("source", ""), r.get("assumption", ""), unc))
        params, errors = resolve_parameters(defs, self.overrides)
        for name, exc in errors.items():
            self.ck.add(f"parameters[{index[name]}].formula", exc.message, exc.fix or "", code="lca_model_formula")
        self.failed = frozenset(index) - frozenset(params.values)
        for name, i in index.items():
            if name in params.values:
                r = raw[i]
                self.rows.append(ProvenanceRow(f"parameters[{i}]", "parameter", "", name, params.values[name],
                                               r.get("unit", ""), r.get("formula", ""), r.get("source", ""),
                                               r.get("assumption", "")))
        return params

    def _amount(self, raw: float | str, path: str) -> tuple[float, Formula | None] | None:
        """A number, or a formula checked and evaluated; None (with a finding, unless a parameter failed)."""
        if not isinstance(raw, str):
            return float(raw), None
        try:
            formula = compile_formula(raw)
        except FormulaError as exc:
            self.ck.add(path, exc.message, exc.fix or "", code="lca_model_formula", value=raw)
            return None
        unknown = sorted(formula.names - set(self.params.definitions) - self.failed)
        if unknown:
            self.ck.add(path, f"formula {raw!r} uses unknown parameter(s) {', '.join(unknown)}",
                        f"declare each under parameters (known: {sorted(self.params.definitions)[:20]})",
                        code="lca_model_formula", value=raw)
            return None
        if formula.names & self.failed:
            return None                                    # the parameter's own finding says why
        try:
            value = formula.evaluate(self.params.values)
        except FormulaError as exc:
            self.ck.add(path, exc.message, exc.fix or "", code="lca_model_formula", value=raw)
            return None
        return float(value), formula

    def _exchange_uncertainty(self, x: Mapping[str, Any], value: float, formula: Formula | None,
                              path: str) -> Uncertainty | None:
        unc = _uncertainty(x.get("uncertainty"), value, f"{path}.uncertainty", self.ck)
        uncertain = self.params.uncertain_in(formula) if formula is not None else frozenset()
        if unc is not None and uncertain:
            self.ck.add(f"{path}.uncertainty", f"the amount uses uncertain parameter(s) {', '.join(sorted(uncertain))}"
                        ", whose distributions already reach it",
                        "remove this uncertainty, or the parameters' (a Monte Carlo draws one or the other)",
                        code="lca_model_uncertainty")
            return None
        return unc

    # --- ids, units and references ------------------------------------------------------------------
    def _claim(self, pid: str | None, path: str, what: str) -> None:
        if pid is None:
            return
        if pid in self.ids:
            self.ck.add(f"{path}.id", f"{what} id {pid!r} is also used by {self.ids[pid]}",
                        "give each process and co-product its own id", code="lca_model_duplicate", value=pid)
        else:
            self.ids[pid] = path

    def _products(self) -> None:
        for i, p in enumerate(self.procs):
            pid = p.get("id")
            self._claim(pid, f"processes[{i}]", "process")
            if "coproducts" in p:
                if pid is not None:
                    self.mops[pid] = [c["id"] for c in p["coproducts"] if "id" in c]
                for j, c in enumerate(p["coproducts"]):
                    path = f"processes[{i}].coproducts[{j}]"
                    self._claim(c.get("id"), path, "co-product")
                    if "id" in c and "unit" in c and self.ck.unit(c["unit"], f"{path}.unit"):
                        self.units[c["id"]] = c["unit"]
            elif pid is not None and "unit" in p and self.ck.unit(p["unit"], f"processes[{i}].unit"):
                self.units[pid] = p["unit"]

    def _resolve(self, pid: str) -> str | None:
        """The process a product id stands for: itself, or the substitute of a credited co-product (None: a loop)."""
        seen: set[str] = set()
        while pid in self.aliases:
            if pid in seen:
                return None
            seen.add(pid)
            pid = self.aliases[pid]
        return pid

    def _product_ref(self, pid: str, path: str, what: str = "process") -> str | None:
        """The process ``pid`` names (after substitution links), or None with a finding."""
        if pid in self.mops:
            self.ck.add(path, f"process {pid!r} has co-products: name one of them",
                        f"use one of {self.mops[pid]}", code="lca_model_reference", value=pid)
            return None
        if pid not in self.ids:
            products = sorted(k for k in self.ids if k not in self.mops)
            self.ck.add(path, f"no {what} with id {pid!r}",
                        f"use the id of a process of this model (one of {products[:10]}) or add it",
                        code="lca_model_reference", value=pid)
            return None
        return self._resolve(pid)

    def _flows(self) -> dict[str, str]:
        flows: list[dict[str, Any]] = self.data.get("flows") or []
        methods: list[dict[str, Any]] = self.data.get("methods") or []
        flow_index = _ids(flows, "flows", "flow", self.ck)
        _ids(methods, "methods", "method", self.ck)
        units = {f["id"]: f["unit"] for i, f in enumerate(flows) if "unit" in f and "id" in f
                 and self.ck.unit(f["unit"], f"flows[{i}].unit")}
        for i, m in enumerate(methods):
            for flow in m.get("factors", {}):
                if flow not in flow_index:
                    self.ck.add(f"methods[{i}].factors.{flow}", f"no elementary flow with id {flow!r}",
                                "declare the flow under flows or remove the factor (flows without a factor count "
                                "zero)", code="lca_model_reference", value=flow)
        self.flow_ids = set(flow_index)
        return units

    # --- allocation rule and substitutes ------------------------------------------------------------
    def _rule(self) -> AllocationRule | None:
        raw = self.data.get("allocation")
        doc = AllocationRule(raw["method"], raw.get("property"), raw.get("date")) if raw and "method" in raw else None
        rule = doc
        if self.override is not None:
            rule = AllocationRule(self.override.method, self.override.property or (doc.property if doc else None),
                                  self.override.on or (doc.on if doc else None))
        if rule is not None:       # keep only what the method uses
            rule = AllocationRule(rule.method, rule.property if rule.method == "physical" else None,
                                  rule.on if rule.method == "economic" else None)
        if not self.mops:
            return rule
        if rule is None:
            if raw is None:
                self.ck.add("allocation", f"the model has multi-output processes ({', '.join(self.mops)}) but no "
                            "allocation", "add allocation: {method: mass | economic | physical | substitution} "
                            "(or give --allocation)", code="lca_model_missing")
            return None
        if rule.method == "physical" and not rule.property:
            self.ck.add("allocation.property", "physical allocation needs the property to allocate by",
                        "give allocation.property (a key of the co-products' properties), or --allocation "
                        "physical:<property>", code="lca_model_missing")
        if rule.method == "economic" and rule.on is None:
            self.ck.add("allocation.date", "economic allocation needs the date whose prices apply",
                        "give allocation.date: YYYY-MM-DD (or --allocation economic:YYYY-MM-DD)",
                        code="lca_model_missing")
        return rule

    def _substitutes(self, rule: AllocationRule | None) -> None:
        """Check each ``substitutes``; under substitution link credited co-products to what they displace."""
        subst = rule is not None and rule.method == "substitution"
        for i, p in enumerate(self.procs):
            cops = p.get("coproducts") or []
            if subst and cops:
                keep = [c.get("id") for c in cops if "substitutes" not in c]
                if len(keep) != 1:
                    self.ck.add(f"processes[{i}].coproducts",
                                f"substitution keeps exactly one determining co-product (the one without "
                                f"substitutes); {len(keep)} have none" + (f": {keep}" if keep else ""),
                                "give substitutes: <process id> to every co-product but the determining one",
                                code="lca_model_allocation")
                self.aliases.update({c["id"]: c["substitutes"] for c in cops if "substitutes" in c and "id" in c})
        for i, p in enumerate(self.procs):
            for j, c in enumerate(p.get("coproducts") or []):
                if "substitutes" not in c:
                    continue
                path = f"processes[{i}].coproducts[{j}].substitutes"
                target = self._product_ref(c["substitutes"], path)
                if target is None and c["substitutes"] in self.ids and c["substitutes"] not in self.mops:
                    self.ck.add(path, f"the substitutes of {c.get('id')!r} form a loop",
                                "let each credited co-product displace a process that is made, not credited",
                                code="lca_model_allocation")
                elif target is not None and subst and target in self.mops.get(p.get("id", ""), []):
                    self.ck.add(path, f"co-product {c.get('id')!r} cannot displace {target!r}, a product of its "
                                "own process", "name the market process it displaces", code="lca_model_allocation")
                elif target is not None and subst and c.get("id") in self.units and target in self.units:
                    self.ck.convertible(self.units[c["id"]], self.units[target], path,
                                        f"the unit of process {target!r} (it must measure the same product)")

    # --- one process --------------------------------------------------------------------------------
    def _process(self, i: int, p: dict[str, Any], flow_units: Mapping[str, str]) -> None:
        pid: str | None = p.get("id")
        path = f"processes[{i}]"
        amount, formula = 1.0, None
        if "production_amount" in p:
            r = self._amount(p["production_amount"], f"{path}.production_amount")
            if r is not None:
                amount, formula = r
                if amount == 0:
                    self.ck.add(f"{path}.production_amount", "a process must make a non-zero amount per run",
                                "give a non-zero production amount (1 per run is usual)", value=0)
        if pid is not None:
            self.amounts[pid] = amount
        multi = "coproducts" in p
        self.rows.append(ProvenanceRow(path, "process", pid or "", p.get("product", ""), None if multi else amount,
                                       p.get("unit", ""), formula.text if formula else "", p.get("source", ""),
                                       p.get("assumption", "")))
        for j, c in enumerate(p.get("coproducts") or []):
            self._coproduct(pid or "", f"{path}.coproducts[{j}]", c)
        for j, x in enumerate(p.get("inputs", [])):
            self._input(pid, f"{path}.inputs[{j}]", x)
        for j, x in enumerate(p.get("emissions", [])):
            self._emission(pid, f"{path}.emissions[{j}]", x, flow_units)
        for k, r in enumerate(p.get("recovered", [])):
            self._recovered(pid, f"{path}.recovered[{k}]", r)

    def _coproduct(self, pid: str, path: str, c: Mapping[str, Any]) -> None:
        r = self._amount(c["amount"], f"{path}.amount") if "amount" in c else None
        if r is not None and not r[0] > 0:
            self.ck.add(f"{path}.amount", f"a co-product's output must be > 0, got {r[0]:g}",
                        "give the output per run of the process (a positive amount)", value=r[0])
        elif r is not None and "id" in c:
            self.amounts[c["id"]] = r[0]
        if "mass_kg" in c and not c["mass_kg"] > 0:
            self.ck.add(f"{path}.mass_kg", f"mass {c['mass_kg']:g} kg per unit must be > 0",
                        "give the mass of one unit of the co-product in kg", value=c["mass_kg"])
        self.rows.append(ProvenanceRow(path, "coproduct", pid, c.get("id", ""), r[0] if r else None, c.get("unit", ""),
                                       r[1].text if r and r[1] else "", c.get("source", ""), c.get("assumption", "")))
        for k, pr in enumerate(c.get("prices", [])):
            self.rows.append(ProvenanceRow(f"{path}.prices[{k}]", "price", pid, c.get("id", ""), pr.get("value"),
                                           pr.get("unit", ""), "", pr.get("source", ""), ""))

    def _input(self, pid: str | None, path: str, x: Mapping[str, Any]) -> None:
        supplier = x.get("from")
        if supplier is not None and self._product_ref(supplier, f"{path}.from") is None:
            return
        if "amount" not in x or supplier is None:
            return
        r = self._amount(x["amount"], f"{path}.amount")
        if r is None:
            return
        value, formula = r
        unit = x.get("unit")
        if unit is not None and supplier in self.units:
            self.ck.convertible(unit, self.units[supplier], f"{path}.unit", f"the unit of process {supplier!r}")
        if unit is None and supplier in self.aliases:
            unit = self.units.get(supplier)       # keep the co-product's unit when it links to its substitute
        unc = self._exchange_uncertainty(x, value, formula, path)
        if "secondary" in x:
            self._secondary(path, supplier, value, unit, x["secondary"])
        self.rows.append(ProvenanceRow(path, "input", pid or "", supplier, value, unit or self.units.get(supplier, ""),
                                       formula.text if formula else "", x.get("source", ""), x.get("assumption", "")))
        if pid is not None:
            self.tech.append(_Exchange(pid, TechnosphereExchange(pid, supplier, value, unit, unc), formula, path,
                                       x.get("secondary")))

    def _emission(self, pid: str | None, path: str, x: Mapping[str, Any], flow_units: Mapping[str, str]) -> None:
        flow = x.get("flow")
        if flow is not None and flow not in self.flow_ids:
            self.ck.add(f"{path}.flow", f"no elementary flow with id {flow!r}",
                        "declare the flow under flows (id, name, unit) or correct the id",
                        code="lca_model_reference", value=flow)
            return
        if "amount" not in x or flow is None:
            return
        r = self._amount(x["amount"], f"{path}.amount")
        if r is None:
            return
        value, formula = r
        if "unit" in x and flow in flow_units:
            self.ck.convertible(x["unit"], flow_units[flow], f"{path}.unit", f"the unit of flow {flow!r}")
        unc = self._exchange_uncertainty(x, value, formula, path)
        self.rows.append(ProvenanceRow(path, "emission", pid or "", flow, value,
                                       x.get("unit") or flow_units.get(flow, ""), formula.text if formula else "",
                                       x.get("source", ""), x.get("assumption", "")))
        if pid is not None:
            self.bio.append(_Exchange(pid, BiosphereExchange(pid, flow, value, x.get("unit"), unc), formula, path))

    # --- recycling ------------------------------------------------------------------------------------
    def _quality(self, obj: Mapping[str, Any], path: str) -> None:
        q = obj.get("quality_ratio")
        if q is not None and not 0 <= q <= 1:
            self.ck.add(f"{path}.quality_ratio", f"quality ratio {q:g} is not within 0–1",
                        "give Q_R/Q_Sub between 0 (no substitution) and 1 (same quality as virgin)", value=q)

    def _secondary(self, path: str, supplier: str, value: float, unit: str | None, sec: Mapping[str, Any]) -> None:
        spath = f"{path}.secondary"
        if not value > 0:
            self.ck.add(f"{path}.amount", f"a secondary input must be a positive amount, got {value:g}",
                        "give the secondary material used per run (> 0)", value=value)
        self._quality(sec, spath)
        if "replaces" not in sec:
            return
        target = self._product_ref(sec["replaces"], f"{spath}.replaces")
        if target is None:
            return
        if target == self._resolve(supplier):
            self.ck.add(f"{spath}.replaces", f"a secondary input comes from its recycling route, not from "
                        f"{target!r}, the virgin process it replaces",
                        "link the input (from) to the process making the secondary material",
                        code="lca_model_reference", value=target)
            return
        u = unit or self.units.get(supplier)
        if u is not None and target in self.units and not same_dimension(u, self.units[target]):
            self.ck.add(f"{spath}.replaces", f"the input in {u!r} cannot replace {target!r}, measured in "
                        f"{self.units[target]!r}", "replace a product of the same dimension (a mass by a mass)",
                        code="lca_model_unit", value=target)

    def _recovered(self, pid: str | None, path: str, r: Mapping[str, Any]) -> None:
        amt = self._amount(r["amount"], f"{path}.amount") if "amount" in r else None
        if amt is not None and amt[0] < 0:
            self.ck.add(f"{path}.amount", f"a recovered amount must be ≥ 0, got {amt[0]:g}",
                        "give the material leaving the system per run", value=amt[0])
        self._quality(r, path)
        target = self._product_ref(r["replaces"], f"{path}.replaces") if "replaces" in r else None
        rec = self._product_ref(r["recycling"], f"{path}.recycling", "recycling process") if "recycling" in r else None
        ok = target is not None and target in self.units
        if ok and "unit" in r:
            ok = self.ck.convertible(r["unit"], self.units[cast(str, target)], f"{path}.unit",
                                     f"the unit of the replaced process {target!r}")
        if ok and rec is not None and rec in self.units and not same_dimension(self.units[rec],
                                                                               self.units[cast(str, target)]):
            self.ck.add(f"{path}.recycling", f"recycling process {rec!r} makes {self.units[rec]!r}, not convertible "
                        f"to {self.units[cast(str, target)]!r} of {target!r}",
                        "name a recycling process whose product replaces the virgin one", code="lca_model_unit")
            ok = False
        self.rows.append(ProvenanceRow(path, "recovered", pid or "", r.get("material", ""), amt[0] if amt else None,
                                       r.get("unit") or (self.units.get(target, "") if target else ""),
                                       amt[1].text if amt and amt[1] else "", r.get("source", ""),
                                       r.get("assumption", "")))
        if ok and amt is not None and pid is not None and target is not None and "material" in r:
            self.recovered.append(_Recovered(pid, r["material"], amt[0], r.get("unit") or self.units[target], target,
                                             rec, r.get("quality_ratio", 1.0)))

    # --- multi-output processes -----------------------------------------------------------------------
    def _allocate(self, i: int, p: dict[str, Any], rule: AllocationRule) -> Allocation | None:
        """Split process ``i`` with ``rule`` (allocation.py), checking first what each method needs."""
        pid, cops, path = p["id"], p["coproducts"], f"processes[{i}].coproducts"
        mop = MultiOutputProcess(
            pid, p["name"], tuple(CoProduct(c["id"], c["name"], self.amounts[c["id"]], c["unit"]) for c in cops),
            tuple(cast(TechnosphereExchange, e.x) for e in self.tech if e.owner == pid),
            tuple(cast(BiosphereExchange, e.x) for e in self.bio if e.owner == pid), p.get("location", "GLO"))
        before = len(self.ck.findings)
        try:
            if rule.method == "mass":
                for j, c in enumerate(cops):
                    if "mass_kg" not in c and not same_dimension(c["unit"], "kg"):
                        self.ck.add(f"{path}[{j}].mass_kg", f"co-product {c['id']!r} is measured in {c['unit']!r}, "
                                    "not a mass, so mass allocation needs its mass",
                                    f"give mass_kg: the mass of one {c['unit']} [kg] (or allocate by another method)",
                                    code="lca_model_allocation")
                masses = {c["id"]: c["mass_kg"] for c in cops if "mass_kg" in c}
                return None if len(self.ck.findings) > before else mass_allocation(mop, masses)
            if rule.method == "physical":
                prop = cast(str, rule.property)
                values = {c["id"]: (c.get("properties") or {}).get(prop) for c in cops}
                for j, c in enumerate(cops):
                    v = values[c["id"]]
                    if v is None or v < 0:
                        self.ck.add(f"{path}[{j}].properties", f"co-product {c['id']!r} has no {prop!r} ≥ 0",
                                    f"give properties: {{{prop}: <value per {c['unit']}, ≥ 0>}}",
                                    code="lca_model_allocation")
                return None if len(self.ck.findings) > before else physical_allocation(
                    mop, cast(dict[str, float], values), prop)
            if rule.method == "economic":
                return self._economic(mop, cops, path, cast(dt.date, rule.on))
            keep = next(c["id"] for c in cops if "substitutes" not in c)
            return substitution(mop, keep, {c["id"]: cast(str, self._resolve(c["substitutes"]))
                                            for c in cops if "substitutes" in c})
        except AllocationError as exc:       # not expected after the checks; still a finding with a path
            self.ck.add(path, exc.message, exc.fix or "", code="lca_model_allocation")
            return None

    def _economic(self, mop: MultiOutputProcess, cops: list[dict[str, Any]], path: str, on: dt.date,
                  ) -> Allocation | None:
        before = len(self.ck.findings)
        prices = [dp for j, c in enumerate(cops) for k, pr in enumerate(c.get("prices", []))
                  if (dp := self._price(c, pr, f"{path}[{j}].prices[{k}]")) is not None]
        if len(self.ck.findings) > before:
            return None
        chosen: dict[str, DatedPrice] = {}
        for j, c in enumerate(cops):
            try:
                chosen[c["id"]] = price_on(prices, c["id"], on)
            except AllocationError:
                given = [f"{p.valid_from}…{p.valid_to or ''}" for p in prices if p.product == c["id"]]
                self.ck.add(f"{path}[{j}].prices", f"no price of {c['id']!r} in force on {on.isoformat()}"
                            + (f" (prices given for {', '.join(given)})" if given else ""),
                            "add a price with valid_from on or before that date (and valid_to, if any, not before "
                            "it)", code="lca_model_allocation")
        currencies = sorted({p.currency for p in chosen.values()})
        if len(currencies) > 1:
            self.ck.add(path, f"the prices in force on {on.isoformat()} are in several currencies: {currencies}",
                        "give every co-product's prices in one currency", code="lca_model_allocation")
        return None if len(self.ck.findings) > before else economic_allocation(mop, prices, on)

    def _price(self, c: Mapping[str, Any], pr: Mapping[str, Any], path: str) -> DatedPrice | None:
        m = re.match(r"^\s*([A-Za-z]{3})\s*/\s*(.+?)\s*$", pr["unit"])
        if m is None:
            self.ck.add(f"{path}.unit", f"{pr['unit']!r} is not a currency per unit",
                        "write a three-letter currency code, /, and a unit: CNY/kg, USD/t", value=pr["unit"])
            return None
        if c["id"] not in self.units or not self.ck.convertible(m[2], c["unit"], f"{path}.unit",
                                                                 f"the unit of co-product {c['id']!r}"):
            return None
        if pr["value"] < 0:
            self.ck.add(f"{path}.value", f"price {pr['value']:g} is negative", "give a price ≥ 0", value=pr["value"])
            return None
        if pr.get("valid_to") is not None and pr["valid_to"] < pr["valid_from"]:
            self.ck.add(f"{path}.valid_to", f"valid_to {pr['valid_to']} is before valid_from {pr['valid_from']}",
                        "give valid_to on or after valid_from", value=str(pr["valid_to"]))
            return None
        return DatedPrice(c["id"], pr["value"], m[1].upper(), m[2], pr["valid_from"], pr["source"], pr.get("valid_to"))

    # --- the product system ---------------------------------------------------------------------------
    def _assemble(self, rule: AllocationRule | None, allocations: Mapping[str, Allocation]) -> Model | None:
        processes: list[Process] = []
        tech: list[TechnosphereExchange] = []
        bio: list[BiosphereExchange] = []
        linked: list[LinkedAmount] = []
        flows: list[SecondaryFlow] = []
        flow_units = {f["id"]: f["unit"] for f in self.data.get("flows") or []}

        def add_tech(x: TechnosphereExchange, e: _Exchange | None, share: float) -> None:
            supplier = cast(str, self._resolve(x.supplier))
            ref = self.units[supplier]
            if e is not None and e.formula is not None:
                linked.append(LinkedAmount("technosphere", len(tech), e.formula,
                                           share * (conversion_factor(x.unit, ref) if x.unit else 1.0)))
            tech.append(TechnosphereExchange(x.consumer, supplier, x.amount, x.unit, x.uncertainty))
            if e is not None and e.secondary is not None:
                virgin = cast(str, self._resolve(e.secondary["replaces"]))
                v_unit = self.units[virgin]
                flows.append(SecondaryFlow(x.consumer, "in", x.amount * conversion_factor(x.unit or ref, v_unit),
                                           virgin, supplier, conversion_factor(v_unit, ref),
                                           e.secondary.get("quality_ratio", 1.0)))

        def add_bio(x: BiosphereExchange, e: _Exchange | None, share: float) -> None:
            if e is not None and e.formula is not None:
                ref = flow_units[x.flow]
                linked.append(LinkedAmount("biosphere", len(bio), e.formula,
                                           share * (conversion_factor(x.unit, ref) if x.unit else 1.0)))
            bio.append(x)

        for p in self.procs:
            pid = p["id"]
            own_t = [e for e in self.tech if e.owner == pid]
            own_b = [e for e in self.bio if e.owner == pid]
            if pid in allocations:
                a = allocations[pid]
                processes.extend(a.processes)
                order = [c["id"] for c in p["coproducts"]]
                for x, e in zip(a.technosphere, _origins(a, order, own_t, a.technosphere), strict=True):
                    add_tech(x, e, a.factors[x.consumer])
                for b, e in zip(a.biosphere, _origins(a, order, own_b, a.biosphere), strict=True):
                    add_bio(b, e, a.factors[b.process])
                shares = {k: f for k in order if (f := a.factors[k]) != 0}
            else:
                processes.append(Process(pid, p["name"], p["product"], p["unit"], p.get("location", "GLO"),
                                         self.amounts[pid]))
                for e in own_t:
                    add_tech(cast(TechnosphereExchange, e.x), e, 1.0)
                for e in own_b:
                    add_bio(cast(BiosphereExchange, e.x), e, 1.0)
                shares = {pid: 1.0}
            for r in (r for r in self.recovered if r.owner == pid):
                v_unit = self.units[r.replaces]
                per_unit = conversion_factor(v_unit, self.units[r.recycling]) if r.recycling else 1.0
                flows.extend(SecondaryFlow(proc, "out", r.amount * conversion_factor(r.unit, v_unit) * f, r.replaces,
                                           r.recycling, per_unit, r.quality_ratio, r.material)
                             for proc, f in shares.items())
        methods: list[dict[str, Any]] = self.data.get("methods") or []
        try:
            system = ProductSystem(
                processes=tuple(processes),
                flows=tuple(Flow(f["id"], f["name"], f["unit"], f.get("compartment", "air"))
                            for f in self.data.get("flows") or []),
                technosphere=tuple(tech), biosphere=tuple(bio),
                methods={m["id"]: Method(m["id"], m["unit"], dict(m["factors"]), m.get("name", "")) for m in methods})
        except RareecoError as exc:  # not expected after the checks above; still reported as a finding
            self.ck.findings.append(Finding(exc.code, exc.message, file=self.source, fix=exc.fix))
            return None
        recycling = cast(RecyclingRule, (self.data.get("recycling") or {}).get("rule", "cut-off"))
        return Model(str(self.data["name"]), system, self.source, str(self.data.get("description", "")),
                     self.params, rule if self.mops else None, dict(allocations),
                     {k: cast(str, self._resolve(k)) for k in self.aliases}, recycling, tuple(flows), tuple(linked),
                     tuple(self.rows))


def _ref(x: object) -> str:
    """The supplier of a technosphere exchange, the flow of a biosphere exchange."""
    return x.supplier if isinstance(x, TechnosphereExchange) else cast(BiosphereExchange, x).flow


def _origins(a: Allocation, order: Sequence[str], own: Sequence[_Exchange],
             out: Sequence[TechnosphereExchange] | Sequence[BiosphereExchange]) -> list[_Exchange | None]:
    """For each exchange of an allocation, the exchange of the multi-output process it was made from.

    The order is the one :func:`~rareeco.lca.allocation.allocate` and
    :func:`~rareeco.lca.allocation.substitution` document (co-product by co-product, the process's
    exchanges in order; substitution: the process's exchanges, then the avoided inputs, from nothing).
    """
    if a.method == "substitution":
        seq: list[_Exchange | None] = list(own)
    else:
        seq = [e for k in order if a.factors[k] != 0 for e in own]
    seq += [None] * (len(out) - len(seq))
    for x, e in zip(out, seq, strict=True):
        if e is not None and _ref(x) != _ref(e.x):
            raise LCAError("allocated exchanges are not in the documented order", fix="report this as a bug")
    return seq


# --- reading files ------------------------------------------------------------------------------------

def parse_document(text: str, source: str = "<document>", fmt: Literal["auto", "yaml", "json"] = "auto") -> Any:
    """Parse YAML (with PyYAML, ``yaml.safe_load``) or JSON text; a syntax error is a ValidationFailed."""
    if fmt == "auto":
        fmt = "json" if source.lower().endswith(".json") or text.lstrip().startswith(("{", "[")) else "yaml"
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                                   fix="correct the JSON syntax at that place") from exc
    try:
        import yaml
    except ImportError:
        raise ValidationFailed(f"{source}: reading YAML needs PyYAML, which is not installed",
                               fix="pip install pyyaml, or write the model as JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ValidationFailed(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}",
                               fix="correct the YAML syntax at that place") from exc


def load_model(path: str | Path, allocation: str | AllocationRule | None = None,
               parameters: Mapping[str, float] | None = None) -> Model:
    """Read and check a model file (``.yaml``/``.yml`` or ``.json``); ``allocation`` and ``parameters``
    override the document's (see :func:`model_from_document`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(f"{p}: cannot read the model ({exc.strerror or exc})",
                               fix="check the path of the model file") from exc
    return model_from_document(parse_document(text, str(p)), str(p), allocation, parameters)


# --- demands ----------------------------------------------------------------------------------------

_DEMAND = re.compile(r"^\s*(?P<product>[^=]+?)\s*=\s*(?P<amount>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                     r"\s*(?P<unit>.*?)\s*$")


@dataclass(frozen=True)
class DemandItem:
    """One demanded product: ``amount`` [the process's unit] of ``process``, as written (``text``)."""

    process: str
    amount: float
    unit: str
    text: str


def parse_demand(system: ProductSystem, text: str) -> DemandItem:
    """``"PRODUCT=AMOUNT [UNIT]"`` → the process making it and the amount in its unit.

    PRODUCT is a process id or a reference product made by exactly one process.  UNIT defaults to
    the process's unit; another unit of the same dimension is converted (``1 kg`` of a product in ``t``
    is 0.001 t).
    """
    m = _DEMAND.match(text)
    if m is None:
        raise LCAError(f"demand {text!r} is not PRODUCT=AMOUNT [UNIT]", fix='write e.g. --demand "steel=1 kg"')
    name, unit = m["product"], m["unit"]
    proc = next((p for p in system.processes if p.id == name), None)
    if proc is None:
        makers = [p for p in system.processes if p.reference_product == name]
        if len(makers) > 1:
            raise LCAError(f"demand {text!r}: {len(makers)} processes make {name!r}",
                           fix=f"name the process id instead: one of {[p.id for p in makers]}")
        if not makers:
            raise UnknownReferenceError(f"demand {text!r}: no process or product {name!r} in the model",
                                        fix=f"use a process id: one of {[p.id for p in system.processes][:20]}")
        proc = makers[0]
    amount = float(m["amount"])
    if unit and unit != proc.unit:
        try:
            amount *= conversion_factor(unit, proc.unit)
        except UnitError as exc:
            raise UnitError(f"demand {text!r}: unit {unit!r} is not convertible to the unit {proc.unit!r} of "
                            f"process {proc.id!r}", fix=f"give the amount in a unit of the same dimension as "
                                                        f"{proc.unit!r}") from exc
    return DemandItem(proc.id, amount, proc.unit, text)


def demand_of(system: ProductSystem, texts: list[str]) -> dict[str, float]:
    """Several ``--demand`` texts summed into one demand {process id: amount in its unit}."""
    if not texts:
        raise LCAError("no demand given", fix='give at least one --demand "PRODUCT=1 kg"')
    out: dict[str, float] = {}
    for t in texts:
        d = parse_demand(system, t)
        out[d.process] = out.get(d.process, 0.0) + d.amount
    return out
