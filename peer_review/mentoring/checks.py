"""The one check every path calls, and what it reads: a relationship as this node holds it, the
facts the preconditions read, the actions a user may take now, and sending our statement.

Local actions (API, pages, the expiry job) and the partner's messages both go through
:func:`check` — the table, then the message type the action travels in — so a page cannot allow
what the inbox would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError, NotFoundError
from node.network import port
from node.network.port import Peer
from node.permissions import Actor
from node.refusals import Problem
from peer_review.mentoring.acting import Acting, Carrier, local_actor, require_viewer
from peer_review.mentoring.models import Document, Relationship
from peer_review.mentoring.workflow import ANSWER_PERIOD, ROLE_ORDER, SIGN_ACTIONS, WORKFLOW
from peer_review.refusal import WorkflowRefusal
from peer_review.statemachine import Transition, TransitionRefused
from schemas.mentoring import MENTORING_STREAM, schema_name

# --- reading ------------------------------------------------------------------------------------


def get_relationship(session: Session, rel_id: str) -> Relationship:
    """A relationship this node takes part in (404 ``unknown_relationship``)."""
    rel = session.get(Relationship, rel_id) if len(rel_id) <= 32 else None
    if rel is None:
        raise NotFoundError(
            f"No mentoring relationship '{rel_id[:40]}'.", code="unknown_relationship"
        )
    return rel


def relationship_for(session: Session, rel_id: str, user: Actor | None) -> Relationship:
    # The role first, then the id: someone who takes no part cannot probe which ids exist.
    """The relationship ``rel_id`` for a user who takes part in mentoring (401 / 403 / 404)."""
    require_viewer(user)
    return get_relationship(session, rel_id)


def list_relationships(session: Session) -> list[Relationship]:
    """Every relationship of this city, newest first."""
    return list(session.scalars(select(Relationship).order_by(Relationship.proposed_at.desc())))


def versions(rel: Relationship, kind: str) -> list[Document]:
    """Every version of one document, oldest first."""
    return [d for d in rel.documents if d.kind == kind]


def latest(rel: Relationship, kind: str) -> Document | None:
    """The current version of one document, if any."""
    found = versions(rel, kind)
    return found[-1] if found else None


def is_cosigned(rel: Relationship, doc: Document) -> bool:
    """Both cities' envelopes name this version's hash."""
    signed = {s.city_id for s in doc.signatures if s.sha256 == doc.sha256}
    return {rel.mentor_city, rel.mentee_city} <= signed


def cosigned(rel: Relationship, kind: str) -> bool:
    """The current version of ``kind`` is co-signed (an agreement also needs a goal)."""
    doc = latest(rel, kind)
    if doc is None or not is_cosigned(rel, doc):
        return False
    return kind != "agreement" or bool(doc.content.get("goals"))


def facts_for(
    session: Session, config: NodeConfig, rel: Relationship, actor: Acting, **extra: Any
) -> dict[str, Any]:
    """The context the preconditions read, as this node knows it."""
    partner = rel.partner_of(config.city_id)
    peer = session.get(Peer, partner)
    return {
        "twinned": peer is not None and peer.state == "active" and peer.role == "city",
        "partner": partner,
        "actor_city": actor.city,
        "proposer": rel.proposer_city,
        "now": actor.at,
        "answer_due_at": rel.proposed_at + ANSWER_PERIOD,
        "agreement_cosigned": cosigned(rel, "agreement"),
        "closure_report_cosigned": cosigned(rel, "closure_report"),
        **extra,
    }


def check(
    state: str, action: str, actor: Acting, facts: Mapping[str, Any], message: str | None
) -> Transition:
    """The one check every path calls: the table, then the message type it travels in."""
    try:
        transition = WORKFLOW.check(state, action, actor.roles, facts)
    except TransitionRefused as exc:
        if exc.extra.get("precondition") == "twinned":
            # Nothing is sent to a city that is not an active twin: say so with its own code.
            exc.code, exc.status = "not_twinned", 409
        raise
    if transition.message != message:
        raise WorkflowRefusal(
            f"'{action}' travels as {transition.message or 'nothing (it stays local)'}, "
            f"not {message or 'a local action'}.",
            code="wrong_message_type",
            status=422,
        )
    return transition


def check_rel(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    message: str | None,
    state: str | None = None,
    **extra: Any,
) -> Transition:
    """:func:`check` on ``rel`` with the facts this node holds (``extra`` adds or overrides)."""
    facts = facts_for(session, config, rel, actor, **extra)
    return check(state or rel.state, action, actor, facts, message)


def allowed_actions(
    session: Session, config: NodeConfig, rel: Relationship, user: Actor | None, now: datetime
) -> list[dict[str, Any]]:
    """Every action the table opens to this user in this state, and whether its preconditions
    hold now (with the reason when not): pages show buttons for these only."""
    try:
        actor = local_actor(config, rel, user, now)
    except DomainError:
        return []
    facts = facts_for(session, config, rel, actor)
    out = []
    for found in WORKFLOW.available(rel.state, actor.roles):
        extra: dict[str, Any] = {"goals": 1}  # a proposal's goals are checked when it is made
        kind = next((k for k, a in SIGN_ACTIONS.items() if a == found.action), None)
        if kind is not None:
            extra.update(signing_facts(rel, kind, latest(rel, kind), config.city_id))
        try:
            check(rel.state, found.action, actor, {**facts, **extra}, found.message)
        except DomainError as exc:
            # The English reason (the API's), carrying its code so a page can translate it.
            reason = Problem(exc.detail, exc.code, params=exc.params, variant=exc.variant)
            out.append({"action": found.action, "allowed": False, "reason": reason})
        else:
            out.append({"action": found.action, "allowed": True, "reason": None})
    return out


def _role_used(transition: Transition, actor: Acting) -> str:
    held = transition.roles & actor.roles
    return next(role for role in ROLE_ORDER if role in held)


def message_head(rel_id: str, transition: Transition, actor: Acting) -> dict[str, Any]:
    """The fields every mentoring message starts with: relationship, action, the role acted in."""
    return {
        "relationship_id": rel_id,
        "action": transition.action,
        "actor_role": _role_used(transition, actor),
    }


def send(
    session: Session,
    config: NodeConfig,
    partner: str,
    type_: str,
    payload: dict[str, Any],
    now: datetime,
) -> Carrier:
    """Sign our statement and queue it for the partner city (the same bytes by push or pull)."""
    envelope = port.sign_and_store(
        session,
        config,
        type_=type_,
        schema=schema_name(type_),
        stream=MENTORING_STREAM,
        payload=payload,
        audience=[partner],
        now=now,
    )
    port.queue(session, envelope, [partner], now)
    return Carrier(config.city_id, envelope.seq, envelope.sha256, out_seq=envelope.seq)


def signing_facts(rel: Relationship, kind: str, doc: Document | None, city: str) -> dict[str, bool]:
    """The facts ``latest_version`` and ``already_signed`` of ``city`` signing ``doc``."""
    return {
        "latest_version": doc is not None and doc is latest(rel, kind),
        "already_signed": doc is not None and any(s.city_id == city for s in doc.signatures),
    }
