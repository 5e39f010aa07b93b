"""What the API and the pages show of mentoring: relationships as this node holds them, who
signed which version (re-verified from the stored envelopes), the actions open to a user, and
the secretariat's metadata. Read-only: nothing here changes a row.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.network import port
from node.network.port import InEnvelope, OutEnvelope, Peer
from node.permissions import Actor
from peer_review import deadlines
from peer_review.mentoring import checks, documents, workflow
from peer_review.mentoring.models import (
    Document,
    MentoringMetadata,
    MentoringSession,
    Note,
    Relationship,
    Signature,
)
from schemas.mentoring import SIGNATURE_TYPE


def _names(session: Session, config: NodeConfig) -> dict[str, str]:
    names = {p.city_id: p.name for p in session.scalars(select(Peer))}
    names[config.city_id] = config.name
    return names


def relationship_row(session: Session, config: NodeConfig, rel: Relationship) -> dict[str, Any]:
    """A relationship as listed: parties, state, dates (no content)."""
    names = _names(session, config)
    return {
        "id": rel.id,
        "title": rel.title,
        "mentor": {"city_id": rel.mentor_city, "name": names.get(rel.mentor_city, rel.mentor_city)},
        "mentee": {"city_id": rel.mentee_city, "name": names.get(rel.mentee_city, rel.mentee_city)},
        "our_side": rel.side_of(config.city_id),
        "proposer": rel.proposer_city,
        "state": rel.state,
        "outcome": rel.outcome,
        "state_version": rel.state_version,
        "proposed_at": rel.proposed_at,
        "updated_at": rel.updated_at,
    }


def signature_verified(session: Session, signature: Signature) -> bool:
    """The stored envelope is a signature statement naming this hash, by that city, and (for the
    partner's) it still verifies with the keys we trust today."""
    if signature.out_seq is not None:
        raw = session.scalar(select(OutEnvelope.raw).where(OutEnvelope.seq == signature.out_seq))
    else:
        raw = session.scalar(
            select(InEnvelope.raw).where(InEnvelope.id == signature.in_envelope_id)
        )
    if raw is None:
        return False
    envelope = json.loads(raw)
    statement = envelope.get("payload", {})
    if (envelope.get("type"), envelope.get("origin"), statement.get("sha256")) != (
        SIGNATURE_TYPE,
        signature.city_id,
        signature.sha256,
    ):
        return False
    return signature.out_seq is not None or port.still_verifies(session, raw)


def document_view(session: Session, rel: Relationship, doc: Document) -> dict[str, Any]:
    """One version with its signatures."""
    return {
        "kind": doc.kind,
        "version": doc.version,
        "sha256": doc.sha256,
        "proposed_by": doc.proposed_by,
        "proposed_at": doc.proposed_at,
        "envelope_sha256": doc.envelope_sha256,
        "current": doc is checks.latest(rel, doc.kind),
        "cosigned": checks.is_cosigned(rel, doc),
        "content": doc.content,
        "signatures": [
            {
                "city_id": s.city_id,
                "sha256": s.sha256,
                "envelope_sha256": s.envelope_sha256,
                "signed_at": s.signed_at,
                "verified": signature_verified(session, s),
            }
            for s in doc.signatures
        ],
    }


def goals_view(session: Session, rel: Relationship) -> list[dict[str, Any]]:
    """The current agreement's goals, each measure checked against the summary it cites."""
    agreement = checks.latest(rel, "agreement")
    goals = []
    for goal in agreement.content["goals"] if agreement else []:
        check = documents.check_measure(session, rel, goal["measure"]) if goal["measure"] else None
        status = {None: "verified", "not_held": "summary not held here"}.get(check, check)
        goals.append({**goal, "measure_check": status if goal["measure"] else None})
    return goals


def _midpoint(rel: Relationship) -> date | None:
    agreement = checks.latest(rel, "agreement")
    if agreement is None:
        return None
    start = date.fromisoformat(agreement.content["starts_on"])
    end = date.fromisoformat(agreement.content["ends_on"])
    return start + (end - start) / 2


def note_view(note: Note) -> dict[str, Any]:
    """A note (private ones exist on this node only)."""
    return {
        "id": note.id,
        "kind": note.kind,
        "text": note.text,
        "session_id": note.session_id,
        "author_city": note.author_city,
        "shared": note.shared,
        "created_at": note.created_at,
    }


def session_view(item: MentoringSession, now: datetime) -> dict[str, Any]:
    """A session, with when its shared notes are due and whether they are overdue."""
    due = item.held_at + workflow.NOTES_PERIOD if item.held_at else None
    return {
        "id": item.id,
        "state": item.state,
        "title": item.title,
        "planned_for": item.planned_for,
        "agenda": item.agenda,
        "held_at": item.held_at,
        "notes": item.notes,
        "notes_due_at": due,
        # Derived from dates, never stored.
        "notes_overdue": item.state == "held" and due is not None and now > due,
        "created_by": item.created_by,
    }


def detail(
    session: Session, config: NodeConfig, rel: Relationship, user: Actor | None, now: datetime
) -> dict[str, Any]:
    """Everything this node may show its own users about one relationship."""
    subjects = [f"mentoring:{rel.id}"] + [f"mentoring-session:{s.id}" for s in rel.sessions]
    open_deadlines = [d for subject in subjects for d in deadlines.open_deadlines(session, subject)]
    answer_due = rel.proposed_at + workflow.ANSWER_PERIOD if rel.state == "proposed" else None
    agreement_due = (
        rel.accepted_at + workflow.AGREEMENT_PERIOD
        if rel.state == "scoping" and rel.accepted_at
        else None
    )
    return {
        **relationship_row(session, config, rel),
        "purpose": rel.purpose,
        "answer_due_at": answer_due,
        "agreement_due_at": agreement_due,
        "accepted_at": rel.accepted_at,
        "activated_at": rel.activated_at,
        "closed_at": rel.closed_at,
        "midpoint_due_on": _midpoint(rel),
        "midpoint_done": any(n.kind == "midpoint" for n in rel.notes),
        **{
            kind: [document_view(session, rel, d) for d in checks.versions(rel, kind)]
            for kind in ("agreement", "closure_report", "action_plan")
        },
        "goals": goals_view(session, rel),
        "sessions": [session_view(s, now) for s in rel.sessions],
        "notes": [note_view(n) for n in rel.notes],
        "actions": checks.allowed_actions(session, config, rel, user, now),
        "deadlines": [
            {"kind": d.kind, "subject": d.subject, "due_at": d.due_at, "overdue": d.due_at < now}
            for d in sorted(open_deadlines, key=lambda d: d.due_at)
        ],
        "events": [
            {
                "at": e.at,
                "action": e.action,
                "actor_city": e.actor_city,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "note": e.note,
            }
            for e in rel.events
        ],
    }


def held_summaries(
    session: Session, config: NodeConfig, rel: Relationship
) -> list[tuple[str, str]]:
    """Signed summaries a goal's baseline can come from: ours and the partner's, newest first,
    as (envelope sha256, label)."""
    partner = rel.partner_of(config.city_id)
    own = [
        (e.sha256, f"{config.city_id} {e.period} rev. {e.revision} · {e.sha256[:12]}")
        for e in port.own_summaries(session)
        if not e.superseded
    ]
    theirs = [
        (s.envelope.sha256, f"{partner} {s.period} rev. {s.revision} · {s.envelope.sha256[:12]}")
        for s in port.received(session, partner)
        if s.current
    ]
    return list(reversed(own)) + list(reversed(theirs))


def metadata_rows(session: Session) -> list[dict[str, Any]]:
    """On the secretariat: every relationship reported by members (metadata only)."""
    rows = session.scalars(
        select(MentoringMetadata).order_by(
            MentoringMetadata.proposed_at.desc(), MentoringMetadata.reporter
        )
    )
    return [
        {
            "relationship_id": m.relationship_id,
            "reporter": m.reporter,
            "mentor": m.mentor,
            "mentee": m.mentee,
            "state": m.state,
            "outcome": m.outcome,
            "state_version": m.state_version,
            "proposed_at": m.proposed_at,
            "changed_at": m.changed_at,
            "received_at": m.received_at,
        }
        for m in rows
    ]
