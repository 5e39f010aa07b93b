"""Mentoring sessions (plan, hold, document with shared notes, cancel) and notes (shared progress
notes, the mid-point review, private notes that never leave this node)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError, InvalidInputError, NotFoundError
from node.permissions import Actor
from peer_review.mentoring.acting import Acting, MentoringRefusal, local_actor, ms, new_id
from peer_review.mentoring.checks import check_rel, message_head, relationship_for, send
from peer_review.mentoring.effects import EFFECTS, Change
from peer_review.mentoring.models import MentoringSession, Note, Relationship
from peer_review.mentoring.workflow import NOTE_ACTIONS, SESSION_ACTIONS, SESSION_WORKFLOW
from peer_review.statemachine import Transition
from schemas.mentoring import NOTE_TYPE, SESSION_TYPE

# --- sessions and notes --------------------------------------------------------------------------


def session_action(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    step: str,
    *,
    session_id: str | None = None,
    title: str | None = None,
    planned_for: datetime | None = None,
    agenda: str | None = None,
    notes: str | None = None,
    user: Actor | None,
    now: datetime,
) -> MentoringSession:
    """Plan a session, or hold, document (with the shared notes) or cancel a planned one."""
    if step not in SESSION_ACTIONS:
        raise NotFoundError(f"No session step '{step[:40]}'.", code="unknown_action")
    rel = relationship_for(session, rel_id, user)
    actor = local_actor(config, rel, user, now)
    action = SESSION_ACTIONS[step]
    if step == "plan":
        session_id = new_id()
    payload: dict[str, Any] = {
        "session_id": session_id,
        "title": title,
        "planned_for": ms(planned_for) if planned_for else None,
        "agenda": agenda,
        "notes": notes,
    }
    found = check_session(session, config, rel, action, actor, payload, missing=NotFoundError)
    payload.update(message_head(rel.id, found, actor))
    carrier = send(session, config, rel.partner_of(config.city_id), SESSION_TYPE, payload, now)
    return EFFECTS.apply(action, Change(session, rel, action, actor, carrier, now, payload))


def check_session(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    payload: Mapping[str, Any],
    missing: type[DomainError],
) -> Transition:
    """The relationship's table, then the session's own table, for one session step."""
    found = check_rel(session, config, rel, action, actor, SESSION_TYPE)
    item = session.get(MentoringSession, payload["session_id"])
    if item is not None and item.relationship_id != rel.id:
        item = None
    if action == "plan_session":
        if item is not None:
            raise MentoringRefusal(
                "That session exists already.", code="session_exists", status=409
            )
        if not payload.get("title"):
            raise InvalidInputError("A session needs a title.", errors={"title": ["required"]})
    elif item is None:
        raise missing(f"No session '{payload['session_id']}'.", code="unknown_session")
    SESSION_WORKFLOW.check(
        item.state if item else "new", action, actor.roles, {"notes": payload.get("notes")}
    )
    return found


def add_note(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    *,
    kind: str,
    text: str,
    session_id: str | None = None,
    user: Actor | None,
    now: datetime,
) -> Note:
    """A shared progress note, the mid-point review (shared) or a private note (never sent)."""
    if kind not in NOTE_ACTIONS:
        raise InvalidInputError(f"No note kind '{kind[:40]}'.", errors={"kind": list(NOTE_ACTIONS)})
    rel = relationship_for(session, rel_id, user)
    actor = local_actor(config, rel, user, now)
    # Privacy: a private note never leaves this node (no envelope, no outbox row).
    shared = kind != "private"
    found = check_rel(
        session, config, rel, NOTE_ACTIONS[kind], actor, NOTE_TYPE if shared else None
    )
    if session_id is not None and not any(s.id == session_id for s in rel.sessions):
        raise InvalidInputError(
            "That session is not part of this relationship.",
            code="unknown_session",
            errors={"session_id": [session_id]},
        )
    payload = {
        "note_id": new_id(),
        "kind": kind,
        "text": text,
        "session_id": session_id,
    }
    carrier = None
    if shared:
        payload.update(message_head(rel.id, found, actor))
        carrier = send(session, config, rel.partner_of(config.city_id), NOTE_TYPE, payload, now)
    return EFFECTS.apply(
        found.action, Change(session, rel, found.action, actor, carrier, now, payload)
    )
