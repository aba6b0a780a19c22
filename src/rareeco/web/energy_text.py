"""Sentences the energy calculators write (validity reasons, range warnings, notes), shown in the reader's language.

The calculators write English sentences with values in them (:mod:`rareeco.energy.baseline`,
:mod:`rareeco.energy.service`).  Each pattern below is one such sentence as a message id with ``{placeholders}``;
:func:`translate` matches a sentence against them and fills the translated message with the same values.  A
sentence no pattern matches is shown as written.  :data:`MESSAGES` is read by :mod:`rareeco.web.catalogue`, so
the Chinese catalogue must translate every one.
"""

from __future__ import annotations

import re
from functools import cache

from rareeco.web import i18n

MESSAGES: tuple[str, ...] = (
    # rareeco.energy.baseline._validity
    "only {n} data points; at least {min} are required",
    "model p-value {p} is not below {max}",
    "variable {v} p-value {p} exceeds {max}",
    "no variable has a p-value ≤ {max}",
    "R² {r2} is below {min}",
    # rareeco.energy.baseline.range_warnings / production_note
    "period {period}: {v} = {value} is outside the baseline range {lo} … {hi} (mean ± {k}σ)",
    "no production variable is in the chosen model: energy is explained by {variables} only, so the baseline "
    "does not scale with output",
    # rareeco.energy.service.baseline
    "{v} is left out of the candidates: it does not vary over the baseline months ({n} values)",
    "{v} is missing for {n} baseline month(s); models with it use the other months",
    "no model meets the EnPI / VERIFI rules, so no savings are computed: each model's reasons say which rule it "
    "failed",
    "reporting months without {variables} are left out: {months}",
    "no reporting data of {line} in {year}",
    # rareeco.energy.month.month_summary
    "no quota map configured: GB 29435 levels are not shown",
    "no line of {org} recorded energy or production in {month}",
    "{kgce} kgce recorded without a line (site level) are in the energy by carrier but not in the energy per tonne",
)


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for msgid in MESSAGES:
        rx = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+?)", re.escape(msgid))
        out.append((re.compile(rx), msgid))
    return tuple(out)


def translate(text: str, lang: str) -> str:
    """``text`` (a calculator's sentence) in ``lang``; unchanged when English or when no pattern matches."""
    if i18n.normalise(lang) == "en":
        return text
    for rx, msgid in _patterns():
        m = rx.fullmatch(text)
        if m:
            return i18n.translations(lang).gettext(msgid).format(**m.groupdict())
    return text
