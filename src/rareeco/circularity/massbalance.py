"""Element mass balance of a recycling chain, month by month, with pre- and post-consumer recycled content apart.

Pure functions over what the ledger holds per line and month (products made, own products used as feed,
purchased inputs) and the assumptions of :class:`Assumptions` (element contents of scrap and products).

Chain of custody: **mass balance** (ISO 22095:2020, the mass-balance model) with proportional shares:

1. at a line that buys scrap, the element entering with each kind of scrap is scrap [t] × content [t/t];
   its products' elements [t] come from their composition (oxides by stoichiometry); the difference is the
   line's loss (never negative: an output above the input means the assumptions are wrong — a finding).  Each
   product's element is recycled, pre- and post-consumer in the proportion of that element's scrap input in
   the month (losses take both kinds alike);
2. a line using own products as feed passes on each feed's shares: a product's element input is the feed
   [t] × the feed's element content [t/t] (the feed's month, or its year when it was not made that month),
   plus purchased inputs that bring the element (e.g. boron with ferroboron, shared by mass made); its
   recycled shares are the recycled element entering ÷ all of that element entering;
3. a feed named for one product in the footprint settings goes wholly to it; others are shared by mass made.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rareeco.errors import Finding, ValidationFailed

DECLARED = ("Nd", "Dy", "Pr", "Tb", "B")
"""Elements EU CRMA Art. 29(1) names for every NdFeB magnet; Sm, Ni and Co are declared where present."""
WHEN_PRESENT = ("Sm", "Ni", "Co")
KINDS = ("pre_consumer", "post_consumer")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Assumptions:
    """Element contents of scrap kinds and products (reference/data/ndfeb-recycling-assumptions.toml)."""

    atomic_weights: dict[str, float]
    compounds: dict[str, dict[str, int]]
    scrap: dict[str, dict[str, Any]]           # kind → {label, activities, contents {el: t/t}}
    products: dict[str, dict[str, Any]]        # code → {compounds {formula: share}} | {metal_of_feeds: share}
    element_inputs: dict[str, dict[str, float]]   # activity → {el: t/t}
    declare_products: list[str]
    version: str
    tag: str
    source: str
    sha256: str
    path: str

    def element_fraction(self, compound: str) -> dict[str, float]:
        """Mass fraction of each element other than oxygen in ``compound`` (stoichiometry, C)."""
        atoms = self.compounds[compound]
        total = sum(n * self.atomic_weights[el] for el, n in atoms.items())
        return {el: n * self.atomic_weights[el] / total for el, n in atoms.items() if el != "O"}

    def composition(self, product: str) -> dict[str, float] | None:
        """Element mass fractions of a product made of compounds; None when it is not given that way."""
        spec = self.products.get(product, {})
        if "compounds" not in spec:
            return None
        out: dict[str, float] = defaultdict(float)
        for compound, share in spec["compounds"].items():
            for el, f in self.element_fraction(compound).items():
                out[el] += share * f
        return dict(out)

    def scrap_kind(self, activity: str) -> str | None:
        return next((k for k, s in self.scrap.items() if activity in s["activities"]), None)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "tag": self.tag, "source": self.source, "sha256": self.sha256,
                "file": self.path, "scrap": self.scrap, "products": self.products,
                "element_inputs": self.element_inputs,
                "oxide_element_fractions": {c: {el: round(f, 6) for el, f in self.element_fraction(c).items()}
                                            for c in self.compounds}}


def load_assumptions(path: str | Path | None = None) -> Assumptions:
    """The shipped assumptions, or the TOML file at ``path`` (same layout); checked, with every problem named."""
    if path is None:
        text = resources.files("rareeco.reference").joinpath("data", "ndfeb-recycling-assumptions.toml").read_text(
            "utf-8")
        where = "reference/data/ndfeb-recycling-assumptions.toml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ValidationFailed(f"assumptions file {path}: {exc}", fix="give a readable TOML file") from exc
        where = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed(f"{where}: {exc}", fix="see docs/circularity.md for the layout") from exc
    problems: list[str] = []
    weights = {k: float(v) for k, v in raw.get("atomic_weights", {}).items()}
    compounds = {k: {el: int(n) for el, n in v.items()} for k, v in raw.get("compounds", {}).items()}
    for c, atoms in compounds.items():
        problems += [f"compounds.{c}: no atomic weight for {el}" for el in atoms if el not in weights]
    scrap: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        s = raw.get("scrap", {}).get(kind)
        if s is None:
            problems.append(f"scrap.{kind} is missing")
            continue
        share = float(s.get("magnet_share", 1.0))
        alloy = {el: float(v) for el, v in s.get("alloy", {}).items()}
        if not 0 < share <= 1:
            problems.append(f"scrap.{kind}.magnet_share must be in (0, 1]")
        if any(v < 0 for v in alloy.values()) or sum(alloy.values()) > 1:
            problems.append(f"scrap.{kind}.alloy: fractions must be ≥ 0 and sum to at most 1")
        scrap[kind] = {"label": s.get("label", kind), "activities": list(s.get("activities", [])),
                       "magnet_share": share, "alloy": alloy,
                       "contents": {el: share * v for el, v in alloy.items()}}
    products = dict(raw.get("products", {}))
    for code, spec in products.items():
        for c, share in spec.get("compounds", {}).items():
            if c not in compounds:
                problems.append(f"products.{code}.compounds: unknown compound {c}")
            if share < 0:
                problems.append(f"products.{code}.compounds.{c} must be ≥ 0")
        if "compounds" in spec and sum(spec["compounds"].values()) > 1 + TOLERANCE:
            problems.append(f"products.{code}.compounds sum to more than 1")
    if problems:
        raise ValidationFailed(f"{where}: " + "; ".join(problems), fix="see docs/circularity.md for the layout")
    return Assumptions(weights, compounds, scrap, products,
                       {a: {el: float(v) for el, v in d.items()} for a, d in raw.get("element_inputs", {}).items()},
                       list(raw.get("declare", {}).get("products", [])), str(raw.get("version", "")),
                       str(raw.get("tag", "U")), str(raw.get("source", "")),
                       hashlib.sha256(text.encode("utf-8")).hexdigest(), where)


@dataclass(frozen=True)
class LineMonth:
    """One line in one month: t made per product, t of own products used as feed, purchased amounts."""

    line: str
    month: int
    made_t: dict[str, float]
    feeds_t: dict[str, float]
    amounts: dict[str, float]


@dataclass
class Stock:
    """Element content of a product made in a month: element [t] and its pre-/post-consumer recycled part [t]."""

    made_t: float
    element_t: dict[str, float] = field(default_factory=dict)
    pre_t: dict[str, float] = field(default_factory=dict)
    post_t: dict[str, float] = field(default_factory=dict)

    def per_t(self) -> Stock:
        k = 1.0 / self.made_t if self.made_t > TOLERANCE else 0.0      # (no content from a vanishing amount)
        return Stock(1.0, {e: v * k for e, v in self.element_t.items()}, {e: v * k for e, v in self.pre_t.items()},
                     {e: v * k for e, v in self.post_t.items()})

    def add(self, other: Stock, scale: float) -> None:
        for mine, theirs in ((self.element_t, other.element_t), (self.pre_t, other.pre_t),
                             (self.post_t, other.post_t)):
            for e, v in theirs.items():
                mine[e] = mine.get(e, 0.0) + v * scale


@dataclass
class ChainResult:
    """Per month and product the element content; the recycling lines' balances; transfers; findings."""

    stocks: dict[int, dict[str, Stock]]               # month → product → content
    balances: list[dict[str, Any]]                    # recycling line, month: in by kind, out by product, loss
    transfers: list[dict[str, Any]]                   # feed → product, month, t and elements
    findings: list[Finding]


def _element_inputs(lm: LineMonth, a: Assumptions) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for act, amount in lm.amounts.items():
        for el, f in a.element_inputs.get(act, {}).items():
            out[el] += amount * f
    return dict(out)


def run_chain(months: list[LineMonth], a: Assumptions,
              feed_target: Callable[[str, set[str]], str | None]) -> ChainResult:
    """The element balance of every line-month (see the module's docstring)."""
    stocks: dict[int, dict[str, Stock]] = defaultdict(dict)
    balances: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    findings: list[Finding] = []
    pending = [lm for lm in months if any(t > 0 for t in lm.made_t.values())]
    annual: dict[str, Stock] = {}

    unknown: set[str] = set()          # products made without feeds and without a composition

    def resolve(feed: str, month: int) -> Stock | None:
        if feed in unknown:
            return None
        if feed in stocks[month]:
            return stocks[month][feed].per_t()
        return annual.get(feed)

    # 1. lines without own feeds (oxide lines, recycling lines): products by their composition
    for lm in list(pending):
        if lm.feeds_t:
            continue
        pending.remove(lm)
        comps = {p: a.composition(p) for p in lm.made_t}
        unknown.update(p for p, c in comps.items() if c is None)
        scrap_in: dict[str, dict[str, float]] = {k: defaultdict(float) for k in KINDS}
        scrap_t = dict.fromkeys(KINDS, 0.0)
        for act, amount in lm.amounts.items():
            kind = a.scrap_kind(act)
            if kind:
                scrap_t[kind] += amount
                for el, f in a.scrap[kind]["contents"].items():
                    scrap_in[kind][el] += amount * f
        recycling = any(scrap_t.values())
        out_el: dict[str, float] = defaultdict(float)
        for p, t in lm.made_t.items():
            s = Stock(t)
            for el, f in (comps[p] or {}).items():
                s.element_t[el] = t * f
                out_el[el] += t * f
            stocks[lm.month][p] = s
        if not recycling:
            continue
        bal: dict[str, Any] = {"line": lm.line, "month": lm.month, "scrap_t": scrap_t, "in_t": {}, "out_t": {},
                               "loss_t": {}, "recovery": {}}
        for el in sorted(set(out_el) | set(scrap_in["pre_consumer"]) | set(scrap_in["post_consumer"])):
            pre, post = scrap_in["pre_consumer"].get(el, 0.0), scrap_in["post_consumer"].get(el, 0.0)
            total_in, out = pre + post, out_el.get(el, 0.0)
            bal["in_t"][el] = {"pre_consumer": pre, "post_consumer": post, "total": total_in}
            bal["out_t"][el] = {p: stocks[lm.month][p].element_t.get(el, 0.0) for p in lm.made_t}
            bal["loss_t"][el] = total_in - out
            bal["recovery"][el] = out / total_in if total_in else None
            if out > total_in * (1 + 1e-9) + TOLERANCE:
                findings.append(Finding("mass_balance_open", f"{lm.line}, month {lm.month}: {out:.4f} t {el} out "
                                        f"but {total_in:.4f} t in with the scrap", "blocking",
                                        fix="the scrap contents in the assumptions are too low for what the line "
                                            "made: give assayed contents (--assumptions)",
                                        data={"element": el, "in_t": total_in, "out_t": out}))
            for p in lm.made_t:
                s = stocks[lm.month][p]
                if el in s.element_t and total_in:
                    s.pre_t[el] = s.element_t[el] * pre / total_in
                    s.post_t[el] = s.element_t[el] * post / total_in
        balances.append(bal)
    _annual(stocks, annual)

    # 2. lines with feeds, in dependency order (a feed made on a pending line is resolved first)
    made_on = {p: lm for lm in pending for p in lm.made_t}
    for _ in range(len(pending) + 1):
        ready = [lm for lm in pending if not any(f in made_on and made_on[f] in pending and made_on[f] is not lm
                                                 for f in lm.feeds_t)]
        if not ready:
            break
        for lm in ready:
            pending.remove(lm)
            _feed_line(lm, a, feed_target, resolve, stocks, transfers, findings)
        _annual(stocks, annual)
    for lm in pending:
        findings.append(Finding("chain_unresolved", f"{lm.line}, month {lm.month}: its feeds form a loop",
                                "blocking", fix="check the consumption.product rows"))
    return ChainResult(dict(stocks), balances, transfers, findings)


def _feed_line(lm: LineMonth, a: Assumptions, feed_target: Callable[[str, set[str]], str | None],
               resolve: Callable[[str, int], Stock | None], stocks: dict[int, dict[str, Stock]],
               transfers: list[dict[str, Any]], findings: list[Finding]) -> None:
    made = {p: t for p, t in lm.made_t.items() if t > 0}
    total = sum(made.values())
    inputs = {p: Stock(t) for p, t in made.items()}
    for feed, t in lm.feeds_t.items():
        per_t = resolve(feed, lm.month)
        if per_t is None:
            findings.append(Finding("feed_content_unknown", f"{lm.line}, month {lm.month}: the element content of "
                                    f"{feed} is unknown (not made in the year, no composition)", "advisory",
                                    fix=f"add products.{feed} to the assumptions"))
            continue
        target = feed_target(feed, set(made))
        shares = {target: 1.0} if target in made else {p: m / total for p, m in made.items()}
        for p, share in shares.items():
            inputs[p].add(per_t, t * share)
            transfers.append({"line": lm.line, "month": lm.month, "feed": feed, "into": p, "t": t * share,
                              "element_t": {e: v * t * share for e, v in per_t.element_t.items()},
                              "pre_t": {e: v * t * share for e, v in per_t.pre_t.items()},
                              "post_t": {e: v * t * share for e, v in per_t.post_t.items()}})
    for el, t_el in _element_inputs(lm, a).items():
        for p, m in made.items():
            inputs[p].element_t[el] = inputs[p].element_t.get(el, 0.0) + t_el * m / total
    for p, s in inputs.items():
        spec = a.products.get(p, {})
        if "metal_of_feeds" in spec:      # a metal: the rare earths of its feeds, as a fraction of its mass
            re = sum(s.element_t.values())
            k = spec["metal_of_feeds"] * s.made_t / re if re > TOLERANCE else 0.0
            s = Stock(s.made_t, {e: v * k for e, v in s.element_t.items()}, {e: v * k for e, v in s.pre_t.items()},
                      {e: v * k for e, v in s.post_t.items()})
        stocks[lm.month][p] = s


def _annual(stocks: Mapping[int, dict[str, Stock]], annual: dict[str, Stock]) -> None:
    annual.clear()
    sums: dict[str, Stock] = {}
    for by_product in stocks.values():
        for p, s in by_product.items():
            acc = sums.setdefault(p, Stock(0.0))
            acc.made_t += s.made_t
            acc.add(s, 1.0)
    annual.update({p: s.per_t() for p, s in sums.items() if s.made_t})


def shares(s: Stock, elements: tuple[str, ...] = DECLARED + WHEN_PRESENT) -> dict[str, dict[str, Any]]:
    """Per element: element [t], recycled pre-/post-consumer [t] and shares [%] (None when not present)."""
    out: dict[str, dict[str, Any]] = {}
    for el in elements:
        t = s.element_t.get(el, 0.0)
        if el in WHEN_PRESENT and t <= TOLERANCE:
            continue
        pre, post = s.pre_t.get(el, 0.0), s.post_t.get(el, 0.0)
        present = t > TOLERANCE
        out[el] = {"present": present, "element_t": t, "recycled_pre_consumer_t": pre,
                   "recycled_post_consumer_t": post,
                   "pre_consumer_pct": 100 * pre / t if present else None,
                   "post_consumer_pct": 100 * post / t if present else None,
                   "total_recycled_pct": 100 * (pre + post) / t if present else None}
    return out


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
