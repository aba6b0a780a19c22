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
