"""Multi-output processes → single-output processes: allocation and system expansion.

A solvent-extraction circuit gives several oxides at once; the matrix engine needs one product per
process.  Each function here takes a :class:`MultiOutputProcess`, computes allocation factors
(that sum to 1, checked) and returns the single-output processes with their share of every input and
emission (:class:`Allocation`), ready to add to a :class:`~rareeco.lca.system.ProductSystem`.  The
generated process of a co-product has the co-product's id, so consumers link to it directly.

Rules (ISO 14044 §4.3.4.2 hierarchy; ISO 14067 §6.4.6; GB/T 24067-2024 §6.4.6):

* **physical** — by any physical property: factor :math:`F_i = a_i p_i / \\sum_k a_k p_k` with
  :math:`a_i` the output and :math:`p_i` the property per unit of product (e.g. REO content);
* **mass** — physical with the mass of each output [kg];
* **economic** — by value: :math:`F_i = a_i \\pi_i / \\sum_k a_k \\pi_k`, with the price
  :math:`\\pi_i` in force on a date, chosen from dated prices passed in as data (never a literal);
* **system expansion / substitution** — the process is kept whole for one *determining* product and
  each other co-product is credited with the production it avoids (a negative input of the process
  that would make it otherwise): factors 1 and 0.

Each allocated exchange is :math:`F_i \\times` the original, so the allocated processes together
emit exactly what the multi-output process did.

References
----------
ISO 14044:2006 §4.3.4; Heijungs, R. & Suh, S. (2002), *The Computational Structure of LCA*, ch. 6
(the multi-functionality problem: partitioning and substitution). doi:10.1007/978-94-015-9900-9.
Weidema, B. (2000). Avoiding co-product allocation in LCA. J Ind Ecol 4(3), 11–33.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from rareeco.errors import UnitError
from rareeco.lca.errors import AllocationError
from rareeco.lca.system import BiosphereExchange, Process, TechnosphereExchange
from rareeco.units import conversion_factor, same_dimension

# Tolerance of the check that allocation factors sum to 1.
FACTOR_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class CoProduct:
    """One output of a multi-output process: ``amount`` [``unit``] per run."""

    id: str
    name: str
    amount: float
    unit: str


@dataclass(frozen=True)
class MultiOutputProcess:
    """A process with several products; its exchanges are per run (``consumer``/``process`` = ``id``)."""

    id: str
    name: str
    products: tuple[CoProduct, ...]
    technosphere: tuple[TechnosphereExchange, ...] = ()
    biosphere: tuple[BiosphereExchange, ...] = ()
    location: str = "GLO"

    def __post_init__(self) -> None:
        if not self.products:
            raise AllocationError(f"multi-output process {self.id!r} has no products", fix="list its co-products")
        ids = [p.id for p in self.products]
        if len(set(ids)) != len(ids):
            raise AllocationError(f"multi-output process {self.id!r} lists a product twice", fix="one row per product")
        for p in self.products:
            if not (math.isfinite(p.amount) and p.amount > 0):
                raise AllocationError(f"co-product {p.id!r} of {self.id!r}: output {p.amount!r} must be > 0",
                                      fix="give each co-product's output per run (a positive amount)")
        for x in self.technosphere:
            if x.consumer != self.id:
                raise AllocationError(f"input {x.supplier!r} is listed for {x.consumer!r}, not for {self.id!r}",
                                      fix="the inputs of a multi-output process name it as consumer")
        for b in self.biosphere:
            if b.process != self.id:
                raise AllocationError(f"emission {b.flow!r} is listed for {b.process!r}, not for {self.id!r}",
                                      fix="the emissions of a multi-output process name it as process")

    def product(self, product_id: str) -> CoProduct:
        for p in self.products:
            if p.id == product_id:
                return p
        raise AllocationError(f"{self.id!r} has no co-product {product_id!r}",
                              fix=f"use one of {[p.id for p in self.products]}")


@dataclass(frozen=True)
class DatedPrice:
    """``price`` [``currency`` per ``unit``] of ``product`` from ``valid_from`` on (until a later price).

    ``valid_to`` (optional, inclusive) ends the price earlier: after it the price is not in force.
    """

    product: str
    price: float
    currency: str
    unit: str
    valid_from: date
    source: str = ""
    valid_to: date | None = None


@dataclass(frozen=True)
class Allocation:
    """The result: factors (sum 1), the quantity behind each, and the single-output processes."""

    method: str
    factors: dict[str, float]
    basis: dict[str, float]
    basis_unit: str
    processes: tuple[Process, ...]
    technosphere: tuple[TechnosphereExchange, ...]
    biosphere: tuple[BiosphereExchange, ...]
    notes: dict[str, str] = field(default_factory=dict)


def allocation_factors(quantities: Mapping[str, float]) -> dict[str, float]:
    """Shares of ``quantities`` (one per product, ≥ 0, not all 0): :math:`F_i = Q_i / \\sum_k Q_k`.

    Raises :class:`AllocationError` if a quantity is negative or not finite, if all are zero, or if
    the factors do not sum to 1 within :data:`FACTOR_SUM_TOLERANCE`.
    """
    if not quantities:
        raise AllocationError("no quantities to allocate by", fix="give one quantity per co-product")
    for k, v in quantities.items():
        if not math.isfinite(v) or v < 0:
            raise AllocationError(f"allocation quantity of {k!r} is {v!r}", fix="quantities must be finite and ≥ 0")
    total = math.fsum(quantities.values())
    if not total > 0:
        raise AllocationError("all allocation quantities are zero", fix="give at least one co-product a quantity > 0")
    factors = {k: v / total for k, v in quantities.items()}
    _check_sum(factors)
    return factors


def _check_sum(factors: Mapping[str, float]) -> None:
    s = math.fsum(factors.values())
    if abs(s - 1.0) > FACTOR_SUM_TOLERANCE or any(f < 0 for f in factors.values()):
        raise AllocationError(f"allocation factors sum to {s!r}, not 1", fix="report this as a bug")


def allocate(process: MultiOutputProcess, factors: Mapping[str, float], method: str = "given",
             basis: Mapping[str, float] | None = None, basis_unit: str = "") -> Allocation:
    """Split ``process`` with ``factors`` (product id → share, summing to 1).

    Notes
    -----
    Co-product *i* becomes a process producing :math:`a_i` per run with every input and emission
    :math:`F_i \\times` the original (ISO 14044 §4.3.4.2).  Distributions are scaled with the amount
    (a lognormal keeps its σ).  Exchanges with a zero factor are left out.  The exchanges are listed
    co-product by co-product (in the order of ``process.products``, those with a non-zero factor),
    each in the order of the process's exchanges.
    """
    missing = {p.id for p in process.products} ^ set(factors)
    if missing:
        raise AllocationError(f"allocation factors of {process.id!r} do not match its products: {sorted(missing)}",
                              fix="give one factor per co-product")
    _check_sum(factors)
    procs: list[Process] = []
    tech: list[TechnosphereExchange] = []
    bio: list[BiosphereExchange] = []
    for p in process.products:
        f = float(factors[p.id])
        procs.append(Process(p.id, p.name, p.name, p.unit, process.location, p.amount))
        if f == 0:
            continue
        for x in process.technosphere:
            unc = x.uncertainty.scaled(f) if x.uncertainty is not None else None
            tech.append(replace(x, consumer=p.id, amount=x.amount * f, uncertainty=unc))
        for b in process.biosphere:
            unc = b.uncertainty.scaled(f) if b.uncertainty is not None else None
            bio.append(replace(b, process=p.id, amount=b.amount * f, uncertainty=unc))
    return Allocation(method, dict(factors), dict(basis or factors), basis_unit, tuple(procs), tuple(tech), tuple(bio))


def physical_allocation(process: MultiOutputProcess, property_per_unit: Mapping[str, float],
                        property_name: str = "property", property_unit: str = "") -> Allocation:
    """Allocation by a physical property given per unit of each product (e.g. kg REO per kg of product).

    Parameters
    ----------
    property_per_unit : mapping product id → value [``property_unit`` per unit of the product]

    Notes
    -----
    :math:`F_i = a_i p_i / \\sum_k a_k p_k` (ISO 14044 §4.3.4.2 step 2).
    """
    basis: dict[str, float] = {}
    for p in process.products:
        if p.id not in property_per_unit:
            raise AllocationError(f"no {property_name} for co-product {p.id!r} of {process.id!r}",
                                  fix=f"give the {property_name} per {p.unit} of each co-product")
        basis[p.id] = p.amount * float(property_per_unit[p.id])
    return allocate(process, allocation_factors(basis), f"physical:{property_name}", basis, property_unit)


def mass_allocation(process: MultiOutputProcess, mass_kg_per_unit: Mapping[str, float] | None = None) -> Allocation:
    """Allocation by mass [kg]: outputs in a mass unit are converted; others need ``mass_kg_per_unit``.

    Notes
    -----
    :math:`F_i = m_i / \\sum_k m_k` with :math:`m_i` the mass of output *i* per run [kg].
    """
    per_unit: dict[str, float] = {}
    for p in process.products:
        if mass_kg_per_unit is not None and p.id in mass_kg_per_unit:
            per_unit[p.id] = float(mass_kg_per_unit[p.id])
        elif same_dimension(p.unit, "kg"):
            per_unit[p.id] = conversion_factor(p.unit, "kg")
        else:
            raise AllocationError(f"co-product {p.id!r} of {process.id!r} is measured in {p.unit!r}, not a mass",
                                  fix="give its mass per unit in mass_kg_per_unit")
    a = physical_allocation(process, per_unit, "mass", "kg")
    return replace(a, method="mass")


def price_on(prices: Sequence[DatedPrice], product: str, on: date) -> DatedPrice:
    """The price of ``product`` in force on ``on``: the latest with ``valid_from ≤ on`` (and ``on ≤ valid_to``)."""
    valid = [p for p in prices if p.product == product and p.valid_from <= on
             and (p.valid_to is None or on <= p.valid_to)]
    if not valid:
        raise AllocationError(f"no price of {product!r} in force on {on.isoformat()}",
                              fix="add a dated price (valid_from on or before that date, valid_to not before it) "
                                  "for each co-product")
    return max(valid, key=lambda p: p.valid_from)


def economic_allocation(process: MultiOutputProcess, prices: Sequence[DatedPrice], on: date) -> Allocation:
    """Allocation by economic value with the prices in force on ``on``.

    Parameters
    ----------
    prices : sequence of DatedPrice
        Price history (any units of the products' dimensions, one currency); no price is built in.
    on : date
        The date whose prices apply (e.g. the middle of the reporting period).

    Notes
    -----
    :math:`F_i = a_i \\pi_i / \\sum_k a_k \\pi_k`, :math:`\\pi_i` the price per unit of product *i*
    (ISO 14044 §4.3.4.2 step 3).
    """
    chosen = {p.id: price_on(prices, p.id, on) for p in process.products}
    currencies = {c.currency for c in chosen.values()}
    if len(currencies) != 1:
        raise AllocationError(f"prices of {process.id!r}'s co-products are in several currencies: {sorted(currencies)}",
                              fix="convert all prices to one currency (with a dated exchange rate) first")
    basis: dict[str, float] = {}
    for p in process.products:
        c = chosen[p.id]
        if not (math.isfinite(c.price) and c.price >= 0):
            raise AllocationError(f"price of {p.id!r} is {c.price!r}", fix="prices must be finite and ≥ 0")
        try:
            per_product_unit = c.price * conversion_factor(p.unit, c.unit)
        except UnitError as exc:
            raise AllocationError(f"price of {p.id!r} is per {c.unit!r} but the product is measured in {p.unit!r}",
                                  fix="give the price per a unit of the product's dimension") from exc
        basis[p.id] = p.amount * per_product_unit
    a = allocate(process, allocation_factors(basis), "economic", basis, currencies.pop())
    notes = {pid: f"{c.price:g} {c.currency}/{c.unit} from {c.valid_from.isoformat()}"
             + (f" ({c.source})" if c.source else "") for pid, c in chosen.items()}
    return replace(a, notes=notes)


def substitution(process: MultiOutputProcess, determining: str, substitutes: Mapping[str, str]) -> Allocation:
    """System expansion: keep the whole process for ``determining``; credit the other co-products.

    Parameters
    ----------
    determining : str
        The co-product whose demand drives the process.
    substitutes : mapping co-product id → process id
        The process whose production each other co-product displaces.

    Notes
    -----
    The process makes :math:`a_d` of the determining product; each other co-product *i* becomes an
    input of :math:`-a_i` from ``substitutes[i]`` (avoided production; Heijungs & Suh 2002 §6.3,
    Weidema 2000).  Factors: 1 for the determining product, 0 for the others.  The technosphere
    exchanges are the process's own, in order, then one avoided input per other co-product.
    """
    d = process.product(determining)
    others = [p for p in process.products if p.id != determining]
    missing = [p.id for p in others if p.id not in substitutes]
    if missing:
        raise AllocationError(f"no substitute given for co-product(s) {missing} of {process.id!r}",
                              fix="name the process each co-product displaces")
    factors = {p.id: (1.0 if p.id == determining else 0.0) for p in process.products}
    _check_sum(factors)
    proc = Process(d.id, d.name, d.name, d.unit, process.location, d.amount)
    tech = [replace(x, consumer=d.id) for x in process.technosphere]
    tech += [TechnosphereExchange(consumer=d.id, supplier=substitutes[p.id], amount=-p.amount, unit=p.unit)
             for p in others]
    bio = [replace(b, process=d.id) for b in process.biosphere]
    basis = {p.id: p.amount for p in process.products}
    return Allocation("substitution", factors, basis, "", (proc,), tuple(tech), tuple(bio),
                      notes={p.id: f"displaces {substitutes[p.id]}" for p in others})
