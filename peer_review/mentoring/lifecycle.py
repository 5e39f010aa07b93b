"""A relationship's life: propose, and every state change (accept … complete), ours or the
partner's, applied by one function (:func:`enter`).

**Concurrent changes.** Each state change names the one it follows (``prev_ref``, the
``<origin>:<seq>`` of that change's envelope). When the two cities change the state at the same
time, each node sees a message that does not follow its own state. The tie is broken the same
way on both nodes: the *mentor* city's change stands (``peer_review.mentoring.receiving``).

Services take a session and flush; the caller commits (one unit of work per request or job).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import InvalidInputError
from node.network.port import Peer
from node.permissions import Actor
from peer_review.mentoring.acting import (
    Acting,
    Carrier,
    MentoringRefusal,
    instant,
    local_actor,
    new_id,
    require_viewer,
)
from peer_review.mentoring.checks import check, check_rel, message_head, relationship_for, send
from peer_review.mentoring.effects import EFFECTS, Change, report_to_secretariat, sync_deadlines
from peer_review.mentoring.models import Event, Relationship
from peer_review.mentoring.workflow import OUTCOME_OF, WORKFLOW, mentoring_roles
from peer_review.statemachine import Transition
from schemas.mentoring import PROPOSED_TYPE, TRANSITION_TYPE

# --- state changes -------------------------------------------------------------------------------


def enter(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    transition: Transition,
    actor: Acting,
    carrier: Carrier,
    now: datetime,
    *,
    note: str | None = None,
    from_state: str | None = None,
) -> None:
    """Apply a state change and its effects: the row's own (dates, bound in
    :data:`~peer_review.mentoring.effects.EFFECTS`), history, deadlines, the secretariat."""
    before = from_state or rel.state
    action = transition.action
    rel.state = transition.target_from(before)
    rel.outcome = OUTCOME_OF.get(action)  # None unless the row closes it (checked at load)
    EFFECTS.apply(action, Change(session, rel, action, actor, carrier, now))
    if rel.state in WORKFLOW.terminal:
        rel.closed_at = actor.at
    rel.state_version += 1
    rel.state_ref, rel.last_action, rel.updated_at = carrier.ref, action, now
    session.add(
        Event(
            relationship_id=rel.id,
            at=actor.at,
            action=action,
            actor_city=actor.city,
            from_state=before,
            to_state=rel.state,
            envelope_sha256=carrier.sha256,
            note=note,
        )
    )
    session.flush()
    sync_deadlines(session, config, rel, now)
    report_to_secretariat(session, config, rel, now)


# --- propose -------------------------------------------------------------------------------------


def propose(
    session: Session,
    config: NodeConfig,
    *,
    partner: str,
    our_side: str,
    title: str,
    purpose: str = "",
    user: Actor | None,
    now: datetime,
) -> Relationship:
    """Propose a mentoring relationship to a twinned city, as its mentor or its mentee."""
    require_viewer(user)
    assert user is not None
    if config.role != "city" or partner == config.city_id:
        raise MentoringRefusal(
            "Mentoring is between two different cities.", code="not_a_city", status=409
        )
    if our_side not in ("mentor", "mentee"):
        raise InvalidInputError("our_side is mentor or mentee.", errors={"our_side": [our_side]})
    actor = Acting(config.city_id, mentoring_roles(user.role, our_side), instant(now), None)
    peer = session.get(Peer, partner)
    facts = {
        "twinned": peer is not None and peer.state == "active" and peer.role == "city",
        "partner": partner,
        "actor_city": config.city_id,
        "proposer": config.city_id,
        "now": actor.at,
    }
    transition = check("new", "propose", actor, facts, PROPOSED_TYPE)
    mentor, mentee = (
        (config.city_id, partner) if our_side == "mentor" else (partner, config.city_id)
    )
    payload = {
        **message_head(new_id(), transition, actor),
        "mentor": mentor,
        "mentee": mentee,
        "title": title,
        "purpose": purpose,
    }
    carrier = send(session, config, partner, PROPOSED_TYPE, payload, now)
    return create(session, config, payload, transition, actor, carrier, now)


def create(
    session: Session,
    config: NodeConfig,
    payload: Mapping[str, Any],
    transition: Transition,
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> Relationship:
    """The relationship a proposal creates (ours or the partner's), entered into ``proposed``."""
    rel = Relationship(
        id=payload["relationship_id"],
        mentor_city=payload["mentor"],
        mentee_city=payload["mentee"],
        proposer_city=actor.city,
        title=payload["title"],
        purpose=payload.get("purpose") or "",
        state="new",
        state_version=0,
        state_ref=carrier.ref,
        last_action="propose",
        proposed_at=actor.at,
        updated_at=now,
    )
    session.add(rel)
    session.flush()
    enter(session, config, rel, transition, actor, carrier, now)
    return rel


# --- transitions ---------------------------------------------------------------------------------


def transition(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    action: str,
    *,
    user: Actor | None,
    now: datetime,
) -> Relationship:
    """Take a state change (accept, decline, activate, pause, resume, start_closing, complete,
    abandon, end_early) as a local user, and send it to the partner."""
    rel = relationship_for(session, rel_id, user)
    actor = local_actor(config, rel, user, now)
    return take_transition(session, config, rel, action, actor, now)


def take_transition(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    now: datetime,
) -> Relationship:
    """Check a state change by ``actor``, send it to the partner and apply it here."""
    found = check_rel(session, config, rel, action, actor, TRANSITION_TYPE)
    payload = {
        **message_head(rel.id, found, actor),
        "prev_ref": rel.state_ref,
        "from_state": rel.state,
        "state": found.target_from(rel.state),
        "outcome": OUTCOME_OF.get(action),
        "state_version": rel.state_version + 1,
    }
    carrier = send(session, config, rel.partner_of(config.city_id), TRANSITION_TYPE, payload, now)
    enter(session, config, rel, found, actor, carrier, now)
    return rel
