"""Engines, sessions and migrations.  SQLite file by default (WAL); PostgreSQL by URL.

**SQLite transactions begin IMMEDIATE.**  In WAL mode a transaction that begins DEFERRED, reads, and then writes
cannot upgrade to a writer once another connection has committed since its read: SQLite fails the write at once
with "database is locked" (``SQLITE_BUSY_SNAPSHOT``), and ``busy_timeout`` does not help, because waiting could
not make the read snapshot current again.  A busy writer such as the HJ 212 gateway commits every few
milliseconds, so any read-then-write transaction of another process (``rareeco hj212 station add``, an import)
failed now and then.  Every transaction on a SQLite engine made here therefore starts with ``BEGIN IMMEDIATE``:
it takes the write lock first, waiting up to ``busy_timeout`` (:data:`BUSY_TIMEOUT_MS`) for it, and then cannot
be refused by its first write.  (SQLAlchemy's documented pattern: pysqlite's own transaction handling off, a
``begin`` event that emits the BEGIN.)

Readers do not need the write lock: a connection or session opened with :func:`read_only` (or
``session_scope(engine, read_only=True)``) begins DEFERRED, reads from its WAL snapshot while others write, and
never blocks a writer.  Writing in such a transaction works while nobody else writes, and fails as before when
somebody does — use it for reading only.  A transaction begun while *the same thread* already holds an IMMEDIATE
one on the same database file (a helper opening its own session inside another) also begins DEFERRED: it could
never get the lock its own thread holds, and would wait ``busy_timeout`` for nothing; it reads as before, and
writing in it fails as it always did.  PostgreSQL is not affected (its transactions wait on row locks).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///rareeco.db"
#: How long a SQLite connection waits for a lock held by another connection before "database is locked" [ms].
BUSY_TIMEOUT_MS = 30_000
#: The execution option that makes a SQLite transaction begin DEFERRED (a reader) instead of IMMEDIATE.
READ_ONLY_OPTION = "rareeco_read_only"


def database_url(url: str | None = None) -> str:
    """``url``, else ``RAREECO_DATABASE_URL``, else ``sqlite:///rareeco.db`` in the working directory."""
    url = url or os.environ.get("RAREECO_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, begin transactions (pysqlite's own handling breaks SAVEPOINT: a savepoint
    # opened before any write would commit on release) — the recipe of the SQLAlchemy SQLite dialect docs.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


_IMMEDIATE = threading.local()  # .held: database file → IMMEDIATE transactions this thread has open
_MARK = "rareeco_immediate"


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE: take the write lock now (waiting up to busy_timeout), so that a later write cannot be refused;
    # DEFERRED for read-only connections and inside another IMMEDIATE transaction of this thread (module docstring)
    held: dict[str, int] | None = getattr(_IMMEDIATE, "held", None)
    if held is None:
        held = _IMMEDIATE.held = {}
    db = conn.engine.url.database or ""
    if conn.get_execution_options().get(READ_ONLY_OPTION) or held.get(db):
        conn.exec_driver_sql("BEGIN")
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    held[db] = held.get(db, 0) + 1
    conn.info[_MARK] = (held, db)


def _sqlite_end(conn: Connection) -> None:
    mark = conn.info.pop(_MARK, None)
    if mark is not None:
        held, db = mark
        held[db] -= 1


def make_engine(url: str | None = None, migrate: bool = True) -> Engine:
    """Engine for ``url``; runs pending migrations unless ``migrate`` is false."""
    url = database_url(url)
    engine = create_engine(url, future=True, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
    if migrate:
        upgrade(engine)
    return engine


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("rareeco.ledger").joinpath("migrations")))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    from alembic import command

    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def read_only(engine: Engine) -> Engine:
    """``engine`` for reading: on SQLite its transactions begin DEFERRED and do not take the write lock (the same
    pool and connections; see the module docstring)."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


#: HTTP methods whose request sessions read (``session_scope(read_only=…)`` in the web and API apps).
READING = frozenset({"GET", "HEAD"})


@contextmanager
def session_scope(engine: Engine, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    On SQLite it begins IMMEDIATE (it holds the write lock until it ends); with ``read_only`` it begins DEFERRED
    and must not write while another connection may (see the module docstring)."""
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    factory = sessionmaker(bind, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
