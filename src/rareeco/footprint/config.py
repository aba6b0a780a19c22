"""An organisation's product-footprint settings: what the ledger cannot say by itself.

The ledger knows what each line used and made in a period.  A footprint also needs (docs/footprints.md):

* which **feed goes into which product** — a line's ``consumption.product`` rows of PrNd oxide belong to
  the metal made from it, not to every product of the line (ISO 14067:2018 6.4.6.2 a: avoid allocation
  by subdivision where the data allow it);
* the **price key** of each product, for economic allocation (prices are factor-set rows of kind ``price``);
* the **declared unit** (default 1 kg) and the default **allocation** (mass or economic);
* the **uncertainty** assumed for measured amounts and for factors by verification tag (lognormal GSD).

Written as YAML::

    declared_unit: 1 kg
    allocation: mass
    products:
      prnd-metal: {feeds: [prnd-oxide], price: prnd-metal}
    uncertainty: {measured_gsd: 1.05, factor_gsd: {V: 1.1, S: 1.2, C: 1.02, U: 1.5}}

Every problem is a :class:`~rareeco.errors.Finding` naming its key path; all are raised together.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from rareeco.errors import Finding, UnitError, ValidationFailed
from rareeco.units import conversion_factor

ALLOCATIONS = ("mass", "economic")
TAGS = ("V", "S", "C", "U")
DEFAULT_FACTOR_GSD = {"V": 1.10, "S": 1.20, "C": 1.02, "U": 1.50}
"""Assumed lognormal GSD of a factor by its verification tag [-] — an assumption, stated in every result."""
DEFAULT_MEASURED_GSD = 1.05
"""Assumed lognormal GSD of a metered or invoiced amount [-] — an assumption, stated in every result."""


@dataclass(frozen=True)
class ProductSettings:
    feeds: tuple[str, ...] = ()       # product codes whose consumption.product rows go wholly into this product
    price: str | None = None          # price key (factor kind "price"); default the product code
    declared_unit: str | None = None  # e.g. "1 kg"; default the document's


@dataclass(frozen=True)
class FootprintConfig:
    declared_unit: str = "1 kg"
    allocation: str = "mass"
    products: dict[str, ProductSettings] = field(default_factory=dict)
    measured_gsd: float = DEFAULT_MEASURED_GSD
    factor_gsd: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FACTOR_GSD))
    sha256: str = ""                  # of the text it was read from ("" for the defaults)

    def product(self, code: str) -> ProductSettings:
        return self.products.get(code, ProductSettings())

    def price_key(self, code: str) -> str:
        return self.product(code).price or code

    def declared(self, code: str) -> tuple[float, str]:
        """The declared unit of ``code`` as (amount, unit), e.g. (1.0, "kg")."""
        return split_declared_unit(self.product(code).declared_unit or self.declared_unit)

    def feed_target(self, feed: str, outputs: set[str]) -> str | None:
        """The output of a line that takes the whole of ``feed`` (None: the feed is shared by allocation)."""
        takers = [p for p in sorted(outputs) if feed in self.product(p).feeds]
        return takers[0] if len(takers) == 1 else None


def split_declared_unit(text: str) -> tuple[float, str]:
    amount, _, unit = text.strip().partition(" ")
    return float(amount), unit.strip()


def _check_declared_unit(text: Any, path: str, out: list[Finding]) -> None:
    fix = "write an amount and a mass unit, e.g. '1 kg' or '1 t'"
    try:
        amount, unit = split_declared_unit(str(text))
        if not amount > 0:
            raise ValueError
        conversion_factor(unit, "kg")
    except (ValueError, UnitError):
        out.append(Finding("footprint_config_invalid", f"{path}: declared unit {text!r} is not a positive mass",
                           column=path, value=str(text), fix=fix))


def _gsd(value: Any, path: str, out: list[Finding]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 1:
        out.append(Finding("footprint_config_invalid", f"{path}: a GSD must be a number > 1", column=path,
                           value=str(value), fix="give the geometric standard deviation, e.g. 1.1"))
        return None
    return float(value)


def parse_config(text: str, source: str = "footprint settings") -> FootprintConfig:
    """Read and check footprint settings (YAML); raises ValidationFailed listing every problem."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{source}: not valid YAML: {exc}", fix="correct the YAML syntax") from exc
    out: list[Finding] = []
    if not isinstance(doc, dict):
        raise ValidationFailed(f"{source}: the settings must be a mapping", fix="see docs/footprints.md")
    known = {"declared_unit", "allocation", "products", "uncertainty"}
    for k in sorted(set(doc) - known):
        out.append(Finding("footprint_config_invalid", f"unknown key {k!r}", column=str(k),
                           fix=f"use only {', '.join(sorted(known))}"))
    declared = str(doc.get("declared_unit", "1 kg"))
    _check_declared_unit(declared, "declared_unit", out)
    allocation = doc.get("allocation", "mass")
    if allocation not in ALLOCATIONS:
        out.append(Finding("footprint_config_invalid", f"allocation {allocation!r} unknown", column="allocation",
                           value=str(allocation), fix="use mass or economic"))
    products: dict[str, ProductSettings] = {}
    raw_products = doc.get("products") or {}
    if not isinstance(raw_products, dict):
        out.append(Finding("footprint_config_invalid", "products must map product codes to settings",
                           column="products", fix="write products: {CODE: {feeds: [...], price: KEY}}"))
        raw_products = {}
    for code, raw in raw_products.items():
        path = f"products.{code}"
        raw = raw or {}
        if not isinstance(raw, dict) or set(raw) - {"feeds", "price", "declared_unit"}:
            out.append(Finding("footprint_config_invalid", f"{path}: only feeds, price and declared_unit are allowed",
                               column=path, fix="see docs/footprints.md"))
            continue
        feeds = raw.get("feeds") or []
        if not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds):
            out.append(Finding("footprint_config_invalid", f"{path}.feeds must be a list of product codes",
                               column=f"{path}.feeds", fix="write feeds: [prnd-oxide]"))
            feeds = []
        if "declared_unit" in raw:
            _check_declared_unit(raw["declared_unit"], f"{path}.declared_unit", out)
        products[str(code)] = ProductSettings(tuple(feeds), raw.get("price"), raw.get("declared_unit"))
    unc = doc.get("uncertainty") or {}
    measured = _gsd(unc.get("measured_gsd", DEFAULT_MEASURED_GSD), "uncertainty.measured_gsd", out)
    factor_gsd = dict(DEFAULT_FACTOR_GSD)
    for tag, v in (unc.get("factor_gsd") or {}).items():
        if tag not in TAGS:
            out.append(Finding("footprint_config_invalid", f"uncertainty.factor_gsd.{tag}: unknown tag",
                               column=f"uncertainty.factor_gsd.{tag}", fix="use the tags V, S, C, U"))
        elif (g := _gsd(v, f"uncertainty.factor_gsd.{tag}", out)) is not None:
            factor_gsd[tag] = g
    if out:
        raise ValidationFailed(f"{source}: {len(out)} problem(s); first: {out[0].message}",
                               fix="correct each finding (docs/footprints.md)", findings=out)
    return FootprintConfig(declared, str(allocation), products, measured or DEFAULT_MEASURED_GSD, factor_gsd,
                           hashlib.sha256(text.encode()).hexdigest())
