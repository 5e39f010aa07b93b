"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from node.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from node.models import ApiToken, PasswordReset, User
from node.permissions import CITY_ROLES, SECRETARIAT_ROLES, Actor, require
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


# --- administration: users, tokens and password resets (pages for administrators) ------------

# How long a password-reset link works: long enough to reach someone by e-mail or phone, short
# enough that a link found later in a mailbox is dead.
RESET_LINK_LIFETIME = timedelta(hours=24)


class ResetLinkInvalidError(DomainError):
    """The reset link is unknown, used, expired, or its account is deactivated."""

    status = 410
    code = "reset_link_invalid"
    title = "Link not valid"


def list_users(session: Session) -> list[User]:
    """Every user, administrators first, then by e-mail."""
    return list(session.scalars(select(User).order_by(User.role != "admin", User.email)))


def get_user(session: Session, user_id: int) -> User:
    """The user with this id, or 404 ``user_not_found``."""
    # Ids beyond 32 bits cannot exist (INTEGER keys); asking the database would overflow.
    user = session.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise NotFoundError(f"There is no user with id {user_id}.", code="user_not_found")
    return user


def _would_remove_last_admin(session: Session, user: User) -> bool:
    """Whether ``user`` is the only active administrator left.

    Without an administrator nobody can manage users from the pages again (only the operator's
    command line could), so the last one can be neither demoted nor deactivated. The rows are
    locked on PostgreSQL so that two administrators demoting each other at the same moment do
    not both pass the check.
    """
    if user.role != "admin" or not user.active:
        return False
    admins = session.scalar(
        select(func.count()).select_from(
            select(User.id)
            .where(User.role == "admin", User.active.is_(True))
            .with_for_update()
            .subquery()
        )
    )
    return (admins or 0) <= 1


def set_role(
    session: Session, user_id: int, role: str, *, actor: Actor | None, node_role: str = "city"
) -> User:
    """Give a user another role (never taking the role of the last active administrator)."""
    require(actor, "users.manage")
    user = get_user(session, user_id)
    if role not in roles_for(node_role):
        raise InvalidInputError(
            "This role does not exist.",
            code="invalid_role",
            errors={"role": [f"one of {', '.join(roles_for(node_role))}"]},
        )
    if role != "admin" and _would_remove_last_admin(session, user):
        raise ConflictError(
            "This is the last administrator: make someone else administrator first.",
            code="last_admin",
        )
    if user.role != role:
        user.role = role
        # Sessions opened under the old role end: a demoted user must not keep acting with it.
        end_sessions(session, user)
    session.flush()
    return user


def set_active(session: Session, user_id: int, active: bool, *, actor: Actor | None) -> User:
    """Deactivate (no sign-in, no token works) or reactivate a user; never the last admin."""
    require(actor, "users.manage")
    user = get_user(session, user_id)
    if not active and _would_remove_last_admin(session, user):
        raise ConflictError(
            "This is the last administrator: make someone else administrator first.",
            code="last_admin",
        )
    if user.active != active:
        user.active = active
        end_sessions(session, user)
    session.flush()
    return user


def list_tokens(session: Session) -> list[ApiToken]:
    """Every API token (newest first); only prefixes are shown, the hashes never."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, token_id: int, *, actor: Actor | None) -> ApiToken:
    """Revoke an API token: programs using it are refused from the next request on."""
    require(actor, "users.manage")
    row = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None:
        raise NotFoundError(f"There is no token with id {token_id}.", code="token_not_found")
    row.revoked = True
    session.flush()
    return row


def issue_password_reset(
    session: Session, user_id: int, *, actor: Actor | None, now: datetime
) -> str:
    """Issue a one-time reset link secret for a user; return it once (only its hash is kept).

    Any earlier link of the user stops working: only the newest one can be in use.
    """
    require(actor, "users.manage")
    user = get_user(session, user_id)
    if not user.active:
        raise ConflictError(
            "This user is deactivated: reactivate them first.", code="user_inactive"
        )
    for older in session.scalars(
        select(PasswordReset).where(
            PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)
        )
    ):
        older.expires_at = min(older.expires_at, now)
    secret = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_sha256=_token_digest(secret),
            issued_by_id=actor.id if isinstance(actor, User) else None,
            created_at=now,
            expires_at=now + RESET_LINK_LIFETIME,
        )
    )
    session.flush()
    return secret


def reset_for_link(session: Session, secret: str, *, now: datetime) -> PasswordReset:
    """The still usable reset behind a link's secret, else :class:`ResetLinkInvalidError`.

    One answer for unknown, used and expired links alike: the page tells a stranger trying
    secrets nothing about which ones ever existed.
    """
    row = None
    if 20 <= len(secret) <= 100:
        row = session.scalar(
            select(PasswordReset).where(PasswordReset.token_sha256 == _token_digest(secret))
        )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise ResetLinkInvalidError(
            "This password-reset link is not valid any more. Ask an administrator for a new one."
        )
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise ResetLinkInvalidError(
            "This password-reset link is not valid any more. Ask an administrator for a new one."
        )
    return row


def reset_password(
    session: Session,
    secret: str,
    new_password: str,
    *,
    now: datetime,
    city_words: Iterable[str] = (),
) -> User:
    """Set a new password through a reset link (policy checked); the link is then used up and
    every session of the user ends (``change_password`` bumps the session version)."""
    row = reset_for_link(session, secret, now=now)
    user = session.get(User, row.user_id)
    assert user is not None  # checked by reset_for_link
    change_password(session, user, new_password, city_words=city_words)
    row.used_at = now
    session.flush()
    return user
