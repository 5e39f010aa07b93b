"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.models import ApiToken, User
from node.permissions import CITY_ROLES, SECRETARIAT_ROLES

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "hrc_"  # noqa: S105 - a public prefix that makes leaked tokens greppable


def roles_for(node_role: str) -> tuple[str, ...]:
    return SECRETARIAT_ROLES if node_role == "secretariat" else CITY_ROLES


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    now: datetime,
    node_role: str = "city",
) -> User:
    """Create a user; the password is stored as a salted scrypt hash, never in clear."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = ["not an e-mail address"]
    if role not in roles_for(node_role):
        errors["role"] = [f"one of {', '.join(roles_for(node_role))}"]
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"at least {MIN_PASSWORD_LENGTH} characters"]
    if errors:
        raise InvalidInputError("The user cannot be created.", errors=errors)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise ConflictError(f"A user with e-mail {email} already exists.", code="user_exists")
    user = User(
        email=email,
        password_hash=generate_password_hash(password),
        role=role,
        active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"There is no user with e-mail {email}.", code="user_not_found")
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        # Hash anyway so a wrong e-mail takes as long as a wrong password (no user enumeration).
        check_password_hash(generate_password_hash("x"), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def _token_digest(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User, *, now: datetime) -> str:
    """Create a bearer token for ``user``; return it once (only its hash is kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id, token_sha256=_token_digest(token), prefix=token[:10], created_at=now
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str, *, now: datetime) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token)))
    if row is None or row.revoked or not row.user.active:
        return None
    row.last_used_at = now
    return row.user
