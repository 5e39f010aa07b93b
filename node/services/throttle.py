"""Login throttling: failed password checks counted per account and per client address.

Why in the node's own database rather than Flask-Limiter: Flask-Limiter's only storage shared
by several gunicorn workers and processes is an extra server (Redis, Memcached, MongoDB) that a
city's node does not otherwise run, and its in-memory storage is per process (four workers =
four times the allowed guesses, all forgotten at a restart). A table works the same on SQLite
and PostgreSQL, is shared by every worker, survives restarts, and lets the rule be what the
issue asks for: a lock that grows with each failure, not a fixed request rate.

The rule (settings in ``node.toml``, see ``schemas/config.py``): after ``limit`` failures within
the window, the account (address) is locked for ``login_lock_seconds``; each further failure
after a lock doubles it, up to ``login_lock_max_seconds``. During a lock no password is checked,
not even a correct one: otherwise the lock would only slow down, not stop, a guesser. A
success clears the account's counter (not the address's: one valid account must not let its
owner reset the counter of the address it uses to guess other accounts).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from node.models import LoginThrottle

ACCOUNT = "account"
ADDRESS = "address"
# An IPv6 client usually owns a whole /64: counting single addresses would give it 2**64 tries.
IPV6_PREFIX = 64


@dataclass(frozen=True)
class ThrottleRule:
    """The throttling numbers of one node (read from its configuration)."""

    account_limit: int
    address_limit: int
    window: timedelta
    lock: timedelta
    max_lock: timedelta

    @classmethod
    def from_config(cls, config: Any) -> ThrottleRule:
        return cls(
            account_limit=config.login_max_failures,
            address_limit=config.login_address_max_failures,
            window=timedelta(seconds=config.login_failure_window_seconds),
            lock=timedelta(seconds=config.login_lock_seconds),
            max_lock=timedelta(seconds=config.login_lock_max_seconds),
        )

    def limit(self, scope: str) -> int:
        return self.account_limit if scope == ACCOUNT else self.address_limit

    def lock_after(self, failures: int, limit: int) -> timedelta | None:
        """How long to lock after the ``failures``-th failure (None: not locked yet)."""
        if failures < limit:
            return None
        doublings = min(failures - limit, 40)  # 2**40 × 1 s is past any cap: no overflow
        return min(self.lock * (2**doublings), self.max_lock)


@dataclass(frozen=True)
class ThrottleKey:
    scope: str
    key: str


def _digest(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}\x00{value}".encode("utf-8", "surrogatepass")).hexdigest()


def account_key(email: str) -> ThrottleKey:
    """The counter of the account named ``email``, whether or not such an account exists.

    Unknown e-mails are counted exactly like known ones: treating them differently would tell
    an attacker which accounts exist.
    """
    return ThrottleKey(ACCOUNT, _digest(ACCOUNT, email.strip().lower()))


def address_key(address: str) -> ThrottleKey:
    """The counter of one client address (an IPv6 address counts as its /64 network)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return ThrottleKey(ADDRESS, _digest(ADDRESS, address))
    if parsed.version == 6 and parsed.ipv4_mapped is None:
        network = ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False)
        return ThrottleKey(ADDRESS, _digest(ADDRESS, str(network)))
    mapped = parsed.ipv4_mapped if parsed.version == 6 else None
    return ThrottleKey(ADDRESS, _digest(ADDRESS, str(mapped or parsed)))


def client_address(remote_addr: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The client's address for throttling.

    ``X-Forwarded-For`` is read only when the operator said how many proxies of theirs append
    to it (``trusted_proxy_hops``): the entry those proxies added is the client; everything
    left of it was written by the client itself and could be anything.
    """
    if trusted_hops > 0 and forwarded_for:
        hops = [part.strip() for part in forwarded_for.split(",")]
        if len(hops) >= trusted_hops:
            candidate = hops[-trusted_hops]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass  # a malformed entry: fall back to the proxy's own address
    return remote_addr or "unknown"


def retry_after(session: Session, keys: list[ThrottleKey], *, now: datetime) -> int | None:
    """Seconds until every given counter allows a password check again (None: allowed now)."""
    rows = session.scalars(
        select(LoginThrottle).where(LoginThrottle.key.in_([k.key for k in keys]))
    ).all()
    until = [row.locked_until for row in rows if row.locked_until and row.locked_until > now]
    if not until:
        return None
    return max(1, math.ceil((max(until) - now).total_seconds()))


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(LoginThrottle)


def record_failure(
    session: Session, key: ThrottleKey, rule: ThrottleRule, *, now: datetime
) -> datetime | None:
    """Count one failed password check; return the end of the lock it starts (None: no lock).

    Safe under concurrent workers: the row is created with ``ON CONFLICT DO NOTHING`` and then
    locked (``FOR UPDATE`` on PostgreSQL; on SQLite the insert already took the write lock), so
    two failures at once are both counted.
    """
    session.execute(
        _insert(session)
        .values(
            key=key.key,
            scope=key.scope,
            failures=0,
            last_failure_at=now,
            locked_until=None,
            expires_at=now,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    # A row past its expiry holds no lock and no failure in the window: start counting again.
    failures = 1 if row.expires_at <= now else row.failures + 1
    lock = rule.lock_after(failures, rule.limit(key.scope))
    row.failures = failures
    row.last_failure_at = now
    row.locked_until = now + lock if lock is not None else None
    # Kept a window after the lock ends, so a failure right after a lock doubles the next one.
    row.expires_at = (row.locked_until or now) + rule.window
    session.flush()
    return row.locked_until


def clear(session: Session, key: ThrottleKey) -> None:
    """Forget the counter (a successful sign-in on the account, or an operator's reset)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key.key))
    session.flush()


def prune(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Delete up to ``limit`` counters that no longer matter; return how many.

    Called at each recorded failure, so the table holds only what the last window produced
    (bounded by the address throttle: each row needs a failed attempt from some address).
    """
    stale = select(LoginThrottle.key).where(LoginThrottle.expires_at <= now).limit(limit)
    keys = list(session.scalars(stale))
    if keys:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
        session.flush()
    return len(keys)
