"""Web accounts: argon2 hashes, roles, sessions, the sign-in rate limit and the demo password rule."""

import pytest
from sqlalchemy import Engine, select

from conftest import make_org
from rareeco.errors import AuthError, ForbiddenError, ValidationFailed
from rareeco.ledger import accounts, audit
from rareeco.ledger.db import session_scope
from rareeco.ledger.models import User

PW = "correct horse battery"


@pytest.fixture
def users(engine: Engine) -> Engine:
    make_org(engine, "acme")
    make_org(engine, "other")
    with session_scope(engine) as s:
        accounts.create_user(s, "Alice", PW, "Alice Li")
        accounts.grant(s, "alice", "acme", "verifier")
        accounts.grant(s, "alice", "other", "viewer")
    return engine


def attempt(engine: Engine, user: str, pw: str, client: str = "10.0.0.1", demo: bool = False):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        try:
            return accounts.sign_in(s, user, pw, client, demo)
        except (AuthError, accounts.TooManyAttempts) as exc:
            return exc


def test_password_is_stored_as_argon2_and_sign_in_opens_a_session(users: Engine) -> None:
    with session_scope(users) as s:
        u = s.execute(select(User).where(User.username == "alice")).scalar_one()
        assert u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
    signed = attempt(users, "ALICE", PW)
    assert isinstance(signed, accounts.SignIn)
    with session_scope(users) as s:
        ws, user = accounts.resolve(s, signed.token)  # type: ignore[misc]
        assert user.username == "alice" and ws.org_id == "acme" and len(ws.csrf_token) >= 32
        assert accounts.memberships(s, user.id) == [("acme", "acme", "verifier"), ("other", "other", "viewer")]
        accounts.switch_org(s, ws, "other")
        with pytest.raises(ForbiddenError):
            accounts.switch_org(s, ws, "nobody-org")
        assert ws.id != signed.token                                  # only the hash is stored
        accounts.sign_out(s, signed.token)
        assert accounts.resolve(s, signed.token) is None


def test_rate_limit_after_five_failures_and_failures_are_audited(users: Engine) -> None:
    for _ in range(5):
        assert isinstance(attempt(users, "alice", "wrong password"), AuthError)
    refused = attempt(users, "alice", PW)                       # right password, but locked out
    assert isinstance(refused, accounts.TooManyAttempts) and refused.http_status == 429
    assert isinstance(attempt(users, "bob", "x", client="10.0.0.1"), accounts.TooManyAttempts)  # same client
    assert isinstance(attempt(users, "alice", PW, client="10.9.9.9"), accounts.TooManyAttempts)  # same user
    with session_scope(users) as s:
        failed = [e for e in audit.entries(s, None, 100) if e.action == "auth.login_failed"]
        assert len(failed) == 5 and '"client":"10.0.0.1"' in failed[0].details
        assert audit.verify(s).ok


def test_demo_password_only_in_demo_mode(engine: Engine) -> None:
    make_org(engine, "demo")
    with session_scope(engine) as s:
        accounts.ensure_demo_users(s, "demo")
        accounts.ensure_demo_users(s, "demo")                    # idempotent
    refused = attempt(engine, "demo", accounts.DEMO_PASSWORD, demo=False)
    assert isinstance(refused, AuthError) and "demo mode" in refused.message
    assert isinstance(attempt(engine, "demo", accounts.DEMO_PASSWORD, client="10.1.1.1", demo=True),
                       accounts.SignIn)
    verifier = attempt(engine, "demo-verifier", accounts.DEMO_PASSWORD, client="10.2.2.2", demo=True)
    with session_scope(engine) as s:
        assert accounts.role_in(s, verifier.user.id, "demo") == "verifier"


def test_user_names_passwords_and_roles_are_checked(users: Engine) -> None:
    with session_scope(users) as s:
        with pytest.raises(ValidationFailed):
            accounts.create_user(s, "x", PW)
        with pytest.raises(ValidationFailed, match="too short"):
            accounts.create_user(s, "bob", "short")
        with pytest.raises(ValidationFailed, match="unknown role"):
            accounts.grant(s, "alice", "acme", "owner")
