"""The demo's air compliance: two CEMS stations at Baotou fed through the real HJ 212 gateway (docs/demo.md).

``compliance.yaml`` holds the outlets and their (demo) limits; ``stacks.yaml`` the stack profiles.  Loading:

1. the settings and the two stations (MN and password) are stored, in one transaction;
2. the stations' uploads — December 2025 minute data (CN 2051) and the whole of 2025 as hourly data (CN 2061) —
   are replayed to an in-process :class:`~rareeco.ingest.hj212_gateway.Gateway` on an ephemeral loopback port,
   which checks, stores and acknowledges them on its own connections, as it does for a real data logger;
3. the stored frames are processed into CEMS series (:func:`rareeco.monitoring.processing.process`) and the
   exceedances of 2025 detected (:func:`rareeco.monitoring.compliance.detect`).

It needs committed data and the engine (the gateway writes on its own connections; on SQLite a session holding a
write transaction would block it), so it runs after :func:`rareeco.demo.load.load_demo`'s transaction.  Idempotent:
a station whose frames are stored is not replayed again, and processing and detection never double anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Engine, func, select

from rareeco.ingest.hj212_profile import Stack, frames, parse_profile, replay
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import CemsStation, ComplianceEvent, Hj212Frame, Organisation
from rareeco.monitoring import compliance, outlets, processing

ORG = "demo"
YEAR = 2025
MINUTE_MONTH = (datetime(2025, 12, 1), datetime(2026, 1, 1))   # station local time
ACTOR = "demo-loader"


def _yaml(name: str) -> Any:
    return yaml.safe_load(resources.files("rareeco.demo").joinpath(name).read_text("utf-8"))


def settings() -> dict[str, Any]:
    """The demo's compliance settings (``compliance.yaml``) as stored in the organisation's settings."""
    raw: dict[str, Any] = _yaml("compliance.yaml")
    return raw


def stacks() -> list[Stack]:
    return parse_profile(_yaml("stacks.yaml"), "demo/stacks.yaml")


def uploads(stack: Stack) -> list[bytes]:
    """What the stack's data logger sends: the year's hourly data, then December's minute data."""
    return (frames(stack, datetime(YEAR, 1, 1), datetime(YEAR + 1, 1, 1), "2061")
            + frames(stack, *MINUTE_MONTH, cn="2051"))


def _through_gateway(engine: Engine, data: dict[str, list[bytes]]) -> dict[str, int]:
    from rareeco.ingest.hj212_gateway import Gateway, GatewayOptions

    async def main() -> dict[str, int]:
        gw = Gateway(engine, "127.0.0.1", 0, GatewayOptions())
        await gw.start()
        try:
            return await replay("127.0.0.1", gw.port, data)
        finally:
            await gw.stop()

    return asyncio.run(main())


def load_compliance(engine: Engine, progress: Callable[[str], None] | None = None) -> str:
    """Load the demo's stacks (after the demo organisation is committed); returns what was done."""
    from rareeco.ingest.hj212_gateway import add_station

    say = progress or (lambda _m: None)
    profile = stacks()
    raw = settings()
    passwords = {s.mn: s.password for s in profile}
    with session_scope(engine) as s:
        if s.get(Organisation, ORG) is None:
            return "compliance: no demo organisation"
        if (s.get(Organisation, ORG).settings or {}).get("compliance") != raw:   # type: ignore[union-attr]
            outlets.save(s, ORG, raw)
        have = {mn: sid for sid, mn in s.execute(select(CemsStation.id, CemsStation.mn)
                                                 .where(CemsStation.org_id == ORG))}
        for o in outlets.parse(raw).outlets:
            if o.mn not in have:
                have[o.mn] = add_station(s, ORG, o.site, o.mn, passwords[o.mn], o.name, ACTOR).id
        stored = {mn: s.execute(select(func.count()).select_from(Hj212Frame)
                                .where(Hj212Frame.station_id == have[mn])).scalar_one() for mn in passwords}
    todo = {st.mn: st for st in profile if not stored.get(st.mn)}
    done: list[str] = []
    if todo:
        say(f"replaying the CEMS stacks {', '.join(todo)} to an HJ 212 gateway")
        sent = _through_gateway(engine, {mn: uploads(st) for mn, st in todo.items()})
        done.append(f"{sent['acknowledged']:,} of {sent['sent']:,} HJ 212 frames acknowledged")
    result = processing.process(engine, ORG)
    if result.frames:
        done.append(f"{result.points_stored:,} CEMS points")
    with session_scope(engine) as s:
        any_event = s.execute(select(ComplianceEvent.id).where(ComplianceEvent.org_id == ORG).limit(1)).first()
    if result.frames or any_event is None:
        say("detecting the 2025 exceedances")
        with session_scope(engine) as s:
            new = compliance.detect(s, ORG, datetime(YEAR, 1, 1), datetime(YEAR + 1, 1, 1))
            done.append(f"{len(new)} exceedance events")
    return ("compliance: " + "; ".join(done)) if done else "compliance: already loaded — nothing changed"
