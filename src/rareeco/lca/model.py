"""Product systems written as documents (YAML or JSON), without code.

A model document holds a product system and its characterisation methods (docs/lca-model.md)::

    name: steel-electricity
    processes:
      - id: steel
        name: steel, hot rolled
        product: steel
        unit: kg
        inputs:    [{from: electricity, amount: 2, unit: kWh}]
        emissions: [{flow: co2, amount: 1.5}]
    flows:   [{id: co2, name: carbon dioxide, unit: kg, compartment: air}]
    methods: [{id: test-gwp, unit: kg CO2e, factors: {co2: 1}}]

The format is *described once*, in :data:`MODEL`: the loader checks documents against that
description and :func:`model_schema` turns it into the JSON Schema of ``docs/lca-model.schema.json``,
so the two cannot drift apart.  Every problem is a :class:`~rareeco.errors.Finding` naming its
document path (``processes[3].inputs[1].unit``) and how to fix it; all of them are raised together
as one :class:`~rareeco.errors.ValidationFailed`.  Nothing is built until the document is clean, so
:class:`~rareeco.lca.system.ProductSystem` sees only checked data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rareeco.errors import Finding, RareecoError, UnitError, ValidationFailed
from rareeco.lca.errors import LCAError, UnknownReferenceError
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
from rareeco.units import conversion_factor

SCHEMA_ID = "https://rareeco.example/schemas/lca-model.schema.json"
Kind = Literal["string", "number", "list", "object", "factors"]


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


@dataclass(frozen=True)
class Obj:
    """An object of a model document: its keys (no others are allowed)."""

    title: str
    help: str
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


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
INPUT = Obj("input", "An input of another process's product per run of this process (negative: avoided "
            "production).", (
                Field("from", "string", "id of the supplying process", True),
                Field("amount", "number", "amount per run of this process", True),
                Field("unit", "string", "unit of the amount (default the supplier's unit; same dimension)"),
                Field("uncertainty", "object", "distribution of the amount", of=UNCERTAINTY),
            ))
EMISSION = Obj("emission", "An elementary flow emitted (> 0) or taken from nature (< 0) per run.", (
    Field("flow", "string", "id of the elementary flow (see flows)", True),
    Field("amount", "number", "amount per run of this process", True),
    Field("unit", "string", "unit of the amount (default the flow's unit; same dimension)"),
    Field("uncertainty", "object", "distribution of the amount", of=UNCERTAINTY),
))
PROCESS = Obj("process", "An activity making one reference product.", (
    Field("id", "string", "unique id, used by inputs and demands", True),
    Field("name", "string", "readable name", True),
    Field("product", "string", "the reference product", True),
    Field("unit", "string", "unit of the reference product (kg, t, kWh, MJ, t*km …)", True),
    Field("location", "string", "location code (default GLO)"),
    Field("production_amount", "number", "product made per run, non-zero (default 1)"),
    Field("inputs", "list", "technosphere inputs", of=INPUT),
    Field("emissions", "list", "elementary flows (biosphere exchanges)", of=EMISSION),
))
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
MODEL = Obj("model", "A product system with its characterisation methods (rareeco LCA model format).", (
    Field("name", "string", "name of the model", True),
    Field("description", "string", "free text"),
    Field("processes", "list", "the processes (at least one)", True, of=PROCESS),
    Field("flows", "list", "the elementary flows", of=FLOW),
    Field("methods", "list", "the characterisation methods", of=METHOD),
))


def _field_schema(f: Field) -> dict[str, Any]:
    out: dict[str, Any]
    if f.kind == "string":
        out = {"type": "string", "minLength": 1}
        if f.enum:
            out["enum"] = list(f.enum)
    elif f.kind == "number":
        out = {"type": "number"}
    elif f.kind == "factors":
        out = {"type": "object", "additionalProperties": {"type": "number"}}
    elif f.kind == "list":
        assert f.of is not None
        out = {"type": "array", "items": _obj_schema(f.of)}
        if f.required:
            out["minItems"] = 1
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
        out: dict[str, Any] = {}
        for f in obj.fields:
            if f.name in value:
                checked = self.value(value[f.name], f, _join(path, f.name))
                if checked is not None:
                    out[f.name] = checked
        return out

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
        if f.kind == "factors":
            if not isinstance(v, Mapping):
                self.add(path, "factors must be a mapping of flow id to number", "write factors: {co2: 1.0, ch4: 27}")
                return None
            return {str(k): n for k, x in v.items()
                    if (n := self.number(x, _join(path, str(k)), "give the factor as a finite number")) is not None}
        if f.kind == "list":
            assert f.of is not None
            if not isinstance(v, list):
                self.add(path, f"{f.name} must be a list, got {type(v).__name__}",
                         f"write {f.name} as a list of {f.of.title} objects")
                return None
            if f.required and not v:
                self.add(path, f"{f.name} is empty", f"give at least one {f.of.title}")
            items = [self.obj(x, f.of, f"{path}[{i}]") for i, x in enumerate(v)]
            return [x for x in items if x is not None] if all(x is not None for x in items) else None
        assert f.of is not None
        return self.obj(v, f.of, path)

    def number(self, v: Any, path: str, fix: str) -> float | None:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.add(path, f"{v!r} is not a finite number", fix, value=v)
            return None
        return float(v)

    def unit(self, unit: Any, path: str) -> bool:
        try:
            conversion_factor(str(unit), str(unit))
        except UnitError as exc:
            self.add(path, f"unknown unit {unit!r}", exc.fix or "write a unit such as kg, t, kWh or MJ",
                     code="lca_model_unit", value=unit)
            return False
        return True

    def convertible(self, unit: str, ref: str, path: str, ref_text: str) -> None:
        if not self.unit(unit, path):
            return
        try:
            conversion_factor(unit, ref)
        except UnitError:
            self.add(path, f"unit {unit!r} is not convertible to {ref!r}, {ref_text}",
                     f"give the amount in a unit of the same dimension as {ref!r} (or check the id it refers to)",
                     code="lca_model_unit", value=unit)


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


# --- building the system ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Model:
    """A loaded model document: its name, the product system (with its methods) and where it came from."""

    name: str
    system: ProductSystem
    source: str = "<document>"
    description: str = ""

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


def model_from_document(doc: Any, source: str = "<document>") -> Model:
    """Check ``doc`` (parsed YAML/JSON) and build its :class:`Model`.

    Raises :class:`~rareeco.errors.ValidationFailed` with one finding per problem, each naming its
    document path (``processes[3].inputs[1].unit``) and the fix.
    """
    ck = _Checker(source)
    data = ck.obj(doc, MODEL, "")
    if data is not None:
        system = _build(data, ck)
        if not ck.findings and system is not None:
            return Model(str(data["name"]), system, source, str(data.get("description", "")))
    first = ck.findings[0] if ck.findings else None
    n = len(ck.findings)
    raise ValidationFailed(
        f"{source}: {n} problem{'s' if n != 1 else ''} in the LCA model"
        + (f"; first: {first.message}" if first else ""),
        fix=(first.fix if first and n == 1 else "fix each finding (see docs/lca-model.md)"), findings=ck.findings)


def _ids(items: list[dict[str, Any]], section: str, what: str, ck: _Checker) -> dict[str, int]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if "id" not in item:
            continue
        if item["id"] in seen:
            ck.add(f"{section}[{i}].id", f"{what} id {item['id']!r} is also used by {section}[{seen[item['id']]}]",
                   f"give each {what} its own id", code="lca_model_duplicate", value=item["id"])
        else:
            seen[item["id"]] = i
    return seen


def _build(data: dict[str, Any], ck: _Checker) -> ProductSystem | None:
    processes: list[dict[str, Any]] = data.get("processes") or []
    flows: list[dict[str, Any]] = data.get("flows") or []
    methods: list[dict[str, Any]] = data.get("methods") or []
    proc_index = _ids(processes, "processes", "process", ck)
    flow_index = _ids(flows, "flows", "flow", ck)
    _ids(methods, "methods", "method", ck)
    proc_unit = {p["id"]: p["unit"] for i, p in enumerate(processes) if "unit" in p
                 and ck.unit(p["unit"], f"processes[{i}].unit")}
    flow_unit = {f["id"]: f["unit"] for i, f in enumerate(flows) if "unit" in f
                 and ck.unit(f["unit"], f"flows[{i}].unit")}
    for i, p in enumerate(processes):
        if p.get("production_amount") == 0:
            ck.add(f"processes[{i}].production_amount", "a process must make a non-zero amount per run",
                   "give a non-zero production amount (1 per run is usual)", value=0)
    tech: list[TechnosphereExchange] = []
    bio: list[BiosphereExchange] = []
    for i, p in enumerate(processes):
        for j, x in enumerate(p.get("inputs", [])):
            path = f"processes[{i}].inputs[{j}]"
            supplier = x.get("from")
            if supplier is not None and supplier not in proc_index:
                ck.add(f"{path}.from", f"no process with id {supplier!r}",
                       f"use the id of a process of this model (one of {sorted(proc_index)[:10]}) or add it",
                       code="lca_model_reference", value=supplier)
                continue
            if "amount" not in x or supplier is None:
                continue
            if "unit" in x and supplier in proc_unit:
                ck.convertible(x["unit"], proc_unit[supplier], f"{path}.unit", f"the unit of process {supplier!r}")
            unc = _uncertainty(x.get("uncertainty"), x["amount"], f"{path}.uncertainty", ck)
            if "id" in p:
                tech.append(TechnosphereExchange(p["id"], supplier, x["amount"], x.get("unit"), unc))
        for j, x in enumerate(p.get("emissions", [])):
            path = f"processes[{i}].emissions[{j}]"
            flow = x.get("flow")
            if flow is not None and flow not in flow_index:
                ck.add(f"{path}.flow", f"no elementary flow with id {flow!r}",
                       "declare the flow under flows (id, name, unit) or correct the id",
                       code="lca_model_reference", value=flow)
                continue
            if "amount" not in x or flow is None:
                continue
            if "unit" in x and flow in flow_unit:
                ck.convertible(x["unit"], flow_unit[flow], f"{path}.unit", f"the unit of flow {flow!r}")
            unc = _uncertainty(x.get("uncertainty"), x["amount"], f"{path}.uncertainty", ck)
            if "id" in p:
                bio.append(BiosphereExchange(p["id"], flow, x["amount"], x.get("unit"), unc))
    for i, m in enumerate(methods):
        for flow in m.get("factors", {}):
            if flow not in flow_index:
                ck.add(f"methods[{i}].factors.{flow}", f"no elementary flow with id {flow!r}",
                       "declare the flow under flows or remove the factor (flows without a factor count zero)",
                       code="lca_model_reference", value=flow)
    if ck.findings:
        return None
    try:
        return ProductSystem(
            processes=tuple(Process(p["id"], p["name"], p["product"], p["unit"], p.get("location", "GLO"),
                                    p.get("production_amount", 1.0)) for p in processes),
            flows=tuple(Flow(f["id"], f["name"], f["unit"], f.get("compartment", "air")) for f in flows),
            technosphere=tuple(tech), biosphere=tuple(bio),
            methods={m["id"]: Method(m["id"], m["unit"], dict(m["factors"]), m.get("name", "")) for m in methods})
    except RareecoError as exc:  # not expected after the checks above; still reported as a finding
        ck.findings.append(Finding(exc.code, exc.message, file=ck.source, fix=exc.fix))
        return None


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


def load_model(path: str | Path) -> Model:
    """Read and check a model file (``.yaml``/``.yml`` or ``.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(f"{p}: cannot read the model ({exc.strerror or exc})",
                               fix="check the path of the model file") from exc
    return model_from_document(parse_document(text, str(p)), str(p))


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
