"""Who acts in mentoring, and the envelope that carries what they did: the acting city with its
mentoring roles, the carrier of a statement, time and hashes as both nodes compute them, and
mentoring's refusals.

A local user acts with the roles their local role gives them on the side their city takes
(``node.permissions.MENTORING_ROLES``); the partner city acts with the one role its signed
envelope claims, which must be a role of its own side.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from federation.canonical import canonical_bytes
from node.config import NodeConfig
from node.errors import AuthenticationRequiredError, DomainError, PermissionDeniedError
from node.network import port
from node.permissions import MENTORING_ROLES, Actor
from peer_review.mentoring.models import Relationship
from peer_review.mentoring.workflow import mentoring_roles

# --- errors -------------------------------------------------------------------------------------


class MentoringRefusal(DomainError):
    """A mentoring action or message refused; ``code`` says why."""

    title = "Mentoring action refused"


class Unprocessable(MentoringRefusal):
    """Something a message refers to is missing here (422: a 404 would be retried)."""

    status = 422


# --- who acts, and which envelope carries it ------------------------------------------------------


@dataclass(frozen=True)
class Acting:
    """Who takes a transition: a city, the mentoring roles it acts with, and when."""

    city: str
    roles: frozenset[str]
    at: datetime  # millisecond precision, so both nodes store the same instants
    user_id: int | None = None  # a local user (private notes only)


@dataclass(frozen=True)
class Carrier:
    """The signed envelope that carries a change: ours (``out_seq``) or the partner's."""

    origin: str
    seq: int
    sha256: str
    out_seq: int | None = None
    in_envelope_id: int | None = None

    @property
    def ref(self) -> str:
        """``<origin>:<seq>``: names a state change (``prev_ref`` of the next one)."""
        return f"{self.origin}:{self.seq}"


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as envelopes carry time."""
    return port.ms(moment)


def from_ms(value: int) -> datetime:
    """The UTC instant of an epoch-milliseconds value."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def instant(now: datetime) -> datetime:
    """``now`` at millisecond precision, so both nodes store the same instant."""
    return from_ms(ms(now))


def content_sha256(content: Mapping[str, Any]) -> str:
    """The hash a city signs: SHA-256 of the RFC 8785 canonical form of a document's content."""
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def new_id() -> str:
    """An id for a relationship, session, note or goal, made by the city that creates it."""
    return uuid.uuid4().hex


def local_actor(config: NodeConfig, rel: Relationship, user: Actor | None, now: datetime) -> Acting:
    """A local user acting on ``rel``: their mentoring roles on this city's side (401 / 403
    ``role_not_allowed`` when they take no part)."""
    if user is None:
        raise AuthenticationRequiredError(
            "Sign in or send 'Authorization: Bearer <token>' to do this."
        )
    side = rel.side_of(config.city_id)
    roles = mentoring_roles(user.role, side or "") if user.active else frozenset()
    if not roles or side is None:
        # Roles outside the mapping take no part in mentoring, not even reading it.
        raise PermissionDeniedError(
            f"Your role '{user.role}' takes no part in mentoring.", code="role_not_allowed"
        )
    return Acting(config.city_id, roles, instant(now), getattr(user, "id", None))


def remote_actor(rel: Relationship, origin: str, role: str, at: datetime) -> Acting:
    """The partner city acting on ``rel`` with the role its envelope claims (403 ``not_a_party``
    / ``role_not_allowed``)."""
    side = rel.side_of(origin)
    if side is None:
        # Security: only the two cities of a relationship may change it, whoever else is a twin.
        raise MentoringRefusal(
            f"{origin} is not a party to mentoring relationship {rel.id}.",
            code="not_a_party",
            status=403,
        )
    if role not in (f"{side}_lead", "member", "system"):
        # A city speaks for its own side only: the mentee cannot act as the mentor's lead.
        raise MentoringRefusal(
            f"{origin} is the {side}; it cannot act as {role}.", code="role_not_allowed", status=403
        )
    return Acting(origin, frozenset({role}), at)


def require_viewer(user: Actor | None) -> Actor:
    """The user, if their role takes part in mentoring on this node (401 / 403 otherwise)."""
    if user is None:
        raise AuthenticationRequiredError(
            "Sign in or send 'Authorization: Bearer <token>' to do this."
        )
    if not user.active or user.role not in MENTORING_ROLES:
        raise PermissionDeniedError(
            f"Your role '{user.role}' takes no part in mentoring.", code="role_not_allowed"
        )
    return user
