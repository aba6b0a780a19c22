"""API tokens: each belongs to one organisation; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from rareeco.errors import AuthError, ValidationFailed
from rareeco.ledger import audit
from rareeco.ledger.models import ApiToken
from rareeco.ledger.structure import get_org, now

ROLES = ("admin", "steward", "verifier", "viewer")
# Who may do what (the API and the pages use the same groups).
READ = ROLES
WRITE = ("admin", "steward")        # import, add and choose factor sets
VERIFY = ("admin", "verifier")      # lock and unlock periods
ADMIN = ("admin",)                  # API tokens


def digest(token: str) -> str:
    """SHA-256 of a secret (an API token or a session cookie): only this is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, org_id: str, name: str, role: str = "steward", actor: str = "cli") -> str:
    """Create a token and return it; it is shown once and stored only as a hash."""
    get_org(session, org_id)
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}", fix=f"choose one of {', '.join(ROLES)}")
    token = f"rk_{org_id}_{secrets.token_urlsafe(24)}"
    session.add(ApiToken(org_id=org_id, name=name, token_sha256=digest(token), role=role, created_at=now()))
    audit.append(session, actor, "token.create", f"{org_id}/{name}", org_id, {"role": role})
    return token


def resolve(session: Session, token: str) -> ApiToken:
    row = session.execute(select(ApiToken).where(ApiToken.token_sha256 == digest(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked API token", fix="create one with: rareeco token create ORG NAME")
    return row
