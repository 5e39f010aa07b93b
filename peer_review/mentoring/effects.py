"""What the mentoring table's rows do: the effect handlers bound to the table, and what follows
every state change (deadlines, the secretariat's metadata).

:data:`EFFECTS` binds each effect the table names (``effect=`` in
:mod:`peer_review.mentoring.workflow`) to its handler; binding refuses, when this module loads, a
row whose effect has no handler and a handler no row names. Every path applies a row the same
way — ``EFFECTS.apply(action, Change(...))`` — whether the action is ours (API, pages, the expiry
job) or the partner city's (the inbox), so both nodes write the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.network import port
from peer_review import deadlines
from peer_review.mentoring.acting import Acting, Carrier, from_ms, ms
from peer_review.mentoring.models import Document, MentoringSession, Note, Relationship, Signature
from peer_review.mentoring.workflow import (
    AGREEMENT_PERIOD,
    ANSWER_PERIOD,
    NOTES_PERIOD,
    SESSION_TARGETS,
    WORKFLOW,
    local_roles_with,
)
from schemas.mentoring import MENTORING_STREAM, METADATA_TYPE, schema_name

# States in which the agreement is co-signed and in force (its deadline is met).
AGREED = ("active", "paused", "closing")


@dataclass(frozen=True)
class Change:
    """One row being applied: the relationship, who acted, the statement (``payload``) and the
    signed envelope that carries it (``None`` only for a private note, which is never sent)."""

    session: Session
    rel: Relationship
    action: str
    actor: Acting
    carrier: Carrier | None
    now: datetime
    payload: Mapping[str, Any] = field(default_factory=dict)


# --- the relationship's own dates ----------------------------------------------------------------


def record_acceptance(change: Change) -> None:
    """The invited city accepted: the agreement is due ``AGREEMENT_PERIOD`` after this instant."""
    change.rel.accepted_at = change.actor.at


def record_activation(change: Change) -> None:
    """Both cities signed the agreement and one of them activated the relationship."""
    change.rel.activated_at = change.actor.at


# --- documents and signatures --------------------------------------------------------------------


def add_document(change: Change) -> Document:
    """Store a new version of the agreement, the closure report or the action plan."""
    payload, carrier = change.payload, _carrier(change)
    doc = Document(
        relationship_id=change.rel.id,
        kind=payload["kind"],
        version=payload["version"],
        content=payload["content"],
        sha256=payload["sha256"],
        proposed_by=change.actor.city,
        proposed_at=change.actor.at,
        envelope_sha256=carrier.sha256,
    )
    change.rel.documents.append(doc)
    change.session.flush()
    return doc


def add_signature(change: Change) -> Signature:
    """Record a city's signature of one version (checked before: it names this node's hash)."""
    payload, carrier = change.payload, _carrier(change)
    doc = next(
        d
        for d in change.rel.documents
        if d.kind == payload["kind"] and d.version == payload["version"]
    )
    signature = Signature(
        city_id=change.actor.city,
        sha256=doc.sha256,
        envelope_sha256=carrier.sha256,
        out_seq=carrier.out_seq,
        in_envelope_id=carrier.in_envelope_id,
        signed_at=change.actor.at,
    )
    doc.signatures.append(signature)
    change.session.flush()
    return signature


# --- sessions and notes -----------------------------------------------------------------------


def plan_session(change: Change) -> MentoringSession:
    """A new session, in the state the session table's ``plan_session`` row leads to."""
    payload, actor = change.payload, change.actor
    item = MentoringSession(
        id=payload["session_id"],
        relationship_id=change.rel.id,
        state=SESSION_TARGETS[change.action],
        title=payload["title"],
        planned_for=from_ms(payload["planned_for"]) if payload.get("planned_for") else None,
        agenda=payload.get("agenda"),
        created_by=actor.city,
        created_at=actor.at,
    )
    change.rel.sessions.append(item)
    change.session.flush()
    return item


def hold_session(change: Change) -> MentoringSession:
    """The session took place: its shared notes are due ``NOTES_PERIOD`` later."""
    item = _session_moved(change)
    item.held_at = change.actor.at
    deadlines.arm(
        change.session,
        subject=f"mentoring-session:{item.id}",
        kind="session_notes",
        due_at=change.actor.at + NOTES_PERIOD,
        now=change.now,
        title=f"Share the notes of the session '{item.title}'",
        link=f"/mentoring/{change.rel.id}",
        roles=local_roles_with("member"),
    )
    change.session.flush()
    return item


def document_session(change: Change) -> MentoringSession:
    """The session's shared notes: its notes deadline is met."""
    item = _session_moved(change)
    item.notes, item.documented_at = change.payload["notes"], change.actor.at
    deadlines.met(change.session, f"mentoring-session:{item.id}", "session_notes", change.now)
    change.session.flush()
    return item


def cancel_session(change: Change) -> MentoringSession:
    """A planned session will not take place: its deadlines close."""
    item = _session_moved(change)
    deadlines.close(change.session, f"mentoring-session:{item.id}", change.now)
    change.session.flush()
    return item


def store_note(change: Change) -> Note:
    """A progress note, the mid-point review (both shared) or a private note (no carrier)."""
    payload, actor = change.payload, change.actor
    shared = change.carrier is not None
    note = Note(
        id=payload["note_id"],
        relationship_id=change.rel.id,
        session_id=payload.get("session_id"),
        kind=payload["kind"],
        text=payload["text"],
        author_city=actor.city,
        # Personal data stays on its node: a shared note names the city, never the person.
        author_user_id=None if shared else actor.user_id,
        shared=shared,
        created_at=actor.at,
    )
    change.rel.notes.append(note)
    change.session.flush()
    return note


def _carrier(change: Change) -> Carrier:
    if change.carrier is None:  # pragma: no cover - only a private note travels in nothing
        raise ValueError(f"'{change.action}' is a signed statement: it needs its envelope.")
    return change.carrier


def _session_moved(change: Change) -> MentoringSession:
    item = change.session.get(MentoringSession, change.payload["session_id"])
    assert item is not None  # checked before (check_session): the session exists here
    item.state = SESSION_TARGETS[change.action]
    return item


# The table's effects, bound: loading this module fails on a row without a handler (and on a
# handler without a row), instead of an action silently doing nothing.
EFFECTS = WORKFLOW.with_effects(
    {
        "record_acceptance": record_acceptance,
        "record_activation": record_activation,
        "add_document": add_document,
        "add_signature": add_signature,
        "plan_session": plan_session,
        "hold_session": hold_session,
        "document_session": document_session,
        "cancel_session": cancel_session,
        "store_note": store_note,
    }
)


# --- what follows every state change -------------------------------------------------------------


def sync_deadlines(session: Session, config: NodeConfig, rel: Relationship, now: datetime) -> None:
    """Open, meet or close the relationship's deadlines for the state it is in (idempotent)."""
    subject, link = f"mentoring:{rel.id}", f"/mentoring/{rel.id}"
    open_kinds = {d.kind for d in deadlines.open_deadlines(session, subject)}
    leads = local_roles_with("lead")
    if rel.state == "proposed":
        # Only the invited city's node reminds its officials to answer.
        if rel.proposer_city != config.city_id and "mentoring_answer" not in open_kinds:
            deadlines.arm(
                session,
                subject=subject,
                kind="mentoring_answer",
                due_at=rel.proposed_at + ANSWER_PERIOD,
                now=now,
                title=f"Answer the mentoring proposal: {rel.title}",
                link=link,
                roles=leads,
            )
    else:
        if rel.state != "expired":
            deadlines.met(session, subject, "mentoring_answer", now)
    if rel.state == "scoping" and "mentoring_agreement" not in open_kinds and rel.accepted_at:
        deadlines.arm(
            session,
            subject=subject,
            kind="mentoring_agreement",
            due_at=rel.accepted_at + AGREEMENT_PERIOD,
            now=now,
            title=f"Co-sign the mentoring agreement: {rel.title}",
            link=link,
            roles=leads,
        )
    if rel.state in AGREED:
        deadlines.met(session, subject, "mentoring_agreement", now)
    if rel.state in WORKFLOW.terminal:
        deadlines.close(session, subject, now)
        for item in rel.sessions:
            deadlines.close(session, f"mentoring-session:{item.id}", now)


def suspended_member(session: Session, city_id: str) -> bool:
    """Whether the secretariat's directory, as this node holds it, lists ``city_id`` as
    suspended (its envelopes are refused there)."""
    entry = port.directory_entry(session, city_id)
    return entry is not None and entry.state == "suspended"


def metadata_payload(rel: Relationship) -> dict[str, Any]:
    """What the secretariat may know: ids, cities, state and dates. Never text or goals."""
    return {
        "relationship_id": rel.id,
        "mentor": rel.mentor_city,
        "mentee": rel.mentee_city,
        "state": rel.state,
        "outcome": rel.outcome,
        "state_version": rel.state_version,
        "proposed_at": ms(rel.proposed_at),
        "changed_at": ms(rel.updated_at),
    }


def report_to_secretariat(
    session: Session, config: NodeConfig, rel: Relationship, now: datetime
) -> None:
    """Tell the secretariat we joined (if any) that the state changed: metadata only."""
    if suspended_member(session, config.city_id):
        return  # a suspended member's envelopes are refused; nothing is queued for them
    # Only the secretariat this city joined (pinned, node.network.trust) gets the metadata.
    secretariat = port.secretariat_peer(session)
    for city_id in [secretariat.city_id] if secretariat is not None else []:
        envelope = port.sign_and_store(
            session,
            config,
            type_=METADATA_TYPE,
            schema=schema_name(METADATA_TYPE),
            stream=MENTORING_STREAM,
            payload=metadata_payload(rel),
            audience=[city_id],
            now=now,
        )
        port.queue(session, envelope, [city_id], now)
