"""The audit log is append-only and hash-chained: edits and deletions are detected."""

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from conftest import make_org
from rareeco.ledger import audit
from rareeco.ledger.db import session_scope


def chain(engine: Engine) -> audit.ChainReport:
    with session_scope(engine) as s:
        return audit.verify(s)


def drop_guard(engine: Engine) -> None:
    """What an attacker with database access would do first."""
    with engine.begin() as c:
        if engine.dialect.name == "sqlite":
            c.execute(text("DROP TRIGGER audit_log_no_update"))
            c.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            c.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))


def test_intact_chain_of_every_change(engine: Engine) -> None:
    make_org(engine)   # org, 2 sites, line, product = 5 entries
    rep = chain(engine)
    assert rep.ok and rep.entries == 5 and rep.problems == []


def test_database_refuses_update_and_delete(engine: Engine) -> None:
    make_org(engine)
    for stmt in ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
            c.execute(text(stmt))
    assert chain(engine).ok


def test_edited_row_is_detected(engine: Engine) -> None:
    make_org(engine)
    drop_guard(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET details = '{\"province\":\"CN-SC\"}' WHERE seq = 2"))
    rep = chain(engine)
    assert not rep.ok and rep.problems == ["entry 2: content does not match its hash (edited)"]


def test_deleted_row_is_detected(engine: Engine) -> None:
    make_org(engine)
    drop_guard(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    rep = chain(engine)
    assert not rep.ok
    assert rep.problems[0] == "entry 3 missing (deleted)"
    assert "entry 4: previous-hash link broken" in rep.problems[1]


def test_rehashed_forgery_of_the_last_row_still_breaks_nothing_before_it(engine: Engine) -> None:
    """Recomputing one row's hash after editing it breaks the link of the next row."""
    make_org(engine)
    drop_guard(engine)
    with session_scope(engine) as s:
        e = s.execute(text("SELECT seq, at, org_id, actor, action, subject, prev_hash FROM audit_log "
                           "WHERE seq = 2")).one()
        forged = audit.entry_hash(e.seq, e.at, e.org_id, "mallory", e.action, e.subject, "{}", e.prev_hash)
        s.execute(text("UPDATE audit_log SET actor='mallory', details='{}', hash=:h WHERE seq=2"), {"h": forged})
    rep = chain(engine)
    assert rep.problems == ["entry 3: previous-hash link broken (an earlier entry was changed or removed)"]
