"""The benchmarks' databases: an empty SQLite file or a fresh PostgreSQL database, removed afterwards.

Imported by the benchmark scripts (``python benchmarks/NAME.py`` puts this folder on the import path).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text


@contextmanager
def database(kind: str, workdir: Path, pg_admin: str) -> Iterator[tuple[str, str]]:
    """URL of an empty database and its server version; dropped/removed afterwards.

    ``pg_admin`` is the URL of the PostgreSQL server's admin database (``postgresql://`` or
    ``postgresql+psycopg://``); the new database sits beside it."""
    if kind == "sqlite":
        path = workdir / f"ledger-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}", f"SQLite {sqlite3.sqlite_version}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if pg_admin.startswith("postgresql://"):
        pg_admin = "postgresql+psycopg://" + pg_admin[len("postgresql://"):]
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    name = f"rareeco_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        version = c.execute(text("SHOW server_version")).scalar_one()
        c.execute(text(f'CREATE DATABASE "{name}"'))
    base = pg_admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}", f"PostgreSQL {version}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
