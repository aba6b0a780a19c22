"""Stack profiles: a data logger's uploads of a described stack, replayed to the gateway (docs/compliance.md).

Where :mod:`rareeco.ingest.hj212_simulate` measures the gateway with many random stations, a *profile* describes
a few real-looking stacks over a stretch of station time — each channel's typical value and spread, and
*episodes*: a maintenance window (flag M), a stop (flag F), an upset (a channel's values multiplied), a silence
(no uploads) — and produces their minute (CN 2051) or hourly (CN 2061) uploads.  :func:`replay` sends them to a
gateway over TCP, one connection per station, and counts the 9014 replies, exactly as a data logger would.

Values are deterministic for a seed: a mean-reverting random walk per channel, rounded as the logger would.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rareeco.errors import ValidationFailed
from rareeco.ingest import hj212

EPISODE_KINDS = ("maintenance", "calibration", "fault", "stopped", "upset", "silent")
#: Episode kind → the HJ 212-2017 data flag its minutes carry (Table 8).
EPISODE_FLAG = {"maintenance": "M", "calibration": "C", "fault": "D", "stopped": "F"}


@dataclass(frozen=True)
class Channel:
    code: str
    typical: float          # in the channel's unit
    spread: float = 0.05    # relative standard deviation of the walk [-]
    decimals: int = 2


@dataclass(frozen=True)
class Episode:
    kind: str               # one of EPISODE_KINDS
    start: datetime         # station local time, inclusive
    end: datetime           # exclusive
    factor: float = 1.0     # upset: the channels' values are multiplied by it
    codes: tuple[str, ...] = ()   # upset: the channels it applies to (all when empty)


@dataclass(frozen=True)
class Stack:
    mn: str
    password: str
    channels: tuple[Channel, ...]
    episodes: tuple[Episode, ...] = ()
    seed: int = 1
    stopped_values: dict[str, float] = field(default_factory=dict)   # what channels read while stopped (O2 → 20.9)


def _walk(stack: Stack, steps: int) -> dict[str, list[float]]:
    rng = random.Random(stack.seed)
    out: dict[str, list[float]] = {}
    for ch in stack.channels:
        x, values = 0.0, []
        for _ in range(steps):
            x = 0.9 * x + rng.gauss(0.0, ch.spread)   # AR(1): mean-reverting around the typical value
            values.append(max(0.0, ch.typical * (1.0 + x)))
        out[ch.code] = values
    return out


def _episode(stack: Stack, t: datetime) -> list[Episode]:
    return [e for e in stack.episodes if e.start <= t < e.end]


def segments(stack: Stack, start: datetime, end: datetime, cn: str = "2051") -> Iterator[str]:
    """The data segments the stack's logger uploads for periods in [start, end): minute (2051, every 60 s) or
    hourly (2061) data with Avg/Min/Max/Flag per channel; a silent period uploads nothing."""
    step = {"2051": timedelta(minutes=1), "2061": timedelta(hours=1)}.get(cn)
    if step is None:
        raise ValidationFailed(f"profiles upload minute (2051) or hourly (2061) data, not CN={cn}",
                               fix="use 2051 or 2061")
    n = math.ceil((end - start) / step)
    walk = _walk(stack, n)
    head = f";ST=31;CN={cn};PW={stack.password};MN={stack.mn};Flag=5;CP=&&DataTime="
    for k in range(n):
        t = start + k * step
        active = _episode(stack, t)
        if any(e.kind == "silent" for e in active):
            continue
        flag = next((EPISODE_FLAG[e.kind] for e in active if e.kind in EPISODE_FLAG), "N")
        items = []
        for ch in stack.channels:
            v = walk[ch.code][k]
            for e in active:
                if e.kind == "upset" and (not e.codes or ch.code in e.codes):
                    v *= e.factor
            if flag == "F" and ch.code in stack.stopped_values:
                v = stack.stopped_values[ch.code]
            d = ch.decimals
            items.append(f"{ch.code}-Avg={v:.{d}f},{ch.code}-Min={v * 0.97:.{d}f},{ch.code}-Max={v * 1.03:.{d}f},"
                         f"{ch.code}-Flag={flag}")
        stamp = t.strftime("%Y%m%d%H%M%S")
        yield f"QN={stamp}000{head}{stamp};{';'.join(items)}&&"


def frames(stack: Stack, start: datetime, end: datetime, cn: str = "2051") -> list[bytes]:
    return [hj212.frame(s) for s in segments(stack, start, end, cn)]


def parse_profile(raw: Any, source: str = "profile") -> list[Stack]:
    """Stacks from a profile's YAML form (see ``demo/stacks.yaml``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("stacks"), list):
        raise ValidationFailed(f"{source}: expected a mapping with a list 'stacks'", fix="see docs/compliance.md")
    out = []
    for i, s in enumerate(raw["stacks"]):
        at = f"{source}: stacks[{i}]"
        try:
            channels = tuple(Channel(str(c["code"]), float(c["typical"]), float(c.get("spread", 0.05)),
                                     int(c.get("decimals", 2))) for c in s["channels"])
            episodes = []
            for e in s.get("episodes") or []:
                if e["kind"] not in EPISODE_KINDS:
                    raise ValidationFailed(f"{at}: episode kind {e['kind']!r}", fix=f"use {', '.join(EPISODE_KINDS)}")
                episodes.append(Episode(e["kind"], datetime.fromisoformat(str(e["start"])),
                                        datetime.fromisoformat(str(e["end"])), float(e.get("factor", 1.0)),
                                        tuple(e.get("codes") or ())))
            out.append(Stack(str(s["mn"]), str(s.get("password", "123456")), channels, tuple(episodes),
                             int(s.get("seed", i + 1)), {str(k): float(v) for k, v in
                                                         (s.get("stopped_values") or {}).items()}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationFailed(f"{at}: {exc!r}", fix="give mn, channels (code, typical) and episodes "
                                   "(kind, start, end)") from None
    return out


async def replay(host: str, port: int, uploads: dict[str, list[bytes]], window: int = 64,
                 timeout_s: float = 30.0) -> dict[str, int]:
    """Send each station's frames over its own connection, at most ``window`` unacknowledged, and count the
    data replies (9014) — what a data logger's send-and-wait does, pipelined."""

    async def one(frames: list[bytes]) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection(host, port)
        acked = sent = 0
        try:
            while acked < len(frames):
                while sent < len(frames) and sent - acked < window:
                    writer.write(frames[sent])
                    sent += 1
                await writer.drain()
                line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout_s)
                if b";CN=9014;" in line:
                    acked += 1
        finally:
            writer.close()
            await writer.wait_closed()
        return sent, acked

    results = await asyncio.gather(*(one(f) for f in uploads.values() if f))
    return {"sent": sum(r[0] for r in results), "acknowledged": sum(r[1] for r in results)}
