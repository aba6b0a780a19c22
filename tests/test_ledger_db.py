"""Transactions behave the same on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import Engine

from rareeco.ledger import structure
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import Organisation


def test_regression_savepoint_released_before_any_write_does_not_commit(engine: Engine) -> None:
    """pysqlite's own transaction handling committed a released SAVEPOINT opened before any write;
    a SIGKILL after it left an import batch without its rows."""
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        with s.begin_nested():
            structure.create_org(s, "ghost")
        raise RuntimeError("the outer transaction fails")
    with session_scope(engine) as s:
        assert s.get(Organisation, "ghost") is None


def test_rolled_back_savepoint_keeps_the_outer_transaction(engine: Engine) -> None:
    with session_scope(engine) as s:
        structure.create_org(s, "kept")
        nested = s.begin_nested()
        structure.create_org(s, "dropped")
        nested.rollback()
    with session_scope(engine) as s:
        assert s.get(Organisation, "kept") is not None and s.get(Organisation, "dropped") is None


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    """Alembic's comparison of the migrated database with the models finds nothing to add or drop."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from rareeco.ledger.models import Base

    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if d[0] in ("add_table", "remove_table", "add_column", "remove_column")] == []
