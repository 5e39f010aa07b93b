"""Mentoring between two twinned cities (issue 5): the transition table and the services.

```
proposed → scoping → active ⇄ paused → closing → closed(completed)
proposed → declined | expired · scoping → closed(abandoned) · any open → closed(ended_early)
```

One table (:data:`WORKFLOW`) declares every move: from, to, who (mentoring roles), the
preconditions, the effects and the federated message that carries it. Local actions (API, pages,
the expiry job) and messages from the partner city (``peer_review.mentoring_inbound``) go
through the same :func:`_check` and the same ``_apply_*`` functions, so both nodes hold the same
state. Each city's statements are its own signed envelopes; documents (agreement, closure
report, action plan) travel as whole versions and are co-signed by naming their hash.

**Concurrent changes.** Each state change names the one it follows (``prev_ref``, the
``<origin>:<seq>`` of that change's envelope). When the two cities change the state at the
same time, each node sees a message that does not follow its own state. The tie is broken the
same way on both nodes: the *mentor* city's change stands. The mentor's node refuses the
mentee's change (409 ``state_conflict``); the mentee's node replaces its own change by the
mentor's. The same rule settles two different document versions with the same number.

Services take a session and flush; the caller commits (one unit of work per request or job).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from federation.canonical import canonical_bytes
from node.config import NodeConfig
from node.errors import (
    AuthenticationRequiredError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from node.network import keyring, outbox, trust
from node.network.models import InEnvelope, OutEnvelope, Peer
from node.permissions import MENTORING_ROLES, Actor
from peer_review import deadlines
from peer_review.mentoring_models import (
    Document,
    Event,
    MentoringSession,
    Note,
    Relationship,
    Signature,
)
from peer_review.statemachine import SAME, Transition, TransitionRefused, Workflow, row
from schemas.mentoring import (
    CONTENT_SCHEMAS,
    DOCUMENT_TYPE,
    MENTORING_STREAM,
    METADATA_TYPE,
    NOTE_TYPE,
    PROPOSED_TYPE,
    SESSION_STATES,
    SESSION_TYPE,
    SIGNATURE_TYPE,
    STATES,
    TRANSITION_TYPE,
    schema_name,
)
from schemas.summary import SUMMARY_STREAM, SUMMARY_TYPE

LEADS = "mentor_lead mentee_lead"
ANYONE = "mentor_lead mentee_lead member"
OPEN = "scoping active paused closing"
TERMINAL = frozenset({"closed", "declined", "expired"})
ANSWER_PERIOD = deadlines.DEFAULT_PERIODS["mentoring_answer"]
AGREEMENT_PERIOD = deadlines.DEFAULT_PERIODS["mentoring_agreement"]
NOTES_PERIOD = deadlines.DEFAULT_PERIODS["session_notes"]
OUTCOME_OF = {"complete": "completed", "abandon": "abandoned", "end_early": "ended_early"}
# Preference when a user holds several roles that a row allows: the message says the most
# specific one (a lead who plans a session acts as the lead).
ROLE_ORDER = ("mentor_lead", "mentee_lead", "member", "system")


# --- the table --------------------------------------------------------------------------------


def _fed(
    action: str,
    sources: str,
    target: str,
    roles: str,
    message: str,
    *,
    pre: tuple[str, ...] = (),
    effects: str = "",
) -> Transition:
    """A federated row: it is sent to the partner, so the partner must be an active twin."""
    return row(
        action, sources, target, roles, pre=("twinned", *pre), effects=effects, message=message
    )


def _cosigned(ctx: Mapping[str, Any], kind: str) -> str | None:
    if ctx[f"{kind}_cosigned"]:
        return None
    what = "agreement (with at least one goal)" if kind == "agreement" else "closure report"
    return f"Both cities must first sign the current version of the {what}."


PRECONDITIONS = {
    "twinned": lambda c: (
        None
        if c["twinned"]
        else f"{c['partner']} is not an active twin of this city: mentoring is between twins."
    ),
    "invited_city_answers": lambda c: (
        None
        if c["actor_city"] != c["proposer"]
        else "The city that proposed cannot answer its own proposal."
    ),
    "proposer_node": lambda c: (
        None
        if c["actor_city"] == c["proposer"]
        else "Only the proposing city's node lets its proposal expire."
    ),
    "answer_overdue": lambda c: (
        None
        if c["now"] >= c["answer_due_at"]
        else f"The proposal may be answered until {c['answer_due_at']:%Y-%m-%d %H:%M} UTC."
    ),
    "has_goal": lambda c: (
        None if c.get("goals", 0) >= 1 else "An agreement needs at least one goal."
    ),
    "agreement_cosigned": lambda c: _cosigned(c, "agreement"),
    "closure_report_cosigned": lambda c: _cosigned(c, "closure_report"),
    "latest_version": lambda c: (
        None
        if c.get("latest_version")
        else "Only the current version can be signed (there is none, or a newer one)."
    ),
    "not_signed_yet": lambda c: (
        None
        if not c.get("already_signed")
        else f"{c['actor_city']} has already signed this version."
    ),
}

# fmt: off
# One row per move: action, from, to, who, message; then preconditions and effects.
WORKFLOW = Workflow(
    name="mentoring relationship",
    states=STATES,
    terminal=TERMINAL,
    transitions=(
        _fed("propose", "new", "proposed", LEADS, PROPOSED_TYPE,
             effects="the invited city's answer is due in 21 days (mentoring_answer)"),
        _fed("accept", "proposed", "scoping", LEADS, TRANSITION_TYPE,
             pre=("invited_city_answers",),
             effects="answer deadline met; agreement due in 45 days (mentoring_agreement)"),
        _fed("decline", "proposed", "declined", LEADS, TRANSITION_TYPE,
             pre=("invited_city_answers",), effects="answer deadline met"),
        _fed("expire", "proposed", "expired", "system", TRANSITION_TYPE,
             pre=("proposer_node", "answer_overdue"),
             effects="taken by the proposing node's scheduler (job mentoring_expiry)"),
        _fed("propose_agreement", "scoping active paused", SAME, LEADS, DOCUMENT_TYPE,
             pre=("has_goal",),
             effects="a new agreement version; both cities must sign it again"),
        _fed("sign_agreement", "scoping active paused", SAME, LEADS, SIGNATURE_TYPE,
             pre=("latest_version", "not_signed_yet"),
             effects="this city signs the version's hash in its own envelope"),
        _fed("activate", "scoping", "active", LEADS, TRANSITION_TYPE,
             pre=("agreement_cosigned",), effects="agreement deadline met"),
        _fed("update_action_plan", OPEN, SAME, ANYONE, DOCUMENT_TYPE,
             effects="a new action plan version (every version is kept)"),
        _fed("plan_session", "scoping active paused", SAME, ANYONE, SESSION_TYPE),
        _fed("hold_session", OPEN, SAME, ANYONE, SESSION_TYPE,
             effects="shared notes due in 7 days (session_notes)"),
        _fed("document_session", OPEN, SAME, ANYONE, SESSION_TYPE,
             effects="the shared notes; session_notes deadline met"),
        _fed("cancel_session", OPEN, SAME, ANYONE, SESSION_TYPE,
             effects="session_notes deadline closed"),
        _fed("add_note", OPEN, SAME, ANYONE, NOTE_TYPE, effects="a shared progress note"),
        _fed("midpoint_review", "active paused", SAME, LEADS, NOTE_TYPE,
             effects="a shared note of kind midpoint"),
        row("add_private_note", [s for s in STATES if s != "new"], SAME, ANYONE,
            effects="kept on this node only, never sent"),
        _fed("pause", "active", "paused", LEADS, TRANSITION_TYPE),
        _fed("resume", "paused", "active", LEADS, TRANSITION_TYPE),
        _fed("start_closing", "active paused", "closing", LEADS, TRANSITION_TYPE),
        _fed("propose_closure_report", "closing", SAME, LEADS, DOCUMENT_TYPE,
             effects="a new closure report version; both cities must sign it again"),
        _fed("sign_closure_report", "closing", SAME, LEADS, SIGNATURE_TYPE,
             pre=("latest_version", "not_signed_yet")),
        _fed("complete", "closing", "closed", LEADS, TRANSITION_TYPE,
             pre=("closure_report_cosigned",),
             effects="outcome completed; every deadline closed"),
        _fed("abandon", "scoping", "closed", LEADS, TRANSITION_TYPE,
             effects="outcome abandoned; every deadline closed"),
        _fed("end_early", OPEN, "closed", LEADS, TRANSITION_TYPE,
             effects="outcome ended_early; every deadline closed"),
    ),
    preconditions=PRECONDITIONS,
)
# fmt: on

SESSION_WORKFLOW = Workflow(
    name="mentoring session",
    states=SESSION_STATES,
    terminal=frozenset({"documented", "cancelled"}),
    transitions=(
        row("plan_session", "new", "planned", ANYONE),
        row("hold_session", "planned", "held", ANYONE),
        row("document_session", "held", "documented", ANYONE, pre=["has_notes"]),
        row("cancel_session", "planned", "cancelled", ANYONE),
    ),
    preconditions={
        "has_notes": lambda c: None if c.get("notes") else "Documenting a session needs notes.",
    },
)

SESSION_TARGETS = {t.action: t.target for t in SESSION_WORKFLOW.transitions}
STATE_ACTIONS = tuple(t.action for t in WORKFLOW.transitions if t.message == TRANSITION_TYPE)
DOCUMENT_ACTIONS = {
    "agreement": "propose_agreement",
    "closure_report": "propose_closure_report",
    "action_plan": "update_action_plan",
}
SIGN_ACTIONS = {"agreement": "sign_agreement", "closure_report": "sign_closure_report"}
SESSION_ACTIONS = {
    "plan": "plan_session",
    "hold": "hold_session",
    "document": "document_session",
    "cancel": "cancel_session",
}
NOTE_ACTIONS = {
    "progress": "add_note",
    "midpoint": "midpoint_review",
    "private": "add_private_note",
}


def local_roles_with(generic: str) -> list[str]:
    """Local roles that hold ``lead`` or ``member`` (deadline recipients)."""
    return sorted(role for role, held in MENTORING_ROLES.items() if generic in held)


def mentoring_roles(local_role: str, side: str) -> frozenset[str]:
    """The mentoring roles a user with ``local_role`` holds in a relationship where this city
    is ``side`` (``mentor`` or ``mentee``)."""
    return frozenset(
        f"{side}_lead" if generic == "lead" else generic
        for generic in MENTORING_ROLES.get(local_role, ())
    )


# --- errors -------------------------------------------------------------------------------------


class MentoringRefusal(DomainError):
    """A mentoring action or message refused; ``code`` says why."""

    title = "Mentoring action refused"


class _Unprocessable(MentoringRefusal):
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
    return keyring.ms(moment)


def from_ms(value: int) -> datetime:
    """The UTC instant of an epoch-milliseconds value."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _instant(now: datetime) -> datetime:
    return from_ms(ms(now))


def content_sha256(content: Mapping[str, Any]) -> str:
    """The hash a city signs: SHA-256 of the RFC 8785 canonical form of a document's content."""
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def new_id() -> str:
    """An id for a relationship, session, note or goal, made by the city that creates it."""
    return uuid.uuid4().hex


def _local_actor(
    config: NodeConfig, rel: Relationship, user: Actor | None, now: datetime
) -> Acting:
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
    return Acting(config.city_id, roles, _instant(now), getattr(user, "id", None))


def _remote_actor(rel: Relationship, origin: str, role: str, at: datetime) -> Acting:
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


# --- reading ------------------------------------------------------------------------------------


def get_relationship(session: Session, rel_id: str) -> Relationship:
    """A relationship this node takes part in (404 ``unknown_relationship``)."""
    rel = session.get(Relationship, rel_id) if len(rel_id) <= 32 else None
    if rel is None:
        raise NotFoundError(
            f"No mentoring relationship '{rel_id[:40]}'.", code="unknown_relationship"
        )
    return rel


def _relationship_for(session: Session, rel_id: str, user: Actor | None) -> Relationship:
    # The role first, then the id: someone who takes no part cannot probe which ids exist.
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


def _facts(
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


def _check(
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
        raise TransitionRefused(
            f"'{action}' travels as {transition.message or 'nothing (it stays local)'}, "
            f"not {message or 'a local action'}.",
            code="wrong_message_type",
            status=422,
        )
    return transition


def _check_rel(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    message: str | None,
    state: str | None = None,
    **extra: Any,
) -> Transition:
    facts = _facts(session, config, rel, actor, **extra)
    return _check(state or rel.state, action, actor, facts, message)


def allowed_actions(
    session: Session, config: NodeConfig, rel: Relationship, user: Actor | None, now: datetime
) -> list[dict[str, Any]]:
    """Every action the table opens to this user in this state, and whether its preconditions
    hold now (with the reason when not): pages show buttons for these only."""
    try:
        actor = _local_actor(config, rel, user, now)
    except DomainError:
        return []
    facts = _facts(session, config, rel, actor)
    out = []
    for found in WORKFLOW.available(rel.state, actor.roles):
        extra: dict[str, Any] = {"goals": 1}  # a proposal's goals are checked when it is made
        kind = next((k for k, a in SIGN_ACTIONS.items() if a == found.action), None)
        if kind is not None:
            extra.update(_signing_facts(rel, kind, latest(rel, kind), config.city_id))
        try:
            _check(rel.state, found.action, actor, {**facts, **extra}, found.message)
        except DomainError as exc:
            out.append({"action": found.action, "allowed": False, "reason": exc.detail})
        else:
            out.append({"action": found.action, "allowed": True, "reason": None})
    return out


def _role_used(transition: Transition, actor: Acting) -> str:
    held = transition.roles & actor.roles
    return next(role for role in ROLE_ORDER if role in held)


def _message(rel_id: str, transition: Transition, actor: Acting) -> dict[str, Any]:
    return {
        "relationship_id": rel_id,
        "action": transition.action,
        "actor_role": _role_used(transition, actor),
    }


def _send(
    session: Session,
    config: NodeConfig,
    partner: str,
    type_: str,
    payload: dict[str, Any],
    now: datetime,
) -> Carrier:
    """Sign our statement and queue it for the partner city (the same bytes by push or pull)."""
    envelope = outbox.sign_and_store(
        session,
        config,
        type_=type_,
        schema=schema_name(type_),
        stream=MENTORING_STREAM,
        payload=payload,
        audience=[partner],
        now=now,
    )
    outbox.queue(session, envelope, [partner], now)
    return Carrier(config.city_id, envelope.seq, envelope.sha256, out_seq=envelope.seq)


# --- state changes -------------------------------------------------------------------------------


def _enter(
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
    """Apply a state change and its effects: dates, history, deadlines, the secretariat."""
    before = from_state or rel.state
    action = transition.action
    rel.state = transition.target_from(before)
    rel.outcome = OUTCOME_OF.get(action)
    if action == "accept":
        rel.accepted_at = actor.at
    elif action == "activate":
        rel.activated_at = actor.at
    if rel.state in TERMINAL:
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
    _sync_deadlines(session, config, rel, now)
    _report_to_secretariat(session, config, rel, now)


def _sync_deadlines(session: Session, config: NodeConfig, rel: Relationship, now: datetime) -> None:
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
    if rel.state in ("active", "paused", "closing"):
        deadlines.met(session, subject, "mentoring_agreement", now)
    if rel.state in TERMINAL:
        deadlines.close(session, subject, now)
        for item in rel.sessions:
            deadlines.close(session, f"mentoring-session:{item.id}", now)


def _suspended_member(session: Session, city_id: str) -> bool:
    from node.secretariat.models import DirectoryEntry

    entry = session.get(DirectoryEntry, city_id)
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


def _report_to_secretariat(
    session: Session, config: NodeConfig, rel: Relationship, now: datetime
) -> None:
    """Tell the secretariat we joined (if any) that the state changed: metadata only."""
    if _suspended_member(session, config.city_id):
        return  # a suspended member's envelopes are refused; nothing is queued for them
    # Only the secretariat this city joined (pinned, node.network.trust) gets the metadata.
    secretariat = trust.secretariat_peer(session)
    for city_id in [secretariat.city_id] if secretariat is not None else []:
        envelope = outbox.sign_and_store(
            session,
            config,
            type_=METADATA_TYPE,
            schema=schema_name(METADATA_TYPE),
            stream=MENTORING_STREAM,
            payload=metadata_payload(rel),
            audience=[city_id],
            now=now,
        )
        outbox.queue(session, envelope, [city_id], now)


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
    actor = Acting(config.city_id, mentoring_roles(user.role, our_side), _instant(now), None)
    peer = session.get(Peer, partner)
    facts = {
        "twinned": peer is not None and peer.state == "active" and peer.role == "city",
        "partner": partner,
        "actor_city": config.city_id,
        "proposer": config.city_id,
        "now": actor.at,
    }
    transition = _check("new", "propose", actor, facts, PROPOSED_TYPE)
    mentor, mentee = (
        (config.city_id, partner) if our_side == "mentor" else (partner, config.city_id)
    )
    payload = {
        **_message(new_id(), transition, actor),
        "mentor": mentor,
        "mentee": mentee,
        "title": title,
        "purpose": purpose,
    }
    carrier = _send(session, config, partner, PROPOSED_TYPE, payload, now)
    return _create(session, config, payload, transition, actor, carrier, now)


def _create(
    session: Session,
    config: NodeConfig,
    payload: Mapping[str, Any],
    transition: Transition,
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> Relationship:
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
    _enter(session, config, rel, transition, actor, carrier, now)
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
    rel = _relationship_for(session, rel_id, user)
    actor = _local_actor(config, rel, user, now)
    return _transition(session, config, rel, action, actor, now)


def _transition(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    now: datetime,
) -> Relationship:
    found = _check_rel(session, config, rel, action, actor, TRANSITION_TYPE)
    payload = {
        **_message(rel.id, found, actor),
        "prev_ref": rel.state_ref,
        "from_state": rel.state,
        "state": found.target_from(rel.state),
        "outcome": OUTCOME_OF.get(action),
        "state_version": rel.state_version + 1,
    }
    carrier = _send(session, config, rel.partner_of(config.city_id), TRANSITION_TYPE, payload, now)
    _enter(session, config, rel, found, actor, carrier, now)
    return rel


def expire_overdue(session: Session, config: NodeConfig, now: datetime) -> int:
    """The scheduler's job: our proposals unanswered for 21 days expire (and the partner is
    told). Returns how many expired."""
    due = _instant(now) - ANSWER_PERIOD
    stale = session.scalars(
        select(Relationship).where(
            Relationship.state == "proposed",
            Relationship.proposer_city == config.city_id,
            Relationship.proposed_at <= due,
        )
    )
    count = 0
    for rel in list(stale):
        system = Acting(config.city_id, frozenset({"system"}), _instant(now))
        try:
            _transition(session, config, rel, "expire", system, now)
        except DomainError:
            continue  # e.g. the twinning ended meanwhile: it stays proposed, visible on the page
        count += 1
    return count


# --- documents -----------------------------------------------------------------------------------


def _held_summary(session: Session, sha256: str) -> dict[str, Any] | None:
    """The payload of a signed summary this node holds (its own, or a twin's as received)."""
    raw = session.scalar(
        select(OutEnvelope.raw).where(
            OutEnvelope.sha256 == sha256, OutEnvelope.stream == SUMMARY_STREAM
        )
    ) or session.scalar(
        select(InEnvelope.raw).where(InEnvelope.sha256 == sha256, InEnvelope.type == SUMMARY_TYPE)
    )
    if raw is None:
        return None
    payload: dict[str, Any] = json.loads(raw)["payload"]
    return payload


def measure_from_summary(summary: Mapping[str, Any], indicator: str) -> dict[str, Any] | None:
    """Baseline (the total figure) and target of ``indicator`` as a signed summary states them."""
    for entry in summary.get("indicators", []):
        if entry.get("code") != indicator:
            continue
        totals = [f["value"] for f in entry.get("results", []) if f.get("disaggregation") == {}]
        if not totals:
            return None
        return {"period": summary["period"], "baseline": totals[0], "target": entry.get("target")}
    return None


def check_measure(session: Session, rel: Relationship, measure: Mapping[str, Any]) -> str | None:
    """Whether a goal's measure agrees with the signed summary it cites: ``None`` when it does,
    ``"not_held"`` when this node does not hold that summary, else the reason it does not."""
    summary = _held_summary(session, measure["summary_sha256"])
    if summary is None:
        return "not_held"
    if summary.get("city", {}).get("city_id") not in (rel.mentor_city, rel.mentee_city):
        return "the summary is from neither city of the relationship"
    stated = measure_from_summary(summary, measure["indicator"])
    if stated is None:
        return f"the summary has no total figure for {measure['indicator']}"
    if (stated["period"], stated["baseline"]) != (measure["period"], measure["baseline"]):
        return f"the summary says {stated['baseline']} for {stated['period']}"
    if measure.get("target_source", "summary") == "summary" and stated["target"] != measure.get(
        "target"
    ):
        return "the summary states another target"
    return None


def _resolve_measure(
    session: Session, rel: Relationship, wanted: Mapping[str, Any], index: int
) -> dict[str, Any]:
    """A goal's measure, with baseline and target read from the signed summary it cites."""
    summary = _held_summary(session, wanted["summary_sha256"])
    stated = None
    if summary is None:
        problem = "no signed summary with that hash on this node"
    elif summary.get("city", {}).get("city_id") not in (rel.mentor_city, rel.mentee_city):
        problem = "the summary is from neither city of the relationship"
    else:
        stated = measure_from_summary(summary, wanted["indicator"])
        problem = f"the summary has no total figure for {wanted['indicator']}"
    if stated is None:
        raise InvalidInputError(
            "A goal's baseline must come from a signed summary.",
            code="unknown_summary",
            errors={f"goals.{index}.measure": [problem]},
        )
    agreed = wanted.get("target")
    return {
        "indicator": wanted["indicator"],
        "summary_sha256": wanted["summary_sha256"],
        "period": stated["period"],
        "baseline": stated["baseline"],
        "target": agreed if agreed is not None else stated["target"],
        "target_source": "agreed" if agreed is not None else "summary",
    }


def _goal_content(
    session: Session, rel: Relationship, goal: Mapping[str, Any], index: int
) -> dict[str, Any]:
    indicators = list(dict.fromkeys(goal.get("indicators") or []))
    measure = None
    if goal.get("measure"):
        measure = _resolve_measure(session, rel, goal["measure"], index)
        if measure["indicator"] not in indicators:
            indicators.insert(0, measure["indicator"])
    return {
        "goal_id": goal.get("goal_id") or new_id(),
        "text": goal["text"],
        "indicators": indicators,
        "recommendations": list(dict.fromkeys(goal.get("recommendations") or [])),
        "measure": measure,
        "due_on": goal["due_on"].isoformat() if goal.get("due_on") else None,
    }


def _build_content(
    session: Session, rel: Relationship, kind: str, version: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "relationship_id": rel.id,
        "kind": kind,
        "version": version,
        "mentor": rel.mentor_city,
        "mentee": rel.mentee_city,
    }
    if kind == "agreement":
        content.update(
            terms=data.get("terms") or "",
            starts_on=data["starts_on"].isoformat(),
            ends_on=data["ends_on"].isoformat(),
            goals=[_goal_content(session, rel, g, i) for i, g in enumerate(data["goals"])],
        )
    elif kind == "closure_report":
        agreement = latest(rel, "agreement")
        known = {g["goal_id"] for g in (agreement.content["goals"] if agreement else [])}
        unknown = [g["goal_id"] for g in data.get("goals", []) if g["goal_id"] not in known]
        if unknown:
            raise InvalidInputError(
                "The closure report can only assess the agreement's goals.",
                code="unknown_goal",
                errors={"goals": [f"no goal {g} in the agreement" for g in unknown]},
            )
        content.update(
            summary=data["summary"],
            lessons=data.get("lessons") or "",
            goals=[
                {"goal_id": g["goal_id"], "status": g["status"], "note": g.get("note") or ""}
                for g in data.get("goals", [])
            ],
        )
    else:
        parties = (rel.mentor_city, rel.mentee_city)
        strangers = sorted({i["city"] for i in data["items"]} - set(parties))
        if strangers:
            raise InvalidInputError(
                "Action items are for one of the two cities.",
                errors={"items": [f"{c} is not a party" for c in strangers]},
            )
        content["items"] = [
            {
                "text": i["text"],
                "city": i["city"],
                "due_on": i["due_on"].isoformat() if i.get("due_on") else None,
                "status": i.get("status") or "open",
            }
            for i in data["items"]
        ]
    try:
        CONTENT_SCHEMAS[kind]().load(content)  # what we sign must pass the wire contract
    except ValidationError as exc:
        raise InvalidInputError(
            "The document is not valid.", errors=exc.normalized_messages()
        ) from exc
    return content


def propose_document(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    kind: str,
    data: Mapping[str, Any],
    *,
    user: Actor | None,
    now: datetime,
) -> Document:
    """A new version of the agreement, the closure report or the action plan, sent to the
    partner. Signatures of earlier versions do not carry over."""
    if kind not in DOCUMENT_ACTIONS:
        raise NotFoundError(f"No document kind '{kind[:40]}'.", code="unknown_document")
    rel = _relationship_for(session, rel_id, user)
    actor = _local_actor(config, rel, user, now)
    previous = latest(rel, kind)
    version = (previous.version if previous else 0) + 1
    # The table first: a refused action must not depend on whether its content would be valid.
    _check_rel(session, config, rel, DOCUMENT_ACTIONS[kind], actor, DOCUMENT_TYPE, goals=1)
    content = _build_content(session, rel, kind, version, data)
    found = _check_rel(
        session,
        config,
        rel,
        DOCUMENT_ACTIONS[kind],
        actor,
        DOCUMENT_TYPE,
        goals=len(content.get("goals", [])),
    )
    payload = {
        **_message(rel.id, found, actor),
        "kind": kind,
        "version": version,
        "sha256": content_sha256(content),
        "prev_sha256": previous.sha256 if previous else None,
        "content": content,
    }
    carrier = _send(session, config, rel.partner_of(config.city_id), DOCUMENT_TYPE, payload, now)
    return _add_document(session, rel, payload, actor, carrier)


def _add_document(
    session: Session, rel: Relationship, payload: Mapping[str, Any], actor: Acting, carrier: Carrier
) -> Document:
    doc = Document(
        relationship_id=rel.id,
        kind=payload["kind"],
        version=payload["version"],
        content=payload["content"],
        sha256=payload["sha256"],
        proposed_by=actor.city,
        proposed_at=actor.at,
        envelope_sha256=carrier.sha256,
    )
    rel.documents.append(doc)
    session.flush()
    return doc


def sign_document(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    kind: str,
    version: int,
    sha256: str,
    *,
    user: Actor | None,
    now: datetime,
) -> Signature:
    """This city signs one version: its envelope says "version ``version`` has hash
    ``sha256``". ``sha256`` is the hash the official read; a different one is refused."""
    if kind not in SIGN_ACTIONS:
        raise NotFoundError(f"'{kind[:40]}' is not a signed document.", code="unknown_document")
    rel = _relationship_for(session, rel_id, user)
    actor = _local_actor(config, rel, user, now)
    found, doc = _check_signature(session, config, rel, kind, version, sha256, actor, NotFoundError)
    payload = {**_message(rel.id, found, actor), "kind": kind, "version": version, "sha256": sha256}
    carrier = _send(session, config, rel.partner_of(config.city_id), SIGNATURE_TYPE, payload, now)
    return _add_signature(session, doc, actor, carrier)


def _signing_facts(
    rel: Relationship, kind: str, doc: Document | None, city: str
) -> dict[str, bool]:
    return {
        "latest_version": doc is not None and doc is latest(rel, kind),
        "already_signed": doc is not None and any(s.city_id == city for s in doc.signatures),
    }


def _check_signature(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    kind: str,
    version: int,
    sha256: str,
    actor: Acting,
    missing: type[DomainError],
) -> tuple[Transition, Document]:
    """The version a city signs, by ours or the partner's hand: the hash must be this node's."""
    doc = _version(rel, kind, version, missing=missing)
    if doc.sha256 != sha256:
        # Security: a signature counts only for the exact content this node holds; a stale or
        # forged hash is refused (the official reads the version again, the partner is told).
        raise MentoringRefusal(
            f"{actor.city} signs {sha256}, but {kind} version {version} here has hash "
            f"{doc.sha256}.",
            code="hash_mismatch",
            status=409,
        )
    found = _check_rel(
        session,
        config,
        rel,
        SIGN_ACTIONS[kind],
        actor,
        SIGNATURE_TYPE,
        **_signing_facts(rel, kind, doc, actor.city),
    )
    return found, doc


def _version(rel: Relationship, kind: str, version: int, missing: type[DomainError]) -> Document:
    for doc in versions(rel, kind):
        if doc.version == version:
            return doc
    raise missing(f"There is no {kind} version {version}.", code="unknown_version")


def _add_signature(session: Session, doc: Document, actor: Acting, carrier: Carrier) -> Signature:
    signature = Signature(
        city_id=actor.city,
        sha256=doc.sha256,
        envelope_sha256=carrier.sha256,
        out_seq=carrier.out_seq,
        in_envelope_id=carrier.in_envelope_id,
        signed_at=actor.at,
    )
    doc.signatures.append(signature)
    session.flush()
    return signature


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
    rel = _relationship_for(session, rel_id, user)
    actor = _local_actor(config, rel, user, now)
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
    found = _check_session(session, config, rel, action, actor, payload, missing=NotFoundError)
    payload.update(_message(rel.id, found, actor))
    carrier = _send(session, config, rel.partner_of(config.city_id), SESSION_TYPE, payload, now)
    return _apply_session(session, rel, action, payload, actor, carrier, now)


def _check_session(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    action: str,
    actor: Acting,
    payload: Mapping[str, Any],
    missing: type[DomainError],
) -> Transition:
    found = _check_rel(session, config, rel, action, actor, SESSION_TYPE)
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


def _apply_session(
    session: Session,
    rel: Relationship,
    action: str,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
    now: datetime,
) -> MentoringSession:
    subject, link = f"mentoring-session:{payload['session_id']}", f"/mentoring/{rel.id}"
    if action == "plan_session":
        item = MentoringSession(
            id=payload["session_id"],
            relationship_id=rel.id,
            state="planned",
            title=payload["title"],
            planned_for=from_ms(payload["planned_for"]) if payload.get("planned_for") else None,
            agenda=payload.get("agenda"),
            created_by=actor.city,
            created_at=actor.at,
        )
        rel.sessions.append(item)
        session.flush()
        return item
    item = session.get(MentoringSession, payload["session_id"])
    assert item is not None
    if action == "hold_session":
        item.state, item.held_at = "held", actor.at
        deadlines.arm(
            session,
            subject=subject,
            kind="session_notes",
            due_at=actor.at + NOTES_PERIOD,
            now=now,
            title=f"Share the notes of the session '{item.title}'",
            link=link,
            roles=local_roles_with("member"),
        )
    elif action == "document_session":
        item.state, item.notes, item.documented_at = "documented", payload["notes"], actor.at
        deadlines.met(session, subject, "session_notes", now)
    else:
        item.state = "cancelled"
        deadlines.close(session, subject, now)
    session.flush()
    return item


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
    rel = _relationship_for(session, rel_id, user)
    actor = _local_actor(config, rel, user, now)
    # Privacy: a private note never leaves this node (no envelope, no outbox row).
    shared = kind != "private"
    found = _check_rel(
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
        payload.update(_message(rel.id, found, actor))
        carrier = _send(session, config, rel.partner_of(config.city_id), NOTE_TYPE, payload, now)
    return _add_note(session, rel, payload, actor, shared=carrier is not None)


def _add_note(
    session: Session, rel: Relationship, payload: Mapping[str, Any], actor: Acting, *, shared: bool
) -> Note:
    note = Note(
        id=payload["note_id"],
        relationship_id=rel.id,
        session_id=payload.get("session_id"),
        kind=payload["kind"],
        text=payload["text"],
        author_city=actor.city,
        # Personal data stays on its node: a shared note names the city, never the person.
        author_user_id=None if shared else actor.user_id,
        shared=shared,
        created_at=actor.at,
    )
    rel.notes.append(note)
    session.flush()
    return note


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
    actor = _remote_actor(rel, carrier.origin, payload["actor_role"], at)
    if type_ == TRANSITION_TYPE:
        _receive_transition(session, config, rel, payload, actor, carrier, now)
    elif type_ == DOCUMENT_TYPE:
        _receive_document(session, config, rel, payload, actor, carrier)
    elif type_ == SIGNATURE_TYPE:
        _receive_signature(session, config, rel, payload, actor, carrier)
    elif type_ == SESSION_TYPE:
        _receive_session(session, config, rel, payload, actor, carrier, now)
    elif type_ == NOTE_TYPE:
        found = _check_rel(session, config, rel, payload["action"], actor, NOTE_TYPE)
        if NOTE_ACTIONS.get(payload["kind"]) != found.action:
            raise MentoringRefusal(
                f"A {payload['kind']} note is not taken with '{found.action}'.",
                code="invalid_payload",
                status=422,
            )
        if session.get(Note, payload["note_id"]) is not None:
            raise MentoringRefusal("That note exists already.", code="note_exists", status=409)
        _add_note(session, rel, payload, actor, shared=True)
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
    found = _check(STATES[0], payload["action"], actor, facts, PROPOSED_TYPE)
    _create(session, config, payload, found, actor, carrier, now)


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
        found = _check_rel(session, config, rel, action, actor, TRANSITION_TYPE)
        _same_result(found, rel.state, payload)
        if payload["state_version"] != rel.state_version + 1:
            raise MentoringRefusal(
                f"State change {payload['state_version']} cannot follow {rel.state_version}.",
                code="invalid_payload",
                status=422,
            )
        _enter(session, config, rel, found, actor, carrier, now)
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
    found = _check_rel(
        session, config, rel, action, actor, TRANSITION_TYPE, state=payload["from_state"]
    )
    _same_result(found, payload["from_state"], payload)
    overridden = rel.last_action
    rel.state_version = payload["state_version"] - 1  # our own concurrent changes are undone
    _enter(
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
    _check_rel(
        session,
        config,
        rel,
        payload["action"],
        actor,
        DOCUMENT_TYPE,
        goals=len(content.get("goals", [])),
    )
    _add_document(session, rel, payload, actor, carrier)


def _receive_signature(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    payload: Mapping[str, Any],
    actor: Acting,
    carrier: Carrier,
) -> None:
    kind = payload["kind"]
    if SIGN_ACTIONS[kind] != payload["action"]:
        raise MentoringRefusal(
            f"A {kind} is not signed with '{payload['action']}'.",
            code="invalid_payload",
            status=422,
        )
    _found, doc = _check_signature(
        session, config, rel, kind, payload["version"], payload["sha256"], actor, _Unprocessable
    )
    _add_signature(session, doc, actor, carrier)


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
    _check_session(session, config, rel, action, actor, payload, missing=_Unprocessable)
    _apply_session(session, rel, action, payload, actor, carrier, now)
