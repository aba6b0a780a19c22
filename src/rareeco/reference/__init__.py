"""Cited, versioned reference data: factor sets, the activity catalogue, grid regions.

A *factor set* is one CSV file (its id is the file stem) whose ``# key: value``
header lines describe the set and whose rows each carry value, unit, source,
verification tag (REFERENCE.md: V, S, C, U), version and validity.  The sets
shipped in ``data/`` are always available; a user adds a set as a file
(``rareeco factors add FILE``) and chooses it explicitly for a calculation.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources

from rareeco.errors import FactorNotFoundError, Finding, ReferenceDataError, UnitError
from rareeco.units import parse_unit

TAGS = {"V": "verified in a primary or reputable source",
        "S": "secondary transcription — unverified, check the primary text",
        "C": "computed (stoichiometry)",
        "U": "user-supplied"}
FACTOR_COLUMNS = ("factor_id", "kind", "key", "year", "gas", "value", "unit", "source", "tag",
                  "version", "valid_from", "valid_to", "note")
REQUIRED_COLUMNS = ("factor_id", "kind", "key", "value", "unit", "source", "tag", "version")
BUILTIN_SETS = ("cn-mee-grid", "cn-electricity-cfp", "ipcc-2006-fuels", "cn-nonferrous-2015",
                "gbt2589-coal-equivalent", "gwp-ar5", "gwp-ar6", "stoichiometry", "re-prices")
GWP_SETS = {"ar5": "gwp-ar5", "ar6": "gwp-ar6"}


@dataclass(frozen=True)
class Factor:
    """One cited reference value."""

    factor_id: str
    set_id: str
    kind: str
    key: str
    value: float
    unit: str
    source: str
    tag: str
    version: str
    year: int | None = None
    gas: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    note: str = ""

    def cite(self) -> str:
        return f"{self.factor_id} = {self.value:g} {self.unit} [{self.tag}] — {self.source} (v{self.version})"


@dataclass
class FactorSet:
    set_id: str
    meta: dict[str, str]
    factors: list[Factor]
    sha256: str
    builtin: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.meta.get("title", self.set_id)


def _read_csv_with_meta(text: str) -> tuple[dict[str, str], list[dict[str, str]], list[str]]:
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            k, _, v = line[1:].partition(":")
            if v:
                meta[k.strip()] = v.strip()
        elif line.strip():
            body.append(line)
    reader = csv.DictReader(io.StringIO("\n".join(body)))
    return meta, list(reader), list(reader.fieldnames or [])


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def parse_factor_set(text: str, set_id: str, file_name: str | None = None, builtin: bool = False) -> FactorSet:
    """Parse and validate a factor-set CSV; every problem is a finding with its row and column.

    Raises :class:`ReferenceDataError` listing all blocking findings.
    """
    file_name = file_name or f"{set_id}.csv"
    meta, rows, columns = _read_csv_with_meta(text)
    findings: list[Finding] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ReferenceDataError(f"{file_name}: missing columns {', '.join(missing)}",
                                 fix=f"the header must contain {', '.join(FACTOR_COLUMNS)}")
    factors: list[Factor] = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):
        def bad(column: str, message: str, fix: str, row_no: int = i, raw: dict[str, str] = row) -> None:
            findings.append(Finding("factor_invalid", message, file=file_name, row=row_no, column=column,
                                    value=raw.get(column), fix=fix))
        fid = (row.get("factor_id") or "").strip()
        if not fid:
            bad("factor_id", "empty factor id", "give every row a unique factor_id")
            continue
        if fid in seen:
            bad("factor_id", f"duplicate factor id {fid!r}", "factor ids must be unique within a set")
        seen.add(fid)
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            bad("value", f"value {row.get('value')!r} is not a number", "write a plain decimal number")
            continue
        unit = (row.get("unit") or "").strip()
        try:
            parse_unit(unit)
        except UnitError:
            bad("unit", f"unknown unit {unit!r}", "write the unit as e.g. 't CO2/MWh' or 'kg CO2e/t'")
            continue
        tag = (row.get("tag") or "").strip()
        if tag not in TAGS:
            bad("tag", f"verification tag {tag!r} is not one of V, S, C, U",
                "tag each value V (primary source), S (secondary), C (computed) or U (user-supplied)")
        if not (row.get("source") or "").strip():
            bad("source", "no source", "name the document the value comes from")
        year_text = (row.get("year") or "").strip()
        try:
            year = int(year_text) if year_text else None
            vf, vt = _date((row.get("valid_from") or "").strip()), _date((row.get("valid_to") or "").strip())
        except ValueError:
            bad("year", "year or validity date malformed", "write years as YYYY and dates as YYYY-MM-DD")
            continue
        factors.append(Factor(fid, set_id, row["kind"].strip(), row["key"].strip(), value, unit,
                              row["source"].strip(), tag, row["version"].strip(), year,
                              (row.get("gas") or "").strip() or None, vf, vt, (row.get("note") or "").strip()))
    if findings:
        raise ReferenceDataError(f"{file_name}: {len(findings)} problem(s) in the factor set",
                                 fix="correct the rows listed and add the file again", findings=findings)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return FactorSet(set_id, meta, factors, digest, builtin)


@cache
def builtin_set(set_id: str) -> FactorSet:
    if set_id not in BUILTIN_SETS:
        raise FactorNotFoundError(f"no built-in factor set {set_id!r}",
                                  fix=f"built-in sets are: {', '.join(BUILTIN_SETS)}")
    text = resources.files(__package__).joinpath("data", f"{set_id}.csv").read_text("utf-8")
    return parse_factor_set(text, set_id, builtin=True)


def builtin_sets() -> list[FactorSet]:
    return [builtin_set(s) for s in BUILTIN_SETS]


class FactorTable:
    """Factor look-up over an ordered list of sets: earlier sets take precedence."""

    def __init__(self, sets: Sequence[FactorSet]):
        self.sets = list(sets)
        self._index: dict[tuple[str, str], list[Factor]] = {}
        for s in self.sets:
            for f in s.factors:
                self._index.setdefault((f.kind, f.key), []).append(f)

    def versions(self) -> dict[str, str]:
        return {s.set_id: s.sha256[:16] for s in self.sets}

    def find(self, kind: str, key: str, year: int | None = None, gas: str | None = None) -> Factor | None:
        """First factor of ``kind``/``key`` (and ``year``, ``gas`` when given) in precedence order."""
        for f in self._index.get((kind, key), []):
            if (year is None or f.year == year) and (gas is None or f.gas == gas):
                return f
        return None

    def all(self, kind: str, key: str) -> list[Factor]:
        return list(self._index.get((kind, key), []))

    def get(self, kind: str, key: str, gas: str | None = None) -> Factor:
        f = self.find(kind, key, gas=gas)
        if f is None:
            raise FactorNotFoundError(
                f"no factor of kind {kind!r} for {key!r}" + (f" ({gas})" if gas else "")
                + f" in the factor sets {', '.join(s.set_id for s in self.sets)}",
                fix=f"add a factor set with a row kind={kind}, key={key} (rareeco factors add FILE) "
                    "and choose it with --factors")
        return f

    def years(self, kind: str, key: str) -> list[int]:
        return sorted({f.year for f in self._index.get((kind, key), []) if f.year is not None})

    def gwp(self, gwp_set: str) -> dict[str, Factor]:
        """GWP100 per gas from the set named ``ar5`` or ``ar6`` (or a user set id)."""
        set_id = GWP_SETS.get(gwp_set.lower(), gwp_set)
        out = {f.key: f for s in self.sets if s.set_id == set_id for f in s.factors if f.kind == "gwp100"}
        if not out:
            raise FactorNotFoundError(f"no GWP set {gwp_set!r}", fix="use --gwp ar6 or --gwp ar5")
        return out


def iter_factors(sets: Iterable[FactorSet]) -> Iterable[Factor]:
    for s in sets:
        yield from s.factors
