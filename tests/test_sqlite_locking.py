"""SQLite: another process's read-then-write transaction while the HJ 212 gateway commits every few milliseconds.

Regression for "database is locked": a transaction that began DEFERRED, read, and then wrote could not upgrade
to a writer once the gateway had committed since its read — SQLite refuses that at once (SQLITE_BUSY_SNAPSHOT),
busy_timeout or not.  rareeco.ledger.db now begins every SQLite transaction IMMEDIATE (read-only sessions
DEFERRED), so the writer waits for the lock instead.  Two processes: a gateway with simulated stations in a
child process, and this one registering stations (add_station reads, then writes) meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from conftest import make_org
from rareeco.ledger.db import BUSY_TIMEOUT_MS, make_engine, read_only, session_scope
from rareeco.ledger.models import CemsStation, Hj212Frame

FRAMES = 4000
RATE = 1000.0  # frames/s: the gateway commits every LINGER_MS (5 ms)


def _gateway_with_traffic(url: str, pairs: list[tuple[str, str]], out: Any) -> None:
    """Child process: a gateway and the stations uploading to it; reports what was sent, acknowledged, stored."""
    from rareeco.ingest.hj212_gateway import Gateway
    from rareeco.ingest.hj212_simulate import simulate_async

    engine = make_engine(url, migrate=False)

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        gw = Gateway(engine, "127.0.0.1", 0)
        await gw.start()
        try:
            sim = await simulate_async(pairs, FRAMES, rate=RATE, port=gw.port)
        finally:
            stats = await gw.stop()
        return sim, stats

    sim, stats = asyncio.run(main())
    out.send({"sent": sim["sent"], "acked": sim["acked"], "stored": stats["stored"], "batches": stats["batches"],
              "db_errors": stats["db_errors"]})
    engine.dispose()


@pytest.fixture
def busy_gateway(tmp_path: Path) -> Iterator[tuple[Engine, Any]]:
    """A SQLite ledger and a gateway process storing frames in it; yields once frames are being committed."""
    from rareeco.ingest.hj212_simulate import register_stations

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    make_org(engine)
    with session_scope(engine) as s:
        pairs = register_stations(s, "acme", "baotou", 20)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_gateway_with_traffic, args=(url, pairs, child))
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while stored(engine) < 100:  # the gateway is up and committing
            assert time.monotonic() < deadline and proc.is_alive(), "the gateway did not start storing"
            time.sleep(0.02)
        yield engine, parent
    finally:
        proc.join(120)
        if proc.exitcode is None:
            proc.kill()
        engine.dispose()


def stored(engine: Engine) -> int:
    with session_scope(engine, read_only=True) as s:
        return int(s.scalar(select(func.count()).select_from(Hj212Frame)) or 0)


def test_busy_timeout_is_set_on_every_sqlite_connection(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS == 30_000
    engine.dispose()


def test_read_then_write_transactions_of_another_process_wait_for_the_gateway(
        busy_gateway: tuple[Engine, Any]) -> None:
    from rareeco.ingest.hj212_gateway import add_station

    engine, results = busy_gateway
    # the old behaviour first (DEFERRED BEGIN, as a read-only session still has): read, let the gateway commit,
    # then write — refused at once
    with pytest.raises(OperationalError, match="database is locked"), session_scope(engine, read_only=True) as s:
        before = s.scalar(select(func.count()).select_from(Hj212Frame))
        deadline = time.monotonic() + 10
        while stored(engine) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        add_station(s, "acme", "baotou", "LOCKTEST_DEFERRED", "123456")
    # now (BEGIN IMMEDIATE): the same read-then-write transactions, 30 of them, while the gateway keeps committing
    failures = []
    for i in range(30):
        try:
            with session_scope(engine) as s:
                s.scalar(select(func.count()).select_from(Hj212Frame))
                time.sleep(0.01)  # the gateway's writer waits for this transaction meanwhile
                add_station(s, "acme", "baotou", f"LOCKTEST{i:04d}", "123456")
        except OperationalError as exc:
            failures.append(str(exc.orig))
    assert failures == []
    out = results.recv() if results.poll(120) else {}
    # the gateway lost nothing meanwhile: every frame stored, then acknowledged
    assert out["sent"] == out["acked"] == out["stored"] == FRAMES and out["db_errors"] == 0
    with session_scope(engine, read_only=True) as s:
        assert s.scalar(select(func.count()).select_from(CemsStation).where(CemsStation.mn.like("LOCKTEST%"))) == 30
    assert stored(engine) == FRAMES


def test_read_only_sessions_begin_deferred_and_others_immediate(tmp_path: Path) -> None:
    """A read-only session does not hold the write lock: another connection writes meanwhile."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    other = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}", migrate=False)
    with session_scope(engine, read_only=True) as s:
        s.execute(text("SELECT 1"))
        with other.begin() as c:  # would wait busy_timeout for an IMMEDIATE transaction
            c.execute(text("CREATE TABLE t (x INTEGER)"))
    with read_only(engine).connect() as c:
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 0
    errors: list[str] = []

    def immediate() -> None:  # another thread (another process alike): its transaction waits for the lock
        with other.connect() as c:
            c.connection.driver_connection.execute("PRAGMA busy_timeout=50")  # type: ignore[union-attr]
            try:
                c.execute(text("SELECT 1"))  # begins IMMEDIATE: the lock is held by the session
            except OperationalError as exc:
                errors.append(str(exc.orig))

    with session_scope(engine) as s:
        s.execute(text("INSERT INTO t VALUES (1)"))
        thread = threading.Thread(target=immediate)
        thread.start()
        thread.join()
    assert errors == ["database is locked"]
    engine.dispose()
    other.dispose()


def test_a_session_opened_inside_another_of_the_same_thread_reads_at_once(tmp_path: Path) -> None:
    """A helper's own session inside a write session of the same thread cannot get the write lock its thread
    holds: it begins DEFERRED and reads (waiting busy_timeout would only end in "database is locked")."""
    from rareeco.ledger import db
    from rareeco.ledger.models import Organisation

    path = tmp_path / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    make_org(engine)
    t0 = time.monotonic()
    with session_scope(engine) as outer:
        outer.execute(text("UPDATE organisations SET name = 'Acme' WHERE id = 'acme'"))  # holds the write lock
        with session_scope(engine) as inner:
            assert inner.scalar(select(func.count()).select_from(Organisation)) == 1
    assert time.monotonic() - t0 < 5
    assert db._IMMEDIATE.held[str(path)] == 0  # every IMMEDIATE transaction counted out again
    with session_scope(engine) as s:
        assert s.get(Organisation, "acme").name == "Acme"  # type: ignore[union-attr]
    engine.dispose()
