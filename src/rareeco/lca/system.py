"""A product system as data: processes, exchanges, elementary flows and characterisation methods.

Nothing here computes a result: :mod:`rareeco.lca.matrices` turns a :class:`ProductSystem` into the
matrices of Heijungs & Suh (2002) and :mod:`rareeco.lca.solve` solves them.

Conventions (one glossary, DESIGN.md style 2):

* A **process** makes one reference product, ``production_amount`` [process unit] per run (default 1).
  Multi-output processes are split into such processes first (:mod:`rareeco.lca.allocation`).
* A **technosphere exchange** is an input of the *consumer* process from the *supplier* process,
  per run of the consumer, in the supplier's reference unit.  A positive amount is an input; a
  negative amount is an output of the supplier's product (avoided production, substitution).
  An exchange may be written in another unit of the same dimension (``2000 kg`` of a product
  made in ``t``): it is converted when the system is built.  A wrong dimension is a
  :class:`~rareeco.errors.UnitError` naming the process and the exchange.
* A **biosphere exchange** is an emission (positive) or a resource taken / uptake (negative) of an
  elementary flow, per run of the process, in the flow's unit (or another of the same dimension).
* A **method** gives characterisation factors [method unit per flow unit] for some flows; flows
  without a factor count zero.  No factor is written in this code (DESIGN.md style 4): methods come
  from reference data or from the caller.

References
----------
Heijungs, R. & Suh, S. (2002). *The Computational Structure of Life Cycle Assessment*. Kluwer,
Dordrecht. doi:10.1007/978-94-015-9900-9, chapters 2–3 (processes, flows, the technology and
intervention matrices).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

from rareeco.errors import UnitError
from rareeco.lca.errors import LCAError, UnknownReferenceError
from rareeco.units import conversion_factor

Distribution = Literal["lognormal", "normal", "triangular", "uniform"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("lognormal", "normal", "triangular", "uniform")


@dataclass(frozen=True)
class Uncertainty:
    """The probability distribution of an exchange amount.

    The exchange's own ``amount`` is the deterministic value and a parameter of the distribution:

    ================  ===========================  ==========================================
    distribution      ``amount`` is                other parameters
    ================  ===========================  ==========================================
    ``lognormal``     the median (geometric mean)  ``sigma``: standard deviation of ln|x| [-]
    ``normal``        the mean                     ``std``: standard deviation [exchange unit]
    ``triangular``    the mode                     ``minimum``, ``maximum`` [exchange unit]
    ``uniform``       a value in the range          ``minimum``, ``maximum`` [exchange unit]
    ================  ===========================  ==========================================

    ``sigma`` is the standard deviation of the *underlying normal* (Brightway's ``scale``); the
    geometric standard deviation is ``gsd = exp(sigma)`` (ecoinvent's pedigree tables give
    ``gsd²``, the 95 % factor).  Use :meth:`lognormal` with ``gsd=`` to give the latter form.
    A lognormal of a negative amount is the mirror image: ``-exp(N(ln|amount|, sigma))``.

    Notes
    -----
    Mean of the lognormal: :math:`E[x] = \\mathrm{median} \\cdot e^{\\sigma^2/2}`.
    """

    distribution: Distribution
    sigma: float | None = None
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def lognormal(cls, *, sigma: float | None = None, gsd: float | None = None) -> Uncertainty:
        """Lognormal around the exchange amount (the median): give ``sigma`` [-] or ``gsd`` = exp(sigma) [-]."""
        if (sigma is None) == (gsd is None):
            raise LCAError("a lognormal needs exactly one of sigma and gsd",
                           fix="give sigma (std of ln x) or gsd (geometric standard deviation, > 1)")
        if gsd is not None:
            if not gsd > 1:
                raise LCAError(f"geometric standard deviation {gsd!r} must be > 1", fix="give gsd = exp(sigma) > 1")
            sigma = math.log(gsd)
        return cls("lognormal", sigma=sigma)

    @classmethod
    def normal(cls, std: float) -> Uncertainty:
        """Normal with mean the exchange amount and standard deviation ``std`` [exchange unit]."""
        return cls("normal", std=std)

    @classmethod
    def triangular(cls, minimum: float, maximum: float) -> Uncertainty:
        """Triangular with mode the exchange amount, on [``minimum``, ``maximum``] [exchange unit]."""
        return cls("triangular", minimum=minimum, maximum=maximum)

    @classmethod
    def uniform(cls, minimum: float, maximum: float) -> Uncertainty:
        """Uniform on [``minimum``, ``maximum``] [exchange unit]; the exchange amount is its static value."""
        return cls("uniform", minimum=minimum, maximum=maximum)

    def check(self, amount: float, where: str) -> None:
        """Raise :class:`LCAError` (naming ``where``) if the parameters do not fit ``amount``."""
        def bad(msg: str, fix: str) -> LCAError:
            return LCAError(f"{where}: {msg}", fix=fix)

        if self.distribution not in DISTRIBUTIONS:
            raise bad(f"unknown distribution {self.distribution!r}", f"use one of {', '.join(DISTRIBUTIONS)}")
        if self.distribution == "lognormal":
            if self.sigma is None or not math.isfinite(self.sigma) or self.sigma <= 0:
                raise bad(f"lognormal sigma {self.sigma!r} must be a positive number", "give sigma > 0 (std of ln x)")
            if amount == 0:
                raise bad("a lognormal needs a non-zero amount (its median)", "use a normal or uniform for zero")
        elif self.distribution == "normal":
            if self.std is None or not math.isfinite(self.std) or self.std <= 0:
                raise bad(f"normal std {self.std!r} must be a positive number", "give std > 0 in the exchange unit")
        else:
            lo, hi = self.minimum, self.maximum
            if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
                raise bad(f"{self.distribution} needs minimum < maximum, got {lo!r}, {hi!r}",
                          "give finite minimum < maximum in the exchange unit")
            if not lo <= amount <= hi:
                raise bad(f"amount {amount!r} lies outside [{lo!r}, {hi!r}]",
                          "the amount is the mode (triangular) or the static value (uniform): put it in the range")

    def scaled(self, factor: float) -> Uncertainty:
        """The same distribution for an amount multiplied by ``factor`` > 0 (a unit conversion)."""
        return replace(self,
                       std=None if self.std is None else self.std * factor,
                       minimum=None if self.minimum is None else self.minimum * factor,
                       maximum=None if self.maximum is None else self.maximum * factor)


@dataclass(frozen=True)
class Process:
    """An activity making one reference product: ``production_amount`` [``unit``] per run."""

    id: str
    name: str
    reference_product: str
    unit: str
    location: str = "GLO"
    production_amount: float = 1.0


@dataclass(frozen=True)
class Flow:
    """An elementary flow (emission to or resource from the environment), measured in ``unit``."""

    id: str
    name: str
    unit: str
    compartment: str = "air"


@dataclass(frozen=True)
class TechnosphereExchange:
    """``amount`` [``unit``, default the supplier's unit] of the supplier's product used per run of the consumer."""

    consumer: str
    supplier: str
    amount: float
    unit: str | None = None
    uncertainty: Uncertainty | None = None


@dataclass(frozen=True)
class BiosphereExchange:
    """``amount`` [``unit``, default the flow's unit] of ``flow`` emitted (> 0) or taken (< 0) per run."""

    process: str
    flow: str
    amount: float
    unit: str | None = None
    uncertainty: Uncertainty | None = None


@dataclass(frozen=True)
class Method:
    """A characterisation method: ``factors[flow id]`` [``unit`` per flow unit]; e.g. GWP100 in kg CO2e."""

    id: str
    unit: str
    factors: Mapping[str, float]
    name: str = ""


_X = TypeVar("_X", TechnosphereExchange, BiosphereExchange)


def _unique(ids: Iterable[str], what: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    for i, x in enumerate(ids):
        if x in seen:
            raise LCAError(f"{what} id {x!r} appears twice", fix=f"give each {what} its own id")
        seen[x] = i
    return seen


def _finite(value: float, where: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise LCAError(f"{where}: amount {value!r} is not a finite number", fix="give a finite amount")
    return v


@dataclass(frozen=True)
class ProductSystem:
    """Processes, flows, exchanges and methods, checked and converted to reference units when built.

    After construction every exchange's ``unit`` is its reference unit (the supplier's unit for
    technosphere exchanges, the flow's unit for biosphere exchanges) and its amount and
    uncertainty are converted to it; references to unknown processes or flows raise
    :class:`~rareeco.lca.errors.UnknownReferenceError`, a unit of the wrong dimension raises
    :class:`~rareeco.errors.UnitError` naming the process and the exchange.
    """

    processes: tuple[Process, ...]
    flows: tuple[Flow, ...] = ()
    technosphere: tuple[TechnosphereExchange, ...] = ()
    biosphere: tuple[BiosphereExchange, ...] = ()
    methods: Mapping[str, Method] = field(default_factory=dict)

    def __post_init__(self) -> None:
        procs = tuple(self.processes)
        flows = tuple(self.flows)
        _unique((p.id for p in procs), "process")
        _unique((f.id for f in flows), "flow")
        by_id = {p.id: p for p in procs}
        flow_by_id = {f.id: f for f in flows}
        for p in procs:
            if _finite(p.production_amount, f"process {p.id!r}: production") == 0:
                raise LCAError(f"process {p.id!r} produces 0 {p.unit}",
                               fix="give a non-zero production amount (1 per run is usual)")
            conversion_factor(p.unit, p.unit)  # an unknown unit is a UnitError here, not at solve time
        for f in flows:
            conversion_factor(f.unit, f.unit)
        tech = tuple(self._convert_technosphere(x, by_id) for x in self.technosphere)
        bio = tuple(self._convert_biosphere(x, by_id, flow_by_id) for x in self.biosphere)
        methods = dict(self.methods)
        for key, m in methods.items():
            if key != m.id:
                raise LCAError(f"method stored under {key!r} has id {m.id!r}", fix="store each method under its id")
            for flow_id, cf in m.factors.items():
                _finite(cf, f"method {m.id!r}, flow {flow_id!r}")
        object.__setattr__(self, "processes", procs)
        object.__setattr__(self, "flows", flows)
        object.__setattr__(self, "technosphere", tech)
        object.__setattr__(self, "biosphere", bio)
        object.__setattr__(self, "methods", methods)

    @staticmethod
    def _convert_technosphere(x: TechnosphereExchange, by_id: Mapping[str, Process]) -> TechnosphereExchange:
        where = f"technosphere exchange {x.supplier!r} → {x.consumer!r}"
        if x.consumer not in by_id:
            raise UnknownReferenceError(f"{where}: no process {x.consumer!r} consumes it",
                                        fix="add the consumer process or correct its id")
        if x.supplier not in by_id:
            raise UnknownReferenceError(f"{where}: no process {x.supplier!r} supplies it",
                                        fix="add the supplier process (or link the input to a background process)")
        supplier = by_id[x.supplier]
        amount = _finite(x.amount, where)
        return _converted(x, amount, supplier.unit, f"process {x.consumer!r}: {where} of {amount:g} {x.unit}",
                          f"the supplier's reference unit {supplier.unit!r}")

    @staticmethod
    def _convert_biosphere(x: BiosphereExchange, by_id: Mapping[str, Process],
                           flows: Mapping[str, Flow]) -> BiosphereExchange:
        where = f"biosphere exchange {x.flow!r} of process {x.process!r}"
        if x.process not in by_id:
            raise UnknownReferenceError(f"{where}: no process {x.process!r}", fix="add the process or correct its id")
        if x.flow not in flows:
            raise UnknownReferenceError(f"{where}: no elementary flow {x.flow!r}",
                                        fix="declare the flow (id, name, unit) in the system's flows")
        amount = _finite(x.amount, where)
        return _converted(x, amount, flows[x.flow].unit, f"process {x.process!r}: {where} of {amount:g} {x.unit}",
                          f"the flow's unit {flows[x.flow].unit!r}")

    # --- look-ups -----------------------------------------------------------------------------
    def process(self, process_id: str) -> Process:
        for p in self.processes:
            if p.id == process_id:
                return p
        raise UnknownReferenceError(f"no process {process_id!r} in the system", fix="use one of the process ids")

    def method(self, method_id: str) -> Method:
        try:
            return self.methods[method_id]
        except KeyError:
            raise UnknownReferenceError(f"no method {method_id!r}",
                                        fix=f"use one of {sorted(self.methods) or 'the methods you add'}") from None


def _converted(x: _X, amount: float, ref_unit: str, where: str, ref_text: str) -> _X:
    """``x`` with amount and uncertainty in ``ref_unit``; a UnitError naming ``where`` if the dimension differs."""
    factor = 1.0
    if x.unit is not None and x.unit != ref_unit:
        try:
            factor = conversion_factor(x.unit, ref_unit)
        except UnitError as exc:
            raise UnitError(f"{where}: unit {x.unit!r} is not convertible to {ref_text}",
                            fix=f"give the amount in a unit of the same dimension as {ref_unit!r} "
                                f"(or link the exchange to the right process/flow)") from exc
    unc = x.uncertainty
    if unc is not None:
        unc.check(amount, where)
        if factor != 1.0:
            unc = unc.scaled(factor)
    return replace(x, amount=amount * factor, unit=ref_unit, uncertainty=unc)
