"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.models import ApiToken, User
from node.permissions import CITY_ROLES, SECRETARIAT_ROLES
from node.services.password_policy import password_problems

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
# One method for every hash, real or dummy: the dummy check must cost what a real one costs.
PASSWORD_HASH_METHOD = "scrypt:32768:8:1"  # noqa: S105 - a hash method, not a secret
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
    city_words: Iterable[str] = (),
) -> User:
    """Create a user; the password is stored as a salted scrypt hash, never in clear.

    The password must pass the node's policy (``node.services.password_policy``);
    ``city_words`` (the node's city id and name) may not carry it.
    """
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = ["not an e-mail address"]
    if role not in roles_for(node_role):
        errors["role"] = [f"one of {', '.join(roles_for(node_role))}"]
    problems = password_problems(password, email=email, city_words=city_words)
    if problems:
        errors["password"] = problems
    if errors:
        code = "weak_password" if set(errors) == {"password"} else None
        raise InvalidInputError("The user cannot be created.", code=code, errors=errors)
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise ConflictError(f"A user with e-mail {email} already exists.", code="user_exists")
    user = User(
        email=email,
        password_hash=generate_password_hash(password, method=PASSWORD_HASH_METHOD),
        role=role,
        active=True,
        created_at=now,
        session_version=1,
    )
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"There is no user with e-mail {email}.", code="user_not_found")
    return user


@cache
def dummy_password_hash() -> str:
    """A hash of a random secret nobody knows, made once per process with the real method.

    Checked instead of a real hash for an unknown or inactive account, so both cases cost
    exactly one scrypt check, like a known account (generating a fresh hash there, as before,
    cost twice as much and told which accounts exist).
    """
    return generate_password_hash(secrets.token_urlsafe(32), method=PASSWORD_HASH_METHOD)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, else None (one hash check either way)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        check_password_hash(dummy_password_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def end_sessions(session: Session, user: User) -> None:
    """Invalidate every login cookie of ``user`` (they carry the old session version)."""
    user.session_version = (user.session_version or 1) + 1
    session.flush()


def change_password(
    session: Session, user: User, new_password: str, *, city_words: Iterable[str] = ()
) -> None:
    """Set a new password (policy checked) and end every session opened with the old one."""
    problems = password_problems(new_password, email=user.email, city_words=city_words)
    if problems:
        raise InvalidInputError(
            "The new password is refused.", code="weak_password", errors={"password": problems}
        )
    user.password_hash = generate_password_hash(new_password, method=PASSWORD_HASH_METHOD)
    end_sessions(session, user)


def new_token() -> str:
    """A fresh bearer token: our prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_well_formed_token(token: str) -> bool:
    """Whether ``token`` has the shape :func:`new_token` gives (prefix + 43 url-safe chars)."""
    body = token[len(TOKEN_PREFIX) :]
    return (
        token.startswith(TOKEN_PREFIX)
        and len(body) == 43
        and re.fullmatch(r"[A-Za-z0-9_-]+", body) is not None
    )


def _token_digest(token: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user: User, *, now: datetime, token: str | None = None) -> str:
    """Create a bearer token for ``user``; return it once (only its hash is kept).

    ``token``: a value the operator generated beforehand with :func:`new_token` (``hrcnet demo
    init-network`` hands it to the seeding tool). It must look like one of ours, so it carries
    the same 256 bits of randomness the fast hash relies on.
    """
    if token is None:
        token = new_token()
    elif not is_well_formed_token(token):
        raise ValueError("a pre-generated token must come from new_token()")
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
