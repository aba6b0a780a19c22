"""Compliance-settings skeletons built from the standards' template files (docs/compliance.md).

``reference/data/gb26451-template.yaml`` lists the pollutants GB 26451-2011 regulates for rare-earth plants with
their HJ 212-2017 codes (REFERENCE.md §6) and the one verified limit (ammonia nitrogen, REFERENCE.md §5).  Its air
limits are U: :func:`skeleton` writes them as ``value: null`` with a comment saying where the value comes from,
so the skeleton is refused by :func:`rareeco.monitoring.outlets.parse` until the user has filled every one in.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import yaml

from rareeco.errors import ValidationFailed
from rareeco.monitoring.cems import Validity

TEMPLATES = {"gb26451": "gb26451-template.yaml"}
PLACEHOLDER = "CHANGE-ME"


@cache
def template(name: str) -> dict[str, Any]:
    """The template data file ``name`` (e.g. ``gb26451``) as loaded from the package."""
    if name not in TEMPLATES:
        raise ValidationFailed(f"no settings template {name!r}", fix=f"use one of {', '.join(TEMPLATES)}")
    text = resources.files("rareeco.reference").joinpath("data", TEMPLATES[name]).read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _s(v: Any) -> str:
    """A YAML scalar (JSON is YAML): strings quoted, None as null."""
    return "null" if v is None else json.dumps(v, ensure_ascii=False)


def _line(indent: int, key: str, value: Any, comment: str = "") -> str:
    return _c(f"{' ' * indent}{key}: {_s(value)}", comment)


def _c(text: str, comment: str) -> str:
    """``text`` with ``comment`` aligned at column 45 (at least two spaces after the text)."""
    return f"{text + '  ':<44}# {comment}" if comment else text


def skeleton(name: str = "gb26451") -> str:
    """A settings file (YAML, with comments) for one air outlet and one water outlet carrying the template's
    pollutants; every U value is null, every plant-specific value ``CHANGE-ME``."""
    t = template(name)
    v = Validity()
    air, water = t["air"], t["water"]
    out = [f"# rareeco compliance settings (docs/compliance.md) — skeleton from {name} "
           f"(reference/data/{TEMPLATES[name]}, version {t['version']})",
           f"# {t['source']}",
           "# Fill in every null and CHANGE-ME, delete the pollutants and outlets your plant does not monitor, then:",
           "#   rareeco compliance settings import FILE --org ORG",
           "# Import refuses the file while a limit has no value: the standard's air limits are not shipped (U).",
           "validity:                                   # HJ 75-2017 §12 minimums are U here: confirm them",
           _line(2, "hour_min_valid_fraction", v.hour_min_valid_fraction, "share of an hour's values that must be "
                 "valid"),
           _line(2, "day_min_valid_hours", v.day_min_valid_hours, "valid hours a daily average needs"),
           "webhook:",
           _line(2, "url", None, "https://… receives each new exceedance (POST, JSON)"),
           _line(2, "secret_env", None, "name of the environment variable holding the HMAC secret"),
           "outlets:"]

    def outlet(o: dict[str, Any], kind: str) -> None:
        out.append(_c(f"  - code: {_s(o['code'])}", "the permit's outlet code"))
        out.append(_line(4, "name", o["name"]))
        out.append(_line(4, "name_zh", o["name_zh"]))
        out.append(_line(4, "mn", PLACEHOLDER, "the data logger's MN (rareeco hj212 station add)"))
        out.append(_line(4, "site", PLACEHOLDER, "the site code (rareeco site list)"))
        out.append(_line(4, "line", None, "the production line it serves (for the footprints)"))
        out.append(_line(4, "interval_s", 60, "seconds between the logger's minute values"))
        if kind == "air":
            out.append(_line(4, "reference_o2_pct", None, "U — the reference O2 % of your permit; null: none"))
            out.append(_line(4, "basis", "standard_dry", "or actual_wet (then T, P, moisture are converted)"))
            out.append(_c("    flow: {code: a00000, unit: m3/h}", "standard dry flue-gas flow (HJ 212 a00000, S)"))
        else:
            out.append(_line(4, "basis", "standard_dry", "(no conversion for water)"))
            out.append(_c(f"    flow: {{code: {PLACEHOLDER}, unit: m3/h}}", "U — the HJ 212 code of the wastewater "
                          "flow channel"))
        out.append(_line(4, "substitution", False, "40 CFR 75.33 substitution of missing hours in quantities"))
        out.append("    pollutants:")

    def pollutant(p: dict[str, Any], limits: list[dict[str, Any]], note: str) -> None:
        code_note = ("HJ 212-2017 code (REFERENCE.md §6, S)" if p.get("code") else
                     "U — HJ 212 code not given in REFERENCE.md §6: take it from your data logger")
        out.append(_c(f"      - code: {_s(p.get('code'))}", code_note))
        out.append(_line(8, "name", p["name"]))
        out.append(_line(8, "name_zh", p["name_zh"]))
        out.append(_line(8, "unit", p["unit"]))
        out.append("        limits:")
        for lim in limits:
            prefix = "        # " if lim.get("special") else "        "
            if lim.get("special"):
                out.append("        # special limit, where it applies (replace the limit above):")
            out.append(_c(f"{prefix}- value: {_s(lim.get('value'))}",
                          note if lim.get("value") is None else f"{lim['tag']} — verified: {lim['source']}"))
            pad = prefix.replace("- ", "") + "  "
            out.append(_c(f"{pad}period: {_s(lim.get('period', 'h'))}", "the permit's averaging period: h, d, or y "
                          "(a yearly quantity in t)"))
            out.append(_c(f"{pad}kind: {_s(lim.get('kind', 'permit'))}", "permit, or target (e.g. ultra-low)"))
            out.append(_c(f"{pad}source: {_s(lim.get('source'))}", "the permit clause or table"))

    outlet(air["outlet"], "air")
    for p in air["pollutants"]:
        pollutant(p, [{"value": None, "period": "h", "kind": "permit", "source": "GB 26451-2011"}], air["note"])
    outlet(water["outlet"], "water")
    for p in water["pollutants"]:
        pollutant(p, p["limits"], "")
    return "\n".join(out) + "\n"
