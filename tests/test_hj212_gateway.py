"""The HJ 212 gateway (rareeco.ingest.hj212_gateway) and its simulator, on SQLite and PostgreSQL.

Each test starts a gateway in-process on an ephemeral port and talks to it over loopback: golden frames and
simulated traffic are stored and acknowledged (the row is read from the database when its 9014 arrives), every
kind of garbage gives its finding and connection action while another station keeps being served, slow and
silent clients are closed after their timeouts, split uploads, unknown MN and wrong password, backpressure,
registry refresh and a graceful stop; several worker processes on one port.

The gateway checks frames with the codec's fast path (:func:`rareeco.ingest.hj212.check_frame`: framing, CRC,
header, DataTime; the rest of the data area is parsed later): tests at the end show that it agrees with
:func:`rareeco.ingest.hj212.parse` on the golden frames, on every crafted refusal and on generated frames
(property tests), and that :func:`rareeco.ingest.hj212.crc_fast` is the Appendix A CRC.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from conftest import make_org
from rareeco.errors import ConflictError, ValidationFailed
from rareeco.ingest import hj212
from rareeco.ingest.hj212_gateway import (
    MAX_FRAME_BYTES,
    POLICY,
    Gateway,
    GatewayOptions,
    add_station,
    combine_stats,
    excerpt,
    password_hash,
    reply_frame,
    station_time,
)
from rareeco.ingest.hj212_simulate import MALFORMED_KINDS, malformed_frame, register_stations, simulate_async
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import AuditEntry, CemsStation, GatewayFinding, Hj212Frame
from test_hj212 import PROPERTY, appendix_a, crafted, golden_rows, messages, mutated, valid_crc_frames, wire

T = TypeVar("T")
A_MN, A_PW = "STATIONA0000000000000001", "654321"   # the station that must keep being served
GOLDEN = {r[0]: r[1].encode() + b"\r\n" for r in golden_rows()}
STD_MN = "010000A8900016F000169DC0"


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    make_org(engine)
    with session_scope(engine) as s:
        add_station(s, "acme", "baotou", A_MN, A_PW, "roasting kiln stack DA001")
        add_station(s, "acme", "baotou", STD_MN, "100000", "standard example")
        add_station(s, "acme", "ganzhou", "JLYP01_AIR01_0001", "123456")
        add_station(s, "acme", "ganzhou", "NJGDKYYC202101q0001w0001", "123456")
    return engine


def run(engine: Engine, scenario: Callable[[Gateway], Awaitable[T]], **options: Any) -> tuple[T, dict[str, Any]]:
    """Run ``scenario(gateway)`` against a gateway on an ephemeral port; returns its result and the final stats."""

    async def main() -> tuple[T, dict[str, Any]]:
        gw = Gateway(engine, "127.0.0.1", 0, GatewayOptions(**options))
        await gw.start()
        try:
            result = await scenario(gw)
        finally:
            stats = await gw.stop()
        return result, stats

    return asyncio.run(main())


def upload(mn: str, pw: str, minute: int, flag: int | None = 5, qn: str | None = None, cn: str = "2051") -> bytes:
    """A minute upload (SO2 and O2) for minute ``minute`` of 2026-01-01, station clock."""
    stamp = f"202601010{minute // 60:01d}{minute % 60:02d}00"
    msg = hj212.Message(st="31", cn=cn, pw=pw, mn=mn, qn=qn or stamp + "000", flag=flag,
                        cp=hj212.CP({"DataTime": stamp}, {"a21026": {"Avg": 40.5 + minute, "Flag": "N"},
                                                          "a19001": {"Avg": 14.2, "Flag": "N"}}))
    return hj212.frame(msg)


async def reply(reader: asyncio.StreamReader, timeout: float = 5.0) -> hj212.Message:
    return hj212.parse(await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout))


async def closed_by_server(reader: asyncio.StreamReader, timeout: float = 5.0) -> bool:
    """True when the server closes the connection (EOF, or a reset when it closed with our bytes unread) within
    ``timeout`` without sending anything."""
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except ConnectionResetError:
        return True


def frames(engine: Engine) -> list[Hj212Frame]:
    with session_scope(engine, read_only=True) as s:
        return list(s.execute(select(Hj212Frame).order_by(Hj212Frame.id)).scalars())


def findings(engine: Engine) -> list[tuple[str, str]]:
    with session_scope(engine, read_only=True) as s:
        return [(f.reason, f.action) for f in s.execute(select(GatewayFinding).order_by(GatewayFinding.id))
                .scalars()]


def stored_qns(engine: Engine, mn: str) -> set[str | None]:
    with session_scope(engine, read_only=True) as s:
        return set(s.execute(select(Hj212Frame.qn).join(CemsStation, CemsStation.id == Hj212Frame.station_id)
                             .where(CemsStation.mn == mn)).scalars())


async def served(port: int, minute: int) -> bool:
    """Station A uploads one frame on a fresh connection and gets its 9014."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(upload(A_MN, A_PW, minute))
        ans = await reply(reader)
        return ans.cn == "9014" and ans.mn == A_MN
    finally:
        writer.close()


# --- golden frames, acknowledgement after commit ---------------------------------------------------------------

def test_golden_frames_are_stored_and_the_ack_comes_after_the_commit(ledger: Engine) -> None:
    flash = GOLDEN["flash520/hj212 client CN=2051"]
    asked = hj212.frame(replace(hj212.parse(flash), flag=5))  # the same upload asking for a reply

    async def scenario(gw: Gateway) -> tuple[bytes, set[str | None]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        # no reply is owed for these: CN=1062 is not an upload, Flag=4 asks none, no Flag asks none
        for name in ("standard example CN=1062", "flash520/hj212 client CN=2051", "alltobs-hj212 README (no QN)"):
            writer.write(GOLDEN[name])
        writer.write(asked)
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
        at_ack = stored_qns(ledger, "JLYP01_AIR01_0001")  # read the moment the 9014 arrives
        writer.close()
        return line, at_ack

    (line, at_ack), stats = run(ledger, scenario)
    # the first reply on the connection is the 9014 of the last frame, as docs/hj212.md gives it
    assert line == b"##0080QN=20220513162608370;ST=91;CN=9014;PW=123456;MN=JLYP01_AIR01_0001;Flag=4;CP=&&&&18C0\r\n"
    assert "20220513162608370" in at_ack
    rows = frames(ledger)
    assert [(r.cn, r.qn) for r in rows] == [("1062", "20160801085857223"), ("2051", "20220513162608370"),
                                            ("2011", None), ("2051", "20220513162608370")]
    assert rows[0].segment == GOLDEN["standard example CN=1062"][6:-6].decode()
    # DataTime is the station's clock in the organisation's zone (Asia/Shanghai, UTC+8), stored in UTC
    assert rows[1].data_time.replace(tzinfo=None) == datetime(2022, 5, 13, 8, 26)
    assert rows[2].data_time.replace(tzinfo=None) == datetime(2021, 3, 4, 16, 38, 17)
    assert rows[0].data_time is None and not any(r.processed for r in rows)
    assert stats["stored"] == 4 and stats["replies"] == 1 and stats["findings"] == 0


def test_golden_reply_with_another_password_is_refused_and_closed(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> tuple[bool, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(GOLDEN["reply CN=9011"])  # the standard's MN with PW=123456; registered with 100000
        closed = await closed_by_server(reader)
        writer.close()
        return closed, await served(gw.port, 1)

    (closed, ok), stats = run(ledger, scenario)
    assert closed and ok
    assert findings(ledger) == [("bad_password", "closed")]
    with session_scope(ledger) as s:
        f = s.execute(select(GatewayFinding)).scalar_one()
        assert f.mn == STD_MN and f.org_id == "acme"
        assert "PW=***" in f.excerpt and "123456" not in f.excerpt  # the password tried is not kept


# --- simulated traffic -----------------------------------------------------------------------------------------

def test_simulated_stations_sent_equals_acknowledged_equals_stored(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        pairs = register_stations(s, "acme", "baotou", 20)

    async def scenario(gw: Gateway) -> dict[str, Any]:
        return await simulate_async(pairs, 400, rate=0, port=gw.port, window=3)

    sim, stats = run(ledger, scenario)
    rows = frames(ledger)
    assert sim["sent"] == sim["acked"] == len(rows) == stats["stored"] == stats["replies"] == 400
    assert sim["unacked"] == sim["bad_replies"] == sim["connections_dropped"] == 0
    assert sim["latency_ms"]["p50"] is not None and sim["latency_ms"]["p50"] <= sim["latency_ms"]["p99"]
    msg = hj212.parse(hj212.frame(rows[0].segment))
    assert (msg.cn, msg.st, msg.flag) == ("2051", "31", 5)
    assert set(msg.cp.values) == {"a21026", "a21018", "a34013", "a19001", "a00000"}
    assert set(msg.cp.values["a00000"]) == {"Avg", "Min", "Max", "Cou", "Flag"}
    for code, reading in msg.cp.values.items():
        assert isinstance(reading["Avg"], float) and reading["Min"] <= reading["Avg"] <= reading["Max"], code
    # every station uploaded consecutive minutes from 2026-01-01 00:00, station clock = UTC+8 (closed loop: a
    # station whose replies come back sooner sends more)
    with session_scope(ledger) as s:
        spans = s.execute(select(Hj212Frame.station_id, func.count(func.distinct(Hj212Frame.data_time)),
                                 func.min(Hj212Frame.data_time), func.max(Hj212Frame.data_time))
                          .group_by(Hj212Frame.station_id)).all()
    assert len(spans) == 20 and sum(n for _id, n, _a, _b in spans) == 400
    assert {a.replace(tzinfo=None) for _id, _n, a, _b in spans} == {datetime(2025, 12, 31, 16, 0)}
    assert all((b - a).total_seconds() == 60 * (n - 1) for _id, n, a, b in spans)


def test_simulator_garbage_every_kind_reported_and_every_valid_frame_stored(sqlite_engine: Engine) -> None:
    make_org(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        pairs = register_stations(s, "acme", "baotou", 10)

    async def scenario(gw: Gateway) -> dict[str, Any]:
        return await simulate_async(pairs, 300, rate=3000, port=gw.port, malformed=50, seed=3)

    sim, stats = run(sqlite_engine, scenario)
    assert sim["sent"] == sim["acked"] == len(frames(sqlite_engine)) == 300
    assert sim["malformed_sent"] == {kind: 10 for kind in MALFORMED_KINDS}
    assert stats["findings_by_reason"] == sim["malformed_sent"]
    assert sim["unknown_mn_closed"] == 10 and sim["connections_dropped"] == 0
    got: dict[tuple[str, str], int] = {}
    for key in findings(sqlite_engine):
        got[key] = got.get(key, 0) + 1
    assert got == {(k, "closed" if k == "unknown_mn" else "kept"): 10 for k in MALFORMED_KINDS}


# --- garbage, one kind at a time ------------------------------------------------------------------------------

def _bad_frames() -> dict[str, bytes]:
    good = upload(A_MN, A_PW, 0)
    seg = good[6:-6]
    gbk = "QN=1;ST=31;CN=2051;PW=654321;MN=STATIONA0000000000000001;Flag=5;CP=&&a21026-Info=二氧化硫&&".encode("gbk")
    return {
        "bad_header": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "bad_crc": malformed_frame("bad_crc", good),
        "bad_length": malformed_frame("bad_length", good),
        "truncated": malformed_frame("truncated", good),
        "oversize": malformed_frame("oversize", good),
        "bad_trailer": good[:-2] + b"XY\r\n",
        "bad_encoding": b"##%04d%s%04X\r\n" % (len(gbk), gbk, hj212.crc(gbk)),
        "bad_field": hj212.frame(seg.decode().replace(";MN=" + A_MN, "")),
        "unsupported_version": hj212.frame(seg.decode().replace("Flag=5", "Flag=9")),
        "non-digit length": b"##00x1" + seg + b"\r\n",
    }


def test_each_kind_of_garbage_gives_its_finding_keeps_the_connection_and_resynchronises(ledger: Engine) -> None:
    bad = _bad_frames()

    async def scenario(gw: Gateway) -> list[tuple[str, str]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        out = []
        for minute, (name, raw) in enumerate(bad.items(), start=1):
            writer.write(raw + upload(A_MN, A_PW, minute))  # garbage, then a valid frame right behind it
            ans = await reply(reader)
            assert ans.cn == "9014" and ans.qn == f"202601010{minute // 60}{minute % 60:02d}00000", name
            assert await served(gw.port, 100 + minute), name  # another connection is served meanwhile
            out.append(name)
        writer.close()
        return out

    sent, stats = run(ledger, scenario)
    assert len(sent) == len(bad)
    expected = [(n if n != "non-digit length" else "bad_length", "kept") for n in bad]
    assert findings(ledger) == expected
    assert stats["stored"] == 2 * len(bad) and stats["closed_by_gateway"] == 0
    assert all(POLICY[reason] == "kept" for reason, _ in expected)


@pytest.mark.parametrize("kind", ["unknown_mn", "bad_password"])
def test_unknown_station_or_wrong_password_closes_the_connection(ledger: Engine, kind: str) -> None:
    raw = upload("NOTREGISTERED", A_PW, 0) if kind == "unknown_mn" else upload(A_MN, "000000", 0)

    async def scenario(gw: Gateway) -> tuple[bool, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(raw + upload(A_MN, A_PW, 1))  # the valid frame behind it is not read any more
        closed = await closed_by_server(reader)
        writer.close()
        return closed, await served(gw.port, 2)

    (closed, ok), stats = run(ledger, scenario)
    assert closed and ok
    assert findings(ledger) == [(kind, "closed")]
    assert stats["stored"] == 1  # station A's frame on its own connection only


def test_bad_frames_in_a_row_close_the_connection(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"".join(malformed_frame("bad_crc", upload(A_MN, A_PW, m))
                              for m in range(3)))
        closed = await closed_by_server(reader)
        writer.close()
        return closed

    closed, _ = run(ledger, scenario, max_bad_frames=3)
    assert closed
    assert findings(ledger) == [("bad_crc", "kept"), ("bad_crc", "kept"), ("bad_crc", "closed")]


def test_garbage_without_frames_is_one_finding_then_closed_at_the_junk_limit(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        for _ in range(10):
            writer.write(b"\x00\xff garbage " * 100)
            await writer.drain()
        closed = await closed_by_server(reader)
        writer.close()
        return closed

    closed, stats = run(ledger, scenario, max_junk_bytes=5000)
    assert closed
    # one finding for the run of garbage (kept), one when it passes the limit (closed) — a single one when the
    # bytes arrive in one read already over the limit
    assert findings(ledger) in ([("bad_header", "kept"), ("bad_header", "closed")], [("bad_header", "closed")])
    assert stats["connections_open"] == 0


# --- slow and silent clients -----------------------------------------------------------------------------------

def test_slow_and_silent_clients_are_closed_after_their_timeouts(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> dict[str, float]:
        t0 = time.monotonic()
        half = upload(A_MN, A_PW, 1)[:50]
        r_slow, w_slow = await asyncio.open_connection("127.0.0.1", gw.port)
        r_drip, w_drip = await asyncio.open_connection("127.0.0.1", gw.port)
        r_idle, w_idle = await asyncio.open_connection("127.0.0.1", gw.port)
        w_slow.write(half)

        async def drip() -> None:  # a byte every 50 ms: busy, but the frame never completes in time
            for b in upload(A_MN, A_PW, 2):
                if w_drip.is_closing():
                    return
                w_drip.write(bytes([b]))
                await asyncio.sleep(0.05)

        task = asyncio.create_task(drip())
        done: dict[str, float] = {}

        async def watch(name: str, reader: asyncio.StreamReader) -> None:
            assert await closed_by_server(reader, 5)
            done[name] = time.monotonic() - t0

        assert await served(gw.port, 3)  # served while the others stall
        await asyncio.gather(watch("slow", r_slow), watch("drip", r_drip), watch("idle", r_idle))
        task.cancel()
        for w in (w_slow, w_drip, w_idle):
            w.close()
        return done

    done, _ = run(ledger, scenario, frame_timeout_s=0.4, idle_timeout_s=1.0)
    assert 0.4 <= done["slow"] < 2.0 and 0.4 <= done["drip"] < 2.0
    assert 1.0 <= done["idle"] < 3.0
    assert sorted(findings(ledger)) == [("idle_timeout", "closed"), ("slow_client", "closed"),
                                        ("slow_client", "closed")]


def test_a_last_frame_without_crlf_is_taken(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(upload(A_MN, A_PW, 4)[:-2])  # the codec tolerates a missing CR LF
        ans = await reply(reader)
        writer.close()
        return ans.cn

    cn, _ = run(ledger, scenario, frame_timeout_s=0.2)
    assert cn == "9014" and len(frames(ledger)) == 1 and findings(ledger) == []


# --- split uploads ---------------------------------------------------------------------------------------------

def test_split_upload_every_part_stored_and_acknowledged(ledger: Engine) -> None:
    values = {f"a{21000 + i:05d}": {"Avg": 10.0 + i, "Min": 9.0, "Max": 12.0 + i, "Flag": "N"} for i in range(40)}
    whole = hj212.Message(st="31", cn="2061", pw=A_PW, mn=A_MN, qn="20260101010000000", flag=5,
                          cp=hj212.CP({"DataTime": "20260101010000"}, values))
    parts = hj212.split_message(whole)
    assert len(parts) >= 3 and all(p.flag == 7 for p in parts)

    async def scenario(gw: Gateway) -> list[hj212.Message]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        blob = b"".join(hj212.frame(p) for p in parts)
        for i in range(0, len(blob), 700):  # across TCP segments
            writer.write(blob[i:i + 700])
            await writer.drain()
            await asyncio.sleep(0.01)
        answers = [await reply(reader) for _ in parts]
        writer.close()
        return answers

    answers, _ = run(ledger, scenario)
    assert [(a.cn, a.qn, a.flag) for a in answers] == [("9014", whole.qn, 4)] * len(parts)
    rows = frames(ledger)
    stored = [hj212.parse(hj212.frame(r.segment)) for r in rows]
    assert [m.pno for m in stored] == list(range(1, len(parts) + 1))
    assert hj212.merge(stored).cp == whole.cp  # the processing step can put the upload together again


# --- flow control, registry, stop ------------------------------------------------------------------------------

def test_backpressure_pauses_reading_and_loses_nothing(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> list[str | None]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"".join(upload(A_MN, A_PW, m) for m in range(200)))
        answers = [(await reply(reader)).qn for _ in range(200)]
        writer.close()
        return answers

    answers, stats = run(ledger, scenario, high_water=4)
    assert len(set(answers)) == 200 and len(frames(ledger)) == 200
    assert stats["pauses"] >= 1 and not stats["pending"]


def test_new_stations_are_picked_up_by_the_registry_refresh(ledger: Engine) -> None:
    async def scenario(gw: Gateway) -> tuple[bool, str]:
        r1, w1 = await asyncio.open_connection("127.0.0.1", gw.port)
        w1.write(upload("NEWSTATION01", "111111", 0))
        refused = await closed_by_server(r1)
        with session_scope(ledger) as s:  # a read-then-write transaction while the gateway writes (BEGIN IMMEDIATE)
            add_station(s, "acme", "baotou", "NEWSTATION01", "111111")
        await asyncio.sleep(0.4)
        r2, w2 = await asyncio.open_connection("127.0.0.1", gw.port)
        w2.write(upload("NEWSTATION01", "111111", 1))
        ans = await reply(r2)
        for w in (w1, w2):
            w.close()
        return refused, ans.cn

    (refused, cn), _ = run(ledger, scenario, registry_refresh_s=0.1)
    assert refused and cn == "9014"


def test_nothing_is_acknowledged_while_the_database_refuses_the_transaction(ledger: Engine,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    import rareeco.ingest.hj212_gateway as gateway

    monkeypatch.setattr(gateway, "RETRY_S", 0.05)
    refused = {"n": 0}
    insert = gateway._insert

    def failing(conn: Any, table: str, columns: Any, rows: Any) -> None:
        if table == "hj212_frames" and refused["n"] < 3:
            refused["n"] += 1
            raise OperationalError("INSERT INTO hj212_frames", {}, Exception("disk I/O error (simulated)"))
        insert(conn, table, columns, rows)

    monkeypatch.setattr(gateway, "_insert", failing)

    async def scenario(gw: Gateway) -> tuple[bool, bool, int, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        t0 = time.monotonic()
        writer.write(upload(A_MN, A_PW, 5))
        ans = await reply(reader)
        waited = time.monotonic() - t0
        at_ack = f"{ans.qn}" in stored_qns(ledger, A_MN)
        writer.close()
        return ans.cn == "9014", at_ack, refused["n"], waited

    (ok, at_ack, failures, waited), stats = run(ledger, scenario)
    assert ok and at_ack and failures == 3 and waited >= 3 * 0.05  # the 9014 only after the 4th attempt committed
    assert stats["db_errors"] == 3 and stats["stored"] == stats["replies"] == 1


def test_stop_stores_and_acknowledges_what_was_accepted(ledger: Engine) -> None:
    async def main() -> tuple[int, int, dict[str, Any]]:
        gw = Gateway(ledger, "127.0.0.1", 0, GatewayOptions(linger_ms=50))
        await gw.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"".join(upload(A_MN, A_PW, m) for m in range(50)))
        await writer.drain()
        while gw.stats["frames_accepted"] < 50:
            await asyncio.sleep(0.005)
        stats = await gw.stop()  # while frames wait for their commit
        data = await asyncio.wait_for(reader.read(), 5)  # every reply, then EOF
        writer.close()
        return data.count(b"CN=9014"), stats["stored"], stats

    replies, stored, stats = asyncio.run(main())
    assert replies == stored == 50 == len(frames(ledger))


# --- stations and the command line -----------------------------------------------------------------------------

def test_station_registration_keeps_a_hash_refuses_duplicates_and_bad_fields(ledger: Engine) -> None:
    with session_scope(ledger) as s:
        st = s.execute(select(CemsStation).where(CemsStation.mn == A_MN)).scalar_one()
        assert st.password_sha256 == password_hash(A_PW) != A_PW and len(st.password_sha256) == 64
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "hj212.station.add")
                          .order_by(AuditEntry.seq)).scalars().first()
        assert entry is not None and A_PW not in json.dumps(entry.details)
    with pytest.raises(ConflictError), session_scope(ledger) as s:
        add_station(s, "acme", "baotou", A_MN, "1")
    for mn, pw in (("has space", "1"), ("X" * 25, "1"), ("OK", "1234567"), ("OK", "p;w")):
        with pytest.raises(ValidationFailed), session_scope(ledger) as s:
            add_station(s, "acme", "baotou", mn, pw)


def test_reply_frames_and_station_times_agree_with_the_codec() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    msgs = [hj212.parse(raw) for raw in GOLDEN.values()]
    msgs += [replace(m, flag=f) for m in msgs for f in (1, 5, 7)]
    msgs += [replace(msgs[1], cn="1013"), hj212.parse(upload(A_MN, A_PW, 3))]
    for m in msgs:
        answer = hj212.reply(m)
        assert reply_frame(m) == (None if answer is None else hj212.frame(answer)), m
        raw = hj212.frame(m)
        try:
            head = hj212.check_frame(raw)  # what the gateway passes it
        except hj212.FrameError:
            with pytest.raises(hj212.FrameError):
                hj212.parse(raw)
        else:
            assert reply_frame(head) == reply_frame(hj212.parse(raw))
        if m.data_time is not None:
            assert station_time(m.cp.fields["DataTime"], zone) == m.data_time.replace(tzinfo=zone)
    assert sum(reply_frame(m) is not None for m in msgs) >= 6


def test_simulator_without_a_gateway_says_so() -> None:
    import socket

    from rareeco.ingest.hj212_simulate import GatewayUnavailable, simulate

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GatewayUnavailable, match="cannot connect"):
        simulate([(A_MN, A_PW)], 1, port=port)


def test_excerpt_masks_the_password_and_escapes_control_bytes() -> None:
    assert excerpt(b"##0010QN=1;PW=secret;MN=X\r\n\x00") == "##0010QN=1;PW=***;MN=X\\r\\n\\x00"
    assert excerpt(b"a" * 200, 10) == "a" * 10 + "…"
    assert MAX_FRAME_BYTES == 1036


def test_cli_station_add_list_and_simulate_against_a_running_gateway(tmp_path: Any) -> None:
    from rareeco.cli import app
    from rareeco.ledger.db import make_engine

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    for args in (["org", "create", "acme"], ["site", "add", "acme", "baotou", "--province", "CN-NM"],
                 ["hj212", "station", "add", "acme", "baotou", STD_MN, "--password", "100000", "--name", "DA001"]):
        res = runner.invoke(app, ["--db", db, *args])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--db", db, "hj212", "station", "list", "acme", "--json"])
    assert [(r["mn"], r["site"], r["name"]) for r in json.loads(res.output)] == [(STD_MN, "baotou", "DA001")]

    engine = make_engine(db)
    started = threading.Event()
    port: list[int] = []
    stop: list[Any] = []

    def serve() -> None:
        async def main() -> None:
            gw = Gateway(engine, "127.0.0.1", 0, GatewayOptions(registry_refresh_s=3600))  # on-demand reload
            await gw.start()
            port.append(gw.port)
            done = asyncio.Event()
            stop.append((asyncio.get_running_loop(), done))
            started.set()
            await done.wait()
            await gw.stop()

        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert started.wait(10)
        res = runner.invoke(app, ["--db", db, "hj212", "simulate", "--register", "acme", "baotou", "--stations", "3",
                                  "--count", "30", "--rate", "300", "--port", str(port[0]), "--malformed", "5",
                                  "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output[res.output.index("{"):])
        assert out["sent"] == out["acked"] == 30 and sum(out["malformed_sent"].values()) == 5
    finally:
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(10)
    res = runner.invoke(app, ["--db", db, "hj212", "findings", "--json"])
    assert sorted(f["reason"] for f in json.loads(res.output)) == sorted(MALFORMED_KINDS)
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Hj212Frame)) == 30
        assert s.scalar(select(func.count()).select_from(CemsStation)) == 4
    engine.dispose()


# --- several worker processes on one port ----------------------------------------------------------------------

def test_combine_stats_sums_the_workers() -> None:
    a = {"seconds": 2.0, "stations": 3, "stored": 10, "replies": 9, "paused": False, "stored_per_s": 1.5,
         "findings_by_reason": {"bad_crc": 1}}
    b = {"seconds": 3.0, "stations": 3, "stored": 5, "replies": 5, "paused": True, "stored_per_s": 2.0,
         "findings_by_reason": {"bad_crc": 2, "unknown_mn": 1}}
    out = combine_stats([a, b])
    assert out["seconds"] == 3.0 and out["stations"] == 3 and out["stored"] == 15 and out["replies"] == 14
    assert out["paused"] is True and out["stored_per_s"] == 3.5 and out["workers"] == 2
    assert out["findings_by_reason"] == {"bad_crc": 3, "unknown_mn": 1} and out["stored_by_worker"] == [10, 5]


def test_serve_with_two_workers_shares_the_port_and_loses_nothing(db_url: str) -> None:
    """``rareeco hj212 serve --workers 2``: two processes on one port (SO_REUSEPORT); the connections are spread
    over both, every frame is stored before its 9014, and the final counters are the workers' sum."""
    from rareeco.ingest.hj212_simulate import simulate
    from rareeco.ledger.db import make_engine

    engine = make_engine(db_url)
    make_org(engine)
    with session_scope(engine) as s:
        pairs = register_stations(s, "acme", "baotou", 40)
    cmd = [sys.executable, "-c", "from rareeco.cli import main; main()", "--db", db_url, "hj212", "serve",
           "--port", "0", "--workers", "2", "--json", "--stats-s", "3600"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"listening on 127\.0\.0\.1:(\d+) \(2 worker processes\)", line)
        assert found, line + proc.stderr.read()
        sim = simulate(pairs, 2000, rate=0, port=int(found.group(1)), window=2, malformed=10, seed=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert sim["sent"] == sim["acked"] == 2000 and sim["unacked"] == 0
    assert result["workers"] == 2 and result["stored"] == result["replies"] == 2000
    assert all(n > 0 for n in result["stored_by_worker"]), result["stored_by_worker"]
    assert result["findings_by_reason"] == sim["malformed_sent"]
    with session_scope(engine, read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(Hj212Frame)) == 2000
    engine.dispose()


# --- the fast path: hj212.check_frame and hj212.crc_fast agree with the codec -----------------------------------

#: The crafted refusals of tests/test_hj212.py whose problem is inside the data area (not DataTime): the
#: gateway's check passes them, the processing step's parse finds them.
CP_CONTENT = {"entry without =", "bad key", "conflicting values"}


def _fields(m: hj212.Message | hj212.FrameHeader) -> tuple[Any, ...]:
    data_time = m.data_time if isinstance(m, hj212.FrameHeader) else m.cp.fields.get("DataTime")
    return m.segment, m.st, m.cn, m.pw, m.mn, m.qn, m.flag, m.pnum, m.pno, data_time, dict(m.extra)


def _outcome(check: Callable[[bytes], Any], raw: bytes) -> tuple[str, Any]:
    try:
        return "accepted", check(raw)
    except hj212.FrameError as exc:
        return exc.reason, exc


def test_crc_fast_is_the_appendix_a_crc_of_the_golden_frames() -> None:
    for _name, text, _modbus in golden_rows():
        data = text[6:-4].encode()
        assert hj212.crc_fast(data) == hj212.crc(data) == int(text[-4:], 16)
    for data in (b"", b"Q", b"QN", b"QN=", bytes(range(256)) * 40):
        assert hj212.crc_fast(data) == hj212.crc(data)


@settings(PROPERTY, max_examples=500)
@given(st.binary(max_size=3000))
def test_property_crc_fast_equals_appendix_a(data: bytes) -> None:
    assert hj212.crc_fast(data) == hj212.crc(data) == appendix_a(data)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_check_frame_accepts_every_golden_frame_as_parse_does(name: str) -> None:
    raw = GOLDEN[name]
    for variant in (raw, raw[:-2], raw[:-6] + raw[-6:-2].lower() + b"\r\n"):
        assert _fields(hj212.check_frame(variant)) == _fields(hj212.parse(variant))


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_golden_frame_is_stored_by_the_gateway_as_received(engine: Engine, name: str) -> None:
    raw = GOLDEN[name]
    msg = hj212.parse(raw)
    make_org(engine)
    with session_scope(engine) as s:
        add_station(s, "acme", "baotou", msg.mn, msg.pw)

    async def scenario(gw: Gateway) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(raw)
        while not gw.stats["stored"]:
            await asyncio.sleep(0.01)
        writer.close()

    _, stats = run(engine, scenario)
    [row] = frames(engine)
    assert (row.segment, row.cn, row.st, row.qn) == (msg.segment, msg.cn, msg.st, msg.qn)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert (row.data_time and row.data_time.replace(tzinfo=None)) == (
        msg.data_time and msg.data_time.replace(tzinfo=shanghai).astimezone(ZoneInfo("UTC")).replace(tzinfo=None))
    assert hj212.parse(hj212.frame(row.segment)) == msg  # the processing step reads back the same message
    assert stats["findings"] == 0


@pytest.mark.parametrize("reason,case,raw", crafted(), ids=[f"{r}-{c}" for r, c, _ in crafted()])
def test_check_frame_refuses_every_crafted_frame_with_the_codecs_reason(reason: str, case: str, raw: bytes) -> None:
    got, exc = _outcome(hj212.check_frame, raw)
    if case in CP_CONTENT:
        assert got == "accepted" and exc.segment == raw[6:-6].decode()  # stored; parsing it finds the problem
        assert reason == "bad_field"
    else:
        assert got == reason, exc
        assert exc.message == _outcome(hj212.parse, raw)[1].message  # the codec's own words


def test_gateway_reports_header_and_datatime_problems_and_stores_data_area_problems(ledger: Engine) -> None:
    """The frame-level refusals that reach the gateway's check (header fields, version, DataTime) are findings
    with the codec's reason; problems inside the data area are stored, for the processing step."""
    base = f"QN=20260101000100000;ST=31;CN=2051;PW={A_PW};MN={A_MN};Flag=5;CP=&&DataTime=20260101000100;"
    refused = {
        "bad_field": [wire(base.replace("CN=2051", "CN=20a1") + "a21026-Avg=1&&"),
                      wire(base.replace("Flag=5", "Flag=300") + "a21026-Avg=1&&"),
                      wire(base.replace("Flag=5", "Flag=7") + "a21026-Avg=1&&"),  # split, no PNUM/PNO
                      wire(base.replace("DataTime=20260101000100", "DataTime=20261301000000") + "a=1&&"),
                      wire(base + "a21026-Avg=1")],                                  # CP not closed
        "unsupported_version": [wire(base.replace("Flag=5", "Flag=9") + "a21026-Avg=1&&")],
    }
    stored = [wire(base + "a21026-Avg=1;a21026-Avg=2&&"), wire(base + "junk&&"), wire(base + "a 1-Rtd=1&&")]

    async def scenario(gw: Gateway) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        answered = 0
        for raw in [r for rs in refused.values() for r in rs] + stored:
            writer.write(raw + upload(A_MN, A_PW, 7))  # a valid frame behind each one
            answered += (await reply(reader)).cn == "9014"
        writer.close()
        return answered

    answered, stats = run(ledger, scenario)
    n_refused = sum(len(r) for r in refused.values())
    assert answered == n_refused + len(stored)
    assert stats["findings_by_reason"] == {reason: len(rs) for reason, rs in refused.items()}
    segments = [r.segment for r in frames(ledger)]
    for raw in stored:  # stored as received; parsing the stored segment finds the data-area problem
        seg = raw[6:-6].decode()
        assert seg in segments
        with pytest.raises(hj212.FrameError) as err:
            hj212.parse(raw)
        assert err.value.reason == "bad_field"


def _agree(raw: bytes, max_segment: int = hj212.MAX_SEGMENT_BYTES) -> None:
    """check_frame and parse agree: the same fields when parse accepts; the same reason when parse refuses —
    except a refusal for the data area (other than DataTime), which check_frame passes."""
    want, msg = _outcome(lambda r: hj212.parse(r, max_segment=max_segment), raw)
    got, head = _outcome(lambda r: hj212.check_frame(r, max_segment=max_segment), raw)
    FAST_COUNT[want] = FAST_COUNT.get(want, 0) + 1
    if want == "accepted":
        assert got == "accepted" and _fields(head) == _fields(msg), raw
    elif got == "accepted":
        assert want == "bad_field", raw
        cp = re.search(r"(?:^|;)CP=&&", head.segment)
        assert cp is not None
        with pytest.raises(hj212.FrameError):  # the refusal comes from the data area alone …
            hj212._parse_cp(head.segment[cp.end():-2])
        header_only = hj212._parse_segment(head.segment[:cp.end()] + "&&")  # … the header is fine
        assert (header_only.st, header_only.cn, header_only.mn, header_only.pw, header_only.qn, header_only.flag,
                header_only.pnum, header_only.pno) == (head.st, head.cn, head.mn, head.pw, head.qn, head.flag,
                                                       head.pnum, head.pno)
    else:
        assert got == want, (raw, head, msg)


FAST_COUNT: dict[str, int] = {}
STAMPS = ["20160801085857", "20160801085857123", "20161301000000", "20160230000000", "20160801246000",
          "2016080108585", "201608010858571", "20000229235959", "19000229000000", "00000101000000"]
CP_ITEMS = ["a21026-Rtd=1.5", "a21026-Flag=N", "QnRtn=1", "x-Info=稀土", "k=", "junk", "a 1=2", "a21026-Rtd=2",
            "=1", "DataTime", " DataTime = 20160801085857 ", "DataTimeX=1", "a-DataTime=1"]


@st.composite
def data_time_frames(draw: st.DrawFn) -> bytes:
    """Frames with a well-formed header (in Table 3's order or not) and a data area made of DataTime entries —
    valid, invalid, repeated, with blanks — and other entries, good and bad."""
    header = ["QN=20160801085857223", "ST=31", "CN=2051", "PW=123456", "MN=010000A8900016F000169DC0",
              draw(st.sampled_from(["Flag=5", "Flag=4", "Flag=9", "Flag=7;PNUM=2;PNO=1", "Flag=6;PNUM=1;PNO=2"]))]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    stamps = st.sampled_from(STAMPS) | st.from_regex(r"[0-9]{14}([0-9]{3})?", fullmatch=True)
    items = draw(st.lists(st.sampled_from(CP_ITEMS) | stamps.map(lambda t: f"DataTime={t}"), max_size=5))
    seps = draw(st.lists(st.sampled_from([";", ","]), min_size=len(items), max_size=len(items)))
    cp = "".join(sep + item for sep, item in zip(seps, items, strict=True))[1:]
    return wire(";".join([*header, "CP=&&" + cp + "&&"]))


@settings(PROPERTY, max_examples=400)
@given(messages())
def test_property_check_frame_agrees_with_parse_on_valid_frames(msg: hj212.Message) -> None:
    _agree(hj212.frame(msg, max_segment=9999), max_segment=9999)


@settings(PROPERTY, max_examples=1000)
@given(valid_crc_frames() | data_time_frames())
def test_property_check_frame_agrees_with_parse_on_header_and_data_time(raw: bytes) -> None:
    _agree(raw)


@settings(PROPERTY, max_examples=1000)
@given(mutated() | st.binary(max_size=200))
def test_property_check_frame_agrees_with_parse_on_damaged_frames(raw: bytes) -> None:
    _agree(raw)


def test_check_frame_property_report(capsys: pytest.CaptureFixture[str]) -> None:
    """How many generated frames the agreement tests compared, by parse's outcome (shown with ``pytest -s``)."""
    with capsys.disabled():
        print(f"\ncheck_frame vs parse: {sum(FAST_COUNT.values())} frames {dict(sorted(FAST_COUNT.items()))}")


def test_the_binary_copy_types_are_the_models_column_types() -> None:
    from sqlalchemy import Boolean, DateTime, Integer, String, Text

    from rareeco.ingest.hj212_gateway import FINDING_COLUMNS, FRAME_COLUMNS, PG_TYPES

    want = {Integer: "int4", String: "text", Text: "text", DateTime: "timestamptz", Boolean: "bool"}
    for model, columns in ((Hj212Frame, FRAME_COLUMNS), (GatewayFinding, FINDING_COLUMNS)):
        table = model.__table__
        names = [c.name for c in table.columns if not c.primary_key]
        assert sorted(names) == sorted(columns), model
        kinds = tuple(next(v for k, v in want.items() if isinstance(table.c[c].type, k)) for c in columns)
        assert PG_TYPES[columns] == kinds
        assert all(table.c[c].type.timezone for c in columns if kinds[columns.index(c)] == "timestamptz")
