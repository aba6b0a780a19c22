"""What the importers of other LCA formats share (openLCA JSON-LD in :mod:`rareeco.lca.olca`, Brightway in
:mod:`rareeco.lca.brightway`), and the writer of rareeco model documents they are converted to.

* :class:`Imported` — the product system an importer built, with its advisory findings (warnings).
* :class:`Problems` — collects findings; blocking ones are raised together as one
  :class:`~rareeco.errors.ValidationFailed` (DESIGN.md style 7), so a user sees every problem of a
  file at once, each naming the process and the exchange.
* :func:`unit_label` — a unit name as written by openLCA or Brightway → a unit rareeco's registry reads
  (names only: ``ton`` is Brightway's metric tonne, ``unit`` a count; no factor is written here).
* :func:`mirrored` — the distribution of ``-x`` from that of ``x`` (avoided products, resources).
* :func:`model_document` — a :class:`~rareeco.lca.system.ProductSystem` as a model document
  (docs/lca-model.md), what ``rareeco lca convert`` writes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rareeco.errors import Finding, RareecoError, UnitError, ValidationFailed
from rareeco.lca.system import ProductSystem, Uncertainty
from rareeco.units import parse_unit


class MissingDependencyError(RareecoError, ImportError):
    """An optional package an importer needs is not installed."""

    code = "missing_dependency"
    http_status = 500


def require(module: str, extra: str, what: str) -> Any:
    """Import the optional ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{what} needs the Python package {module!r}, which is not installed",
                                     fix=f"pip install 'rareeco[{extra}]'") from None


@dataclass(frozen=True)
class Imported:
    """A product system read from another format, its name, and the advisory findings of the import."""

    system: ProductSystem
    name: str
    warnings: tuple[Finding, ...] = ()
    source: str = "<data>"


@dataclass
class Problems:
    """Findings of one import: blocking ones stop it (:meth:`raise_if_blocking`), advisory ones are warnings."""

    source: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, where: str, message: str, fix: str, *, code: str = "lca_import_invalid",
            blocking: bool = True, **data: Any) -> None:
        """Record ``message`` about ``where`` (e.g. ``process 'steel' (uuid), exchange 3``)."""
        self.findings.append(Finding(code, f"{where}: {message}", "blocking" if blocking else "advisory",
                                     file=self.source, fix=fix, data={"where": where, **data}))

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "advisory")

    def raise_if_blocking(self, what: str) -> None:
        """Raise one :class:`ValidationFailed` holding every blocking finding, if there is any."""
        blocking = [f for f in self.findings if f.severity == "blocking"]
        if not blocking:
            return
        n = len(blocking)
        raise ValidationFailed(f"{self.source}: {n} problem{'s' if n != 1 else ''} in the {what}; first: "
                               f"{blocking[0].message}",
                               fix=blocking[0].fix if n == 1 else "fix each finding (see docs/lca-import.md)",
                               findings=blocking)


# Unit spellings of openLCA (ILCD unit groups) and Brightway (bw2io's normalised names) that the registry does
# not read as written, → the same unit in the registry's spelling.  Names only, no factors (DESIGN.md style 4).
# "ton" is Brightway's metric tonne, not pint's short ton; a person, a vehicle, an item is a count.
UNIT_SPELLINGS: Mapping[str, str] = {
    # openLCA / ILCD
    "m2": "meter ** 2", "m2*a": "meter ** 2 * year", "m2a": "meter ** 2 * year", "m3*a": "meter ** 3 * year",
    "m3a": "meter ** 3 * year", "m*a": "meter * year", "km2": "kilometer ** 2", "cm3": "centimeter ** 3",
    "dm3": "decimeter ** 3", "Item(s)": "count", "p": "count", "Items*km": "count * kilometer",
    "p*km": "count * kilometer", "pkm": "count * kilometer", "personkm": "count * kilometer",
    "person*km": "count * kilometer", "vkm": "count * kilometer", "v*km": "count * kilometer",
    # Brightway (bw2io UNITS_NORMALIZATION)
    "ton": "tonne", "ton kilometer": "tkm", "square meter": "meter ** 2",
    "square meter-year": "meter ** 2 * year", "cubic meter-year": "meter ** 3 * year",
    "meter-year": "meter * year", "kilometer-year": "kilometer * year", "unit": "count",
    "person kilometer": "count * kilometer", "vehicle kilometer": "count * kilometer",
    "kilo Becquerel": "kBq", "kilogram kilometer": "kilogram * kilometer", "kilogram day": "kilogram * day",
    "normal cubic meter": "Nm3",
}


def unit_label(name: str | None, aliases: Mapping[str, str] | None = None) -> str:
    """The unit ``name`` (as openLCA or Brightway write it) in a spelling rareeco's unit registry reads.

    ``aliases`` (the caller's, first) and :data:`UNIT_SPELLINGS` are looked up before the name itself, so
    ``ton`` is a metric tonne.  Raises :class:`~rareeco.errors.UnitError` when none of them is a unit.
    """
    text = (name or "").strip()
    for table in (aliases or {}, UNIT_SPELLINGS):
        if text in table:
            text = table[text]
            break
    try:
        parse_unit(text)
    except UnitError:
        raise UnitError(f"unit {name!r} is not a unit rareeco knows",
                        fix=f"map it to a unit of rareeco's registry, e.g. unit_aliases={{{name!r}: 'count'}} "
                            "(--unit-alias NAME=UNIT on the command line)") from None
    return text


def mirrored(u: Uncertainty | None, sign: float) -> Uncertainty | None:
    """The distribution of ``sign · x`` given that of ``x`` (``sign`` = ±1): bounds negated and swapped.

    A lognormal's ``sigma`` and a normal's ``std`` do not change (the amount, their median or mean,
    carries the sign).
    """
    if u is None or sign > 0 or u.minimum is None or u.maximum is None:
        return u
    return replace(u, minimum=-u.maximum, maximum=-u.minimum)


def slug(text: str) -> str:
    """A readable id: lower case, runs of other characters → ``-`` (``"IPCC 2021, GWP100"`` → ``ipcc-2021-gwp100``)."""
    return re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-") or "x"


def unique_ids(names: Iterable[str], fallbacks: Iterable[str]) -> list[str]:
    """:func:`slug` of each name; a slug used twice gets the start of its fallback (a uuid) appended."""
    names, fallbacks = list(names), list(fallbacks)
    slugs = [slug(n) for n in names]
    counts: dict[str, int] = {}
    for s in slugs:
        counts[s] = counts.get(s, 0) + 1
    return [s if counts[s] == 1 else f"{s}-{slug(fb)[:8]}" for s, fb in zip(slugs, fallbacks, strict=True)]


# --- writing a model document ------------------------------------------------------------------------

def _uncertainty_document(u: Uncertainty) -> dict[str, Any]:
    if u.distribution == "lognormal":
        return {"distribution": "lognormal", "sigma": u.sigma}
    if u.distribution == "normal":
        return {"distribution": "normal", "std": u.std}
    return {"distribution": u.distribution, "min": u.minimum, "max": u.maximum}


def _number(x: float) -> float | int:
    """Whole numbers as int, so documents read ``1`` rather than ``1.0``."""
    return int(x) if float(x).is_integer() and math.isfinite(x) and abs(x) < 2**53 else float(x)


def model_document(system: ProductSystem, name: str, description: str = "") -> dict[str, Any]:
    """``system`` as a model document (docs/lca-model.md): processes with inputs and emissions, flows, methods.

    Amounts are in the reference units (no ``unit`` keys); factors of flows the system does not declare are
    left out (the model format rejects them; they cannot change a score).
    """
    inputs: dict[str, list[dict[str, Any]]] = {p.id: [] for p in system.processes}
    emissions: dict[str, list[dict[str, Any]]] = {p.id: [] for p in system.processes}
    for t in system.technosphere:
        item: dict[str, Any] = {"from": t.supplier, "amount": _number(t.amount)}
        if t.uncertainty is not None:
            item["uncertainty"] = _uncertainty_document(t.uncertainty)
        inputs[t.consumer].append(item)
    for b in system.biosphere:
        item = {"flow": b.flow, "amount": _number(b.amount)}
        if b.uncertainty is not None:
            item["uncertainty"] = _uncertainty_document(b.uncertainty)
        emissions[b.process].append(item)
    processes = []
    for p in system.processes:
        doc: dict[str, Any] = {"id": p.id, "name": p.name or p.id, "product": p.reference_product or p.name or p.id,
                               "unit": p.unit, "location": p.location or "GLO"}
        if p.production_amount != 1:
            doc["production_amount"] = _number(p.production_amount)
        if inputs[p.id]:
            doc["inputs"] = inputs[p.id]
        if emissions[p.id]:
            doc["emissions"] = emissions[p.id]
        processes.append(doc)
    flow_ids = {f.id for f in system.flows}
    out: dict[str, Any] = {"name": name}
    if description:
        out["description"] = description
    out["processes"] = processes
    out["flows"] = [{"id": f.id, "name": f.name or f.id, "unit": f.unit, "compartment": f.compartment or "air"}
                    for f in system.flows]
    out["methods"] = [{"id": m.id, "name": m.name or m.id, "unit": m.unit or "score",
                       "factors": {k: _number(v) for k, v in m.factors.items() if k in flow_ids}}
                      for m in system.methods.values()]
    if not out["methods"]:
        del out["methods"]
    return out
