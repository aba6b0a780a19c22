"""Web accounts: users with argon2 password hashes, roles per organisation, sessions, sign-in rate limit."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from rareeco import settings
from rareeco.errors import AuthError, ConflictError, ForbiddenError, NotFoundError, RareecoError, ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.models import LoginAttempt, Membership, Organisation, User, WebSession
from rareeco.ledger.structure import get_org, now
from rareeco.ledger.tokens import ROLES, digest

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
DEMO_USER = "demo"
DEMO_USERS = {DEMO_USER: ("Demo user", "admin"), "demo-verifier": ("Demo verifier", "verifier")}
DEMO_PASSWORD = "demo-password"   # published in the README: accepted only in demo mode
_hasher = PasswordHasher()


class TooManyAttempts(RareecoError, PermissionError):
    code = "too_many_attempts"
    http_status = 429


def get_user(session: Session, username: str) -> User:
    u = session.execute(select(User).where(User.username == username.lower())).scalar_one_or_none()
    if u is None:
        raise NotFoundError(f"no user {username!r}", fix="add one with: rareeco user add USERNAME --org ORG")
    return u


def create_user(session: Session, username: str, password: str, display_name: str | None = None,
                lang: str = "en", actor: str = "cli") -> User:
    username = username.lower()
    if not USERNAME.match(username):
        raise ValidationFailed(f"user name {username!r} is not valid",
                               fix="use 2–64 lower-case letters, digits, '.', '-' or '_'")
    if len(password) < 10 and not (username in DEMO_USERS and password == DEMO_PASSWORD):
        raise ValidationFailed("password too short", fix="use at least 10 characters")
    if session.execute(select(User).where(User.username == username)).first():
        raise ConflictError(f"user {username!r} already exists", fix="choose another name")
    u = User(username=username, display_name=display_name or username, password_hash=_hasher.hash(password),
             lang="zh" if lang.startswith("zh") else "en", created_at=now(), disabled=False)
    session.add(u)
    session.flush()
    audit.append(session, actor, "user.create", username, None, {})
    return u


def set_password(session: Session, username: str, password: str, actor: str = "cli") -> None:
    if len(password) < 10:
        raise ValidationFailed("password too short", fix="use at least 10 characters")
    get_user(session, username).password_hash = _hasher.hash(password)
    audit.append(session, actor, "user.password", username, None, {})


def grant(session: Session, username: str, org_id: str, role: str, actor: str = "cli") -> Membership:
    """Give ``username`` the ``role`` in ``org_id`` (replacing an earlier role there)."""
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}", fix=f"choose one of {', '.join(ROLES)}")
    u = get_user(session, username)
    get_org(session, org_id)
    m = session.execute(select(Membership).where(Membership.user_id == u.id, Membership.org_id == org_id)) \
        .scalar_one_or_none()
    if m is None:
        m = Membership(user_id=u.id, org_id=org_id, role=role)
        session.add(m)
    else:
        m.role = role
    session.flush()
    audit.append(session, actor, "user.grant", f"{org_id}/{username}", org_id, {"role": role})
    return m


def memberships(session: Session, user_id: int) -> list[tuple[str, str, str]]:
    """(org id, org name, role) of every organisation the user belongs to."""
    q = (select(Membership.org_id, Organisation.name, Membership.role)
         .join(Organisation, Organisation.id == Membership.org_id)
         .where(Membership.user_id == user_id).order_by(Membership.org_id))
    return [(o, n, r) for o, n, r in session.execute(q).all()]


def role_in(session: Session, user_id: int, org_id: str) -> str | None:
    return session.execute(select(Membership.role).where(Membership.user_id == user_id,
                                                         Membership.org_id == org_id)).scalar_one_or_none()


@dataclass
class SignIn:
    user: User
    token: str          # the cookie value; only its SHA-256 is stored
    web_session: WebSession


def _recent_failures(session: Session, username: str, client: str) -> int:
    since = now() - timedelta(minutes=settings.get_int("RAREECO_LOGIN_WINDOW_MINUTES"))
    q = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.at >= since, LoginAttempt.ok.is_(False),
        or_(LoginAttempt.username == username, LoginAttempt.client == client))
    return int(session.execute(q).scalar_one())


def sign_in(session: Session, username: str, password: str, client: str, demo_mode: bool = False) -> SignIn:
    """Check the password (argon2) under the rate limit; on success open a web session.

    Every failure is recorded (attempts table and audit log) before the error is raised: the caller
    catches it inside its transaction so that the record is committed.
    """
    username = username.strip().lower()
    limit = settings.get_int("RAREECO_LOGIN_MAX_FAILURES")
    if _recent_failures(session, username, client) >= limit:
        raise TooManyAttempts("too many failed sign-ins; wait and try again",
                              fix=f"wait {settings.get('RAREECO_LOGIN_WINDOW_MINUTES')} minutes")
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    ok = False
    if user is not None and not user.disabled:
        try:
            ok = _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
    if ok and user is not None and user.username in DEMO_USERS and password == DEMO_PASSWORD and not demo_mode:
        session.add(LoginAttempt(username=username, client=client, at=now(), ok=False))
        audit.append(session, username, "auth.login_refused", username, None,
                     {"client": client, "reason": "published demo password outside demo mode"})
        raise AuthError("the demo password is accepted only in demo mode",
                        fix="start with: rareeco demo --serve, or set a password: rareeco user passwd demo")
    session.add(LoginAttempt(username=username, client=client, at=now(), ok=ok))
    if not ok or user is None:
        audit.append(session, username or "?", "auth.login_failed", username, None, {"client": client})
        raise AuthError("wrong user name or password", fix="check both and try again")
    token = secrets.token_urlsafe(32)
    orgs = memberships(session, user.id)
    ws = WebSession(id=digest(token), user_id=user.id, org_id=orgs[0][0] if orgs else None,
                    csrf_token=secrets.token_urlsafe(32), created_at=now(),
                    expires_at=now() + timedelta(hours=settings.get_int("RAREECO_SESSION_HOURS")))
    session.add(ws)
    audit.append(session, username, "auth.login", username, None, {"client": client})
    return SignIn(user, token, ws)


def resolve(session: Session, token: str | None) -> tuple[WebSession, User] | None:
    """The open session and its user for a cookie value, or None (unknown or expired)."""
    if not token:
        return None
    ws = session.get(WebSession, digest(token))
    if ws is None:
        return None
    expires = ws.expires_at if ws.expires_at.tzinfo else ws.expires_at.replace(tzinfo=now().tzinfo)
    if expires < now():
        session.delete(ws)
        return None
    user = session.get(User, ws.user_id)
    if user is None or user.disabled:
        return None
    return ws, user


def sign_out(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.id == digest(token)))


def switch_org(session: Session, ws: WebSession, org_id: str) -> None:
    if role_in(session, ws.user_id, org_id) is None:
        raise ForbiddenError(f"you are not a member of {org_id!r}", fix="choose one of your organisations")
    ws.org_id = org_id


def ensure_demo_users(session: Session, org_id: str) -> None:
    """The demo logins (``demo``: admin, ``demo-verifier``: verifier of the demo organisation), created once."""
    for name, (display, role) in DEMO_USERS.items():
        u = session.execute(select(User).where(User.username == name)).scalar_one_or_none()
        if u is None:
            u = create_user(session, name, DEMO_PASSWORD, display, "en", "demo-loader")
        if role_in(session, u.id, org_id) is None:
            grant(session, name, org_id, role, "demo-loader")


