"""The activity catalogue and the province → grid-region table (data files in ``data/``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rareeco.reference import _read_csv_with_meta


@dataclass(frozen=True)
class Activity:
    """One kind of activity data a plant reports (a row of ``activities.csv``)."""

    activity: str
    label_en: str
    label_zh: str
    unit: str          # canonical unit; amounts are stored in it
    scope: int         # GHG Protocol scope; 0 = not an emission source
    category: str      # GHG Protocol source category / scope 3 category
    iso_category: int  # ISO 14064-1:2018 clause 5.2.4 category (1–6), 0 = none
    calc: str          # calculation rule (rareeco.inventory.sources)
    key: str           # factor key the rule looks up
    gas: str
    note: str

    def label(self, lang: str = "en") -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en


def _data(name: str) -> str:
    return resources.files("rareeco.reference").joinpath("data", name).read_text("utf-8")


@lru_cache(maxsize=1)
def activities() -> dict[str, Activity]:
    _, rows, _ = _read_csv_with_meta(_data("activities.csv"))
    return {r["activity"]: Activity(r["activity"], r["label_en"], r["label_zh"], r["unit"], int(r["scope"]),
                                    r["category"], int(r["iso_category"]), r["calc"], r["key"], r["gas"],
                                    r["note"]) for r in rows}


@lru_cache(maxsize=1)
def grid_regions() -> dict[str, str]:
    """Province (ISO 3166-2) → default regional grid code."""
    _, rows, _ = _read_csv_with_meta(_data("grid-regions-cn.csv"))
    return {r["province"]: r["grid_region"] for r in rows}
