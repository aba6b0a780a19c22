"""Shared fixtures: a fresh ledger on SQLite and, where available, on PostgreSQL.

PostgreSQL tests use ``RAREECO_TEST_PG_URL`` (default postgresql://postgres@127.0.0.1:5432/postgres).
Without a server they skip with a message — unless ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from rareeco.ledger import structure
from rareeco.ledger.db import make_engine, session_scope

# CI runs the property tests with a fixed seed (a submission's result must not depend on luck); local runs
# explore new examples every time, and a failure found there becomes a fixed test.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

PG_ADMIN_URL = os.environ.get("RAREECO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
_template: dict[str, str] = {}


def _pg_admin() -> Engine | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        return eng
    except Exception as exc:  # no server, wrong credentials …
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip("PostgreSQL not available — start one on 127.0.0.1:5432 or set RAREECO_TEST_PG_URL to run "
                    "these tests")
    return None


def _pg_url(db: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{db}"


def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (cloned from a migrated template), dropped afterwards."""
    admin = _pg_admin()
    assert admin is not None
    if "name" not in _template:
        name = f"rareeco_tmpl_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        eng = make_engine(_pg_url(name))
        eng.dispose()
        _template["name"] = name
    db = f"rareeco_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{db}" TEMPLATE "{_template["name"]}"'))
    try:
        yield _pg_url(db)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    if "name" in _template:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{_template["name"]}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """URL of an empty, migrated ledger — once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        yield from pg_database()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    eng = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield eng
    eng.dispose()


def make_org(engine: Engine, org: str = "acme") -> None:
    """Organisation with sites baotou (CN-NM) and ganzhou (CN-JX), line sep, product la2o3."""
    with session_scope(engine) as s:
        structure.create_org(s, org)
        structure.add_site(s, org, "baotou", "CN-NM")
        structure.add_site(s, org, "ganzhou", "CN-JX")
        structure.add_line(s, org, "baotou", "sep")
        structure.add_product(s, org, "la2o3")


# --- browser tests: one demo server and one Chromium per test module, a fresh page per test -------------------

@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``rareeco demo --serve`` on a fresh ledger (skipped without a browser, failed without one in CI)."""
    from browser_support import need_browser, serve_demo

    need_browser()
    yield from serve_demo(tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_")))


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from browser_support import chromium

    yield from chromium()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    from browser_support import new_page

    yield from new_page(browser, server)
