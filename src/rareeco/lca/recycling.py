"""Recycling rules and module D: secondary material entering and leaving a product system.

A product system may *use* secondary material (recycled or recovered in an earlier life cycle:
an input marked ``secondary``) and *give* secondary material to a later one (production scrap or
end-of-life material leaving the system: ``recovered``).  Two rules say how they count:

**cut-off** (the recycled-content or 100:0 approach; EN 15804:2012+A2:2019 §6.4.3.3, ISO 14067:2018
§6.4.6.3 and Annex D).  A secondary input carries only the burdens of the processes that supply it
(the recycling route, from the end-of-waste point on); a recovered output leaves the system free of
burdens and gives no credit.  The net benefit or load beyond the system boundary is **module D**,
reported beside the score and never added to it:

.. math::

    D = \\sum_m \\mathrm{net}_m \\, (E_{\\mathrm{route},m} - E_{\\mathrm{virgin},m} \\, Q_m), \\qquad
    \\mathrm{net}_m = \\sum_{k \\in \\mathrm{out}_m} r_k - \\sum_{l \\in \\mathrm{in}_m} x_l

for each material *m* (the secondary inputs and recovered outputs that replace the same virgin
process), with :math:`r_k` and :math:`x_l` the recovered and secondary amounts in the whole supply
[unit of the virgin product], :math:`E_{\\mathrm{virgin}}` the score of one unit of the replaced
virgin product and :math:`Q` the quality ratio :math:`Q_R / Q_{\\mathrm{Sub}}` (EN 15804+A2
§6.4.3.3: net output flow = output minus input of the same secondary material).  When the net flow
is an output (:math:`\\mathrm{net}_m > 0`), :math:`E_{\\mathrm{route}}` and :math:`Q` are those of the
recovered outputs — the score of one unit of their recycling process, zero when none is named — as
an amount-weighted mean if there are several.  When more secondary material comes in than goes out
(:math:`\\mathrm{net}_m < 0`) they are those of the secondary inputs (the score of their supplier and
their quality ratio), so module D is then a load: the system uses secondary material that an
earlier system could otherwise have credited.  This second case is this project's reading where
the standard leaves the details to the PCR; it makes the two rules below agree.

**avoided-burden** (the end-of-life recycling or 0:100 approach; ISO 14067:2018 §6.4.6.3 and Annex
D).  The same credit is included in the score: score = cut-off score + D.  With equal quality
ratios a secondary input then costs the virgin burden × Q rather than its recycling route, and a
recovered output earns the avoided virgin production less its recycling.

Context only: the EU Product Environmental Footprint's Circular Footprint Formula (Commission
Recommendation (EU) 2021/2279) shares burdens and credits between the supplier and the user of
recycled material with a factor A (0.2–0.8 by material); its material terms reduce to the cut-off
rule for A = 1 and to the avoided-burden rule for A = 0.  It is not implemented here.

References
----------
EN 15804:2012+A2:2019, Sustainability of construction works — Environmental product declarations,
§6.4.3.3 (module D; net output flows of secondary material).
ISO 14067:2018, Greenhouse gases — Carbon footprint of products, §6.4.6.3 (allocation procedures for
reuse and recycling) and Annex D (recycling approaches).
ISO 14044:2006 §4.3.4.3 (allocation procedures for reuse and recycling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rareeco.lca.errors import LCAError

RecyclingRule = Literal["cut-off", "avoided-burden"]
RULES: tuple[RecyclingRule, ...] = ("cut-off", "avoided-burden")


@dataclass(frozen=True)
class SecondaryFlow:
    """Secondary material crossing the system boundary per run of ``process``.

    Parameters
    ----------
    process : str
        The process whose runs use (``direction="in"``) or give (``"out"``) the material.
    direction : {"in", "out"}
        ``"in"``: a secondary input; ``"out"``: recovered material leaving the system.
    amount : float
        Per run of ``process`` [reference unit of the ``replaces`` process].
    replaces : str
        The virgin process the material substitutes; flows with the same ``replaces`` are one material.
    route : str or None
        ``"out"``: the recycling process that turns the recovered material into the substitute
        (None: no recycling burden); ``"in"``: the process supplying the secondary input.
    route_per_unit : float
        Units of the route's product per unit of the replaced product [route unit per virgin unit].
    quality_ratio : float
        :math:`Q_R / Q_{Sub}` [-], 0–1.
    material : str
        A label (the recovered material, or the secondary input's supplier).
    """

    process: str
    direction: Literal["in", "out"]
    amount: float
    replaces: str
    route: str | None = None
    route_per_unit: float = 1.0
    quality_ratio: float = 1.0
    material: str = ""


@dataclass(frozen=True)
class MaterialBalance:
    """One material of module D: amounts [virgin unit], burdens [score unit per virgin unit] and its value."""

    replaces: str
    materials: tuple[str, ...]
    recovered: float
    secondary_input: float
    net: float
    route_burden: float
    virgin_burden: float
    quality_ratio: float
    value: float


@dataclass(frozen=True)
class ModuleD:
    """Module D [score unit]: its ``value``, each material's balance, and whether the rule adds it to the score."""

    value: float
    materials: tuple[MaterialBalance, ...]
    rule: RecyclingRule

    @property
    def included(self) -> bool:
        """True under the avoided-burden rule (the credit is part of the score)."""
        return self.rule == "avoided-burden"


def _weighted(pairs: Sequence[tuple[float, float]]) -> float:
    total = math.fsum(w for w, _ in pairs)
    return math.fsum(w * v for w, v in pairs) / total if total else 0.0


def material_balance(flows: Sequence[SecondaryFlow], supply: Mapping[str, float],
                     unit_scores: Mapping[str, float]) -> MaterialBalance:
    """Module D of one material (all ``flows`` replace the same virgin process).

    Parameters
    ----------
    flows : sequence of SecondaryFlow
        The secondary inputs and recovered outputs of one material.
    supply : mapping process id → runs [-]
        The supply vector of the demand (processes left out run 0 times).
    unit_scores : mapping process id → score of one unit of its product [score unit per unit]
        λ of :meth:`rareeco.lca.solve.LCA.product_scores`; needs the virgin and route processes.

    Notes
    -----
    :math:`D_m = \\mathrm{net}_m (E_{\\mathrm{route}} - E_{\\mathrm{virgin}} Q)` with route burden and
    quality of the side in excess (module notes; EN 15804:2012+A2:2019 §6.4.3.3).
    """
    if not flows or len({f.replaces for f in flows}) != 1:
        raise LCAError("a material balance needs flows replacing one virgin process", fix="group flows by replaces")
    replaces = flows[0].replaces
    totals = [(f, f.amount * float(supply.get(f.process, 0.0))) for f in flows]

    def side(direction: str) -> list[tuple[SecondaryFlow, float]]:
        return [(f, a) for f, a in totals if f.direction == direction]

    out, inn = side("out"), side("in")
    recovered, secondary = math.fsum(a for _, a in out), math.fsum(a for _, a in inn)
    net = recovered - secondary
    excess = out if (net > 0 or not inn) else inn
    route = _weighted([(a, unit_scores[f.route] * f.route_per_unit if f.route else 0.0) for f, a in excess])
    quality = _weighted([(a, f.quality_ratio) for f, a in excess])
    virgin = float(unit_scores[replaces])
    value = net * (route - virgin * quality)   # EN 15804+A2 §6.4.3.3
    labels = tuple(sorted({f.material for f in flows if f.material}))
    return MaterialBalance(replaces, labels, recovered, secondary, net, route, virgin, quality, value)


def module_d(flows: Sequence[SecondaryFlow], supply: Mapping[str, float], unit_scores: Mapping[str, float],
             rule: RecyclingRule = "cut-off") -> ModuleD:
    """Module D of a demand: the sum of :func:`material_balance` over the materials of ``flows``.

    Parameters
    ----------
    flows : sequence of SecondaryFlow
        Per run of their processes (see :class:`SecondaryFlow`).
    supply : mapping process id → runs [-]
        The supply vector of the demand.
    unit_scores : mapping process id → score per unit of product [score unit per unit]
    rule : {"cut-off", "avoided-burden"}
        Whether the value is reported separately (cut-off, EN 15804+A2 §6.4.3.3) or part of the
        score (avoided-burden, ISO 14067:2018 §6.4.6.3 and Annex D); it does not change the value.

    Returns
    -------
    ModuleD
        ``value`` [score unit] and one :class:`MaterialBalance` per replaced virgin process.
    """
    if rule not in RULES:
        raise LCAError(f"unknown recycling rule {rule!r}", fix=f"use one of {', '.join(RULES)}")
    groups: dict[str, list[SecondaryFlow]] = {}
    for f in flows:
        groups.setdefault(f.replaces, []).append(f)
    balances = tuple(material_balance(g, supply, unit_scores) for g in groups.values())
    return ModuleD(math.fsum(b.value for b in balances), balances, rule)


def total_score(score: float, d: ModuleD | None) -> float:
    """The declared score: ``score`` (cut-off: module D apart) or ``score + D`` (avoided-burden) [score unit]."""
    return score + d.value if d is not None and d.included else score
