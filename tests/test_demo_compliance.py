"""The demo's stacks as designed (docs/demo.md, "Air compliance"), checked on the data loggers' own uploads — without
a gateway or a ledger, so it runs in a second: the settings parse, every station has an outlet, the kiln's
maintenance gap covers exactly four hours, and exactly the three hours of the scrubber trip exceed a permit limit
(the browser test checks what the loaded demo shows)."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime

from rareeco.demo.compliance import MINUTE_MONTH, settings, stacks, uploads
from rareeco.ingest.hj212_profile import segments
from rareeco.monitoring import outlets

VALUE = re.compile(r"(a\d{5})-Avg=([\d.]+)")


def hourly_means(mn: str, cn: str) -> dict[datetime, dict[str, float]]:
    """Per hour, the mean of each channel over the uploads flagged N (minute data) or the hourly value (2061)."""
    stack = next(s for s in stacks() if s.mn == mn)
    start, end = MINUTE_MONTH if cn == "2051" else (datetime(2025, 1, 1), datetime(2026, 1, 1))
    sums: dict[datetime, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for seg in segments(stack, start, end, cn):
        if "-Flag=N" not in seg:
            continue
        t = datetime.strptime(re.search(r"DataTime=(\d{14})", seg).group(1), "%Y%m%d%H%M%S")  # type: ignore[union-attr]
        for code, v in VALUE.findall(seg):
            sums[t.replace(minute=0)][code].append(float(v))
    return {h: {c: sum(v) / len(v) for c, v in d.items()} for h, d in sums.items()}


def above(mn: str, cn: str, kind: str) -> set[tuple[datetime, str]]:
    """(hour, pollutant) whose hourly value, at the outlet's reference O2, exceeds an hourly limit of ``kind``."""
    outlet = next(o for o in outlets.parse(settings()).outlets if o.mn == mn)
    out = set()
    for hour, v in hourly_means(mn, cn).items():
        factor = 1.0 if outlet.reference_o2_pct is None else (21 - outlet.reference_o2_pct) / (21 - v["a19001"])
        for p in outlet.pollutants:
            if any(s.kind == kind and s.limit.period == "h" and v[p.code] * factor > s.limit.value for s in p.limits):
                out.add((hour, p.code))
    return out


def test_the_settings_and_the_stations() -> None:
    parsed = outlets.parse(settings())
    assert [(o.code, o.mn, o.site, o.line, o.reference_o2_pct) for o in parsed.outlets] == [
        ("DA001", "DEMOBTDA001", "baotou", "separation", 16.0), ("DA002", "DEMOBTDA002", "baotou", "metal", None)]
    assert {s.mn for s in stacks()} == {o.mn for o in parsed.outlets}
    kinds = {(o.code, p.code, s.kind) for o in parsed.outlets for p in o.pollutants for s in p.limits}
    assert ("DA001", "a21026", "target") in kinds and ("DA001", "a21026", "permit") in kinds
    kiln = next(s for s in stacks() if s.mn == "DEMOBTDA001")
    assert len(uploads(kiln)) == 8760 + 31 * 24 * 60                 # the year's hours, December's minutes


def test_the_maintenance_gap_is_four_hours() -> None:
    kiln = next(s for s in stacks() if s.mn == "DEMOBTDA001")
    flagged = {datetime.strptime(re.search(r"DataTime=(\d{14})", seg).group(1), "%Y%m%d%H%M%S")  # type: ignore[union-attr]
               for seg in segments(kiln, *MINUTE_MONTH, cn="2051") if "-Flag=M" in seg}
    assert len(flagged) == 4 * 60
    assert min(flagged) == datetime(2025, 12, 9, 9) and max(flagged) == datetime(2025, 12, 9, 12, 59)


def test_exactly_the_scrubber_trip_exceeds_a_permit_limit() -> None:
    trip = {(datetime(2025, 12, 17, h), "a21026") for h in (14, 15, 16)}
    assert above("DEMOBTDA001", "2051", "permit") == trip
    assert above("DEMOBTDA001", "2051", "target") == trip            # the ultra-low target over the same hours
    assert above("DEMOBTDA002", "2051", "permit") == above("DEMOBTDA002", "2051", "target") == set()
    for mn in ("DEMOBTDA001", "DEMOBTDA002"):                        # the logger's hourly data of the year
        year = {(h, p) for h, p in above(mn, "2061", "target") if h.month != 12}
        assert year == set() and {(h, p) for h, p in above(mn, "2061", "permit") if h.month != 12} == set()
