"""What the partner city sent: its proposals, state changes, documents, signatures, sessions
and notes, checked against the same table as ours and applied by the same effects.

Refusals raise ``DomainError`` subclasses (403 / 409 / 422, never 404: a sender retries anything
else as transient). Concurrent changes are settled the same way on both nodes: the *mentor*
city's change (or document version) stands; the mentor's node refuses the mentee's change
(409 ``state_conflict`` / ``version_conflict``), the mentee's node replaces its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.network.port import Peer
from peer_review.mentoring.acting import (
    Acting,
    Carrier,
    MentoringRefusal,
    Unprocessable,
    content_sha256,
    from_ms,
    remote_actor,
)
from peer_review.mentoring.checks import check, check_rel, latest, versions
from peer_review.mentoring.documents import check_measure, check_signature
from peer_review.mentoring.effects import EFFECTS, Change
from peer_review.mentoring.lifecycle import create, enter
from peer_review.mentoring.models import Event, MentoringSession, Note, Relationship
from peer_review.mentoring.sessions import check_session
from peer_review.mentoring.workflow import (
    DOCUMENT_ACTIONS,
    NOTE_ACTIONS,
    OUTCOME_OF,
    SESSION_TARGETS,
    SIGN_ACTIONS,
)
from peer_review.statemachine import Transition
from schemas.mentoring import (
    DOCUMENT_TYPE,
    NOTE_TYPE,
    PROPOSED_TYPE,
    SESSION_TYPE,
    SIGNATURE_TYPE,
    STATES,
    TRANSITION_TYPE,
)

# --- what the partner city sent ------------------------------------------------------------------


def receive(
    session: Session,
    config: NodeConfig,
    type_: str,
    payload: Mapping[str, Any],
    peer: Peer,
    carrier: Carrier,
    created_ts: int,
    now: datetime,
) -> None:
    """Apply a message of the partner city, checked against the same table as ours.

    ``payload`` was loaded with its schema; ``carrier`` is the stored envelope. Refusals raise
    :class:`node.errors.DomainError` subclasses (403 / 409 / 422, never 404: a sender retries
    anything else as transient)."""
    if config.role != "city" or peer.role != "city":
        # Security: the secretariat takes part in no relationship (it gets metadata only), and a
        # secretariat cannot start one with a city.
        raise MentoringRefusal(
            "Mentoring is between two twinned cities.", code="not_a_party", status=403
        )
    # When the city acted is the envelope's signed created_ts (the inbox refused it if dated in
    # the future), so a sender cannot backdate an action to meet a deadline it has missed.
    at = from_ms(created_ts)
    if type_ == PROPOSED_TYPE:
        _receive_proposal(session, config, payload, peer, carrier, at, now)
        return
    rel = session.get(Relationship, payload["relationship_id"])
    if rel is None:
        raise MentoringRefusal(
            f"No mentoring relationship {payload['relationship_id']} here.",
            code="unknown_relationship",
            status=422,
        )
    actor = remote_actor(rel, carrier.origin, payload["actor_role"], at)
    if type_ == TRANSITION_TYPE:
        _receive_transition(session, config, rel, payload, actor, carrier, now)
    elif type_ == DOCUMENT_TYPE:
        _receive_document(session, config, rel, payload, actor, carrier, now)
    elif type_ == SIGNATURE_TYPE:
        _receive_signature(session, config, rel, payload, actor, carrier, now)
    elif type_ == SESSION_TYPE:
        _receive_session(session, config, rel, payload, actor, carrier, now)
    elif type_ == NOTE_TYPE:
        found = check_rel(session, config, rel, payload["action"], actor, NOTE_TYPE)
        if NOTE_ACTIONS.get(payload["kind"]) != found.action:
            raise MentoringRefusal(
                f"A {payload['kind']} note is not taken with '{found.action}'.",
                code="invalid_payload",
                status=422,
            )
        if session.get(Note, payload["note_id"]) is not None:
            raise MentoringRefusal("That note exists already.", code="note_exists", status=409)
        EFFECTS.apply(
            found.action, Change(session, rel, found.action, actor, carrier, now, payload)
        )
    else:  # pragma: no cover - the inbox dispatches only the types above
        raise MentoringRefusal(f"Unexpected {type_}.", code="unknown_type", status=422)


def _receive_proposal(
    session: Session,
    config: NodeConfig,
    payload: Mapping[str, Any],
    peer: Peer,
    carrier: Carrier,
    at: datetime,
    now: datetime,
) -> None:
    parties = (payload["mentor"], payload["mentee"])
    if carrier.origin not in parties or config.city_id not in parties:
        # Security: a twin cannot enrol this city in a relationship with a third city.
        raise MentoringRefusal(
            "A proposal must be between its sender and this city.", code="not_a_party", status=403
        )
    if session.get(Relationship, payload["relationship_id"]) is not None:
        raise MentoringRefusal(
            f"Relationship {payload['relationship_id']} exists already.",
            code="relationship_exists",
            status=409,
        )
    side = "mentor" if carrier.origin == payload["mentor"] else "mentee"
    if payload["actor_role"] != f"{side}_lead":
        raise MentoringRefusal(
            f"{carrier.origin} is the {side}; it cannot propose as {payload['actor_role']}.",
            code="role_not_allowed",
            status=403,
        )
    actor = Acting(carrier.origin, frozenset({payload["actor_role"]}), at)
    facts = {
        "twinned": peer.state == "active" and peer.role == "city",
        "partner": carrier.origin,
        "actor_city": carrier.origin,
        "proposer": carrier.origin,
        "now": at,
    }
    found = check(STATES[0], payload["action"], actor, facts, PROPOSED_TYPE)
    create(session, config, payload, found, actor, carrier, now)


def _receive_transition(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> None:
    action = payload["action"]
    if payload["prev_ref"] == rel.state_ref:
        found = check_rel(session, config, rel, action, actor, TRANSITION_TYPE)
        _same_result(found, rel.state, payload)
        if payload["state_version"] != rel.state_version + 1:
            raise MentoringRefusal(
                f"State change {payload['state_version']} cannot follow {rel.state_version}.",
                code="invalid_payload",
                status=422,
            )
        enter(session, config, rel, found, actor, carrier, now)
        return
    # The partner changed the state while we did too (its change follows another one).
    if (rel.state, rel.outcome) == (payload["state"], payload["outcome"]):
        # Both made the same change: nothing to settle; both nodes keep the mentor's reference.
        if actor.city == rel.mentor_city:
            rel.state_ref = carrier.ref
        session.flush()
        return
    if actor.city != rel.mentor_city:
        # Tie-break, the same on both nodes: the mentor city's change stands. The mentee's node
        # replaces its own change when the mentor's arrives there.
        raise MentoringRefusal(
            f"{actor.city} changed the state concurrently with this city ({rel.last_action}); "
            "the mentor city's change stands.",
            code="state_conflict",
            status=409,
        )
    found = check_rel(
        session, config, rel, action, actor, TRANSITION_TYPE, state=payload["from_state"]
    )
    _same_result(found, payload["from_state"], payload)
    overridden = rel.last_action
    rel.state_version = payload["state_version"] - 1  # our own concurrent changes are undone
    enter(
        session,
        config,
        rel,
        found,
        actor,
        carrier,
        now,
        from_state=payload["from_state"],
        note=f"concurrent changes: the mentor city's '{action}' replaces '{overridden}'",
    )


def _same_result(found: Transition, from_state: str, payload: Mapping[str, Any]) -> None:
    if (found.target_from(from_state), OUTCOME_OF.get(found.action)) != (
        payload["state"],
        payload["outcome"],
    ):
        raise MentoringRefusal(
            f"'{found.action}' from {from_state} does not lead to {payload['state']}.",
            code="invalid_payload",
            status=422,
        )


def _receive_document(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> None:
    kind, version = payload["kind"], payload["version"]
    if content_sha256(payload["content"]) != payload["sha256"]:
        raise MentoringRefusal(
            "The document's content does not have the hash the message states.",
            code="hash_mismatch",
            status=422,
        )
    if DOCUMENT_ACTIONS[kind] != payload["action"]:
        raise MentoringRefusal(
            f"A {kind} is not sent with '{payload['action']}'.", code="invalid_payload", status=422
        )
    content = payload["content"]
    if (content["mentor"], content["mentee"]) != (rel.mentor_city, rel.mentee_city):
        raise MentoringRefusal(
            "The document names other cities than the relationship.",
            code="invalid_payload",
            status=422,
        )
    same_number = next((d for d in versions(rel, kind) if d.version == version), None)
    if same_number is not None and same_number.sha256 == payload["sha256"]:
        return  # both cities proposed the very same content: held already
    if same_number is not None:
        if actor.city != rel.mentor_city:
            # Tie-break (see the module docstring): the mentor city's version stands.
            raise MentoringRefusal(
                f"Version {version} of the {kind} exists here with another content.",
                code="version_conflict",
                status=409,
            )
        for doc in [d for d in versions(rel, kind) if d.version >= version]:
            rel.documents.remove(doc)
        session.add(
            Event(
                relationship_id=rel.id,
                at=actor.at,
                action=payload["action"],
                actor_city=actor.city,
                from_state=rel.state,
                to_state=rel.state,
                envelope_sha256=carrier.sha256,
                note=f"concurrent edits: the mentor city's {kind} version {version} stands",
            )
        )
        session.flush()
    previous = latest(rel, kind)
    if version != (previous.version if previous else 0) + 1 or payload["prev_sha256"] != (
        previous.sha256 if previous else None
    ):
        raise MentoringRefusal(
            f"{kind} version {version} does not follow the version held here.",
            code="version_conflict",
            status=409,
        )
    for goal in content.get("goals", []) if kind == "agreement" else []:
        problem = check_measure(session, rel, goal["measure"]) if goal.get("measure") else None
        if problem not in (None, "not_held"):
            raise MentoringRefusal(
                f"Goal {goal['goal_id']}: {problem}.", code="summary_mismatch", status=422
            )
    check_rel(
        session,
        config,
        rel,
        payload["action"],
        actor,
        DOCUMENT_TYPE,
        goals=len(content.get("goals", [])),
    )
    action = payload["action"]
    EFFECTS.apply(action, Change(session, rel, action, actor, carrier, now, payload))


def _receive_signature(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> None:
    kind = payload["kind"]
    if SIGN_ACTIONS[kind] != payload["action"]:
        raise MentoringRefusal(
            f"A {kind} is not signed with '{payload['action']}'.",
            code="invalid_payload",
            status=422,
        )
    found, _doc = check_signature(
        session, config, rel, kind, payload["version"], payload["sha256"], actor, Unprocessable
    )
    EFFECTS.apply(found.action, Change(session, rel, found.action, actor, carrier, now, payload))


def _receive_session(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> None:
    action = payload["action"]
    item = session.get(MentoringSession, payload["session_id"])
    if (
        item is not None
        and item.relationship_id == rel.id
        and action != "plan_session"
        and item.state == SESSION_TARGETS.get(action)
    ):
        return  # both cities took the same step at the same time: already applied here
    check_session(session, config, rel, action, actor, payload, missing=Unprocessable)
    EFFECTS.apply(action, Change(session, rel, action, actor, carrier, now, payload))
