"""Mentoring between two twinned cities: the ``hrc.mentoring.*/1`` messages and the local API.

Every message travels in the ``mentoring`` stream, addressed to the other city of the
relationship (or, for ``hrc.mentoring.metadata``, to the secretariat). Each carries the
relationship id, the workflow action it performs and the mentoring role the acting city claims;
the envelope's ``created_ts`` says when it acted. The receiving node checks the action against
the same transition table as the sending node (``peer_review.mentoring.WORKFLOW``), so both hold
the same state.

Signed documents (the agreement, the closure report) and the action plan travel as whole
versions; their ``sha256`` is the hex SHA-256 of the RFC 8785 canonical form of ``content``.
A city co-signs a version by sending its own ``hrc.mentoring.signature`` naming that hash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from schemas.envelope import SafeInteger
from schemas.fields import CityId, Code, PeriodString
from schemas.summary import FigureValue, SummaryPointSchema

MENTORING_STREAM = "mentoring"
PROPOSED_TYPE = "hrc.mentoring.proposed"
TRANSITION_TYPE = "hrc.mentoring.transition"
DOCUMENT_TYPE = "hrc.mentoring.document"
SIGNATURE_TYPE = "hrc.mentoring.signature"
SESSION_TYPE = "hrc.mentoring.session"
NOTE_TYPE = "hrc.mentoring.note"
METADATA_TYPE = "hrc.mentoring.metadata"
# Between the two cities of a relationship.
RELATIONSHIP_TYPES = (
    PROPOSED_TYPE,
    TRANSITION_TYPE,
    DOCUMENT_TYPE,
    SIGNATURE_TYPE,
    SESSION_TYPE,
    NOTE_TYPE,
)
MENTORING_TYPES = (*RELATIONSHIP_TYPES, METADATA_TYPE)


def schema_name(type_: str) -> str:
    """The ``schema`` member of an envelope of ``type_`` (version 1)."""
    return f"{type_}/1"


# Names that travel on the wire (payloads and metadata); the workflow table uses them too.
STATES = (
    "new",  # before the proposal exists: the source state of "propose" only, never stored
    "proposed",
    "scoping",
    "active",
    "paused",
    "closing",
    "closed",
    "declined",
    "expired",
)
OUTCOMES = ("completed", "ended_early", "abandoned")
ACTOR_ROLES = ("mentor_lead", "mentee_lead", "member", "system")
SIDES = ("mentor", "mentee")
DOCUMENT_KINDS = ("agreement", "closure_report", "action_plan")
SIGNED_KINDS = ("agreement", "closure_report")
SHARED_NOTE_KINDS = ("progress", "midpoint")
NOTE_KINDS = (*SHARED_NOTE_KINDS, "private")
SESSION_STATES = ("new", "planned", "held", "documented", "cancelled")
GOAL_STATUSES = ("achieved", "partly_achieved", "not_achieved")
ACTION_ITEM_STATUSES = ("open", "done", "dropped")

# Instants travel as epoch milliseconds; 2200-01-01 bounds them so that every node can turn
# them into a date (a larger integer is valid JSON but no calendar date).
MAX_MS = 7_258_118_400_000
HEX_ID_PATTERN = r"^[0-9a-f]{32}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_TEXT = 20_000


def hex_id(**kwargs: Any) -> fields.String:
    """An id made by the city that created the object: 32 lowercase hex digits (a uuid4)."""
    return fields.String(validate=validate.Regexp(HEX_ID_PATTERN), **kwargs)


def sha256_hex(**kwargs: Any) -> fields.String:
    """A SHA-256 as 64 lowercase hex digits."""
    return fields.String(validate=validate.Regexp(SHA256_PATTERN), **kwargs)


def _text(low: int, high: int, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(low, high), **kwargs)


# --- document contents (hashed and co-signed) ------------------------------------------------


class MeasureSchema(Schema):
    """How a goal is measured: an indicator of a signed summary, its baseline and target.

    ``baseline`` is the total figure of ``indicator`` in the summary named by
    ``summary_sha256`` (the summary's period is ``period``); ``target`` is the summary's own
    target for the indicator (``target_source: summary``) or one the cities agreed
    (``agreed``).
    """

    class Meta:
        unknown = EXCLUDE

    indicator = Code(required=True)
    summary_sha256 = sha256_hex(required=True)
    period = PeriodString(required=True)
    baseline = FigureValue(required=True)
    target = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)
    target_source = fields.String(
        load_default="summary", validate=validate.OneOf(("summary", "agreed"))
    )


class _GoalFields(Schema):
    """What a SMART goal says: what (text), linked indicators and recommendations, by when."""

    text = _text(10, 2000, required=True)
    indicators = fields.List(Code(), load_default=list, validate=validate.Length(max=20))
    recommendations = fields.List(
        _text(1, 100), load_default=list, validate=validate.Length(max=20)
    )
    due_on = fields.Date(allow_none=True, load_default=None)


class GoalSchema(_GoalFields):
    """A goal as agreed: with its id and how it is measured (baseline and target from a
    signed summary)."""

    class Meta:
        unknown = EXCLUDE

    goal_id = hex_id(required=True)
    measure = fields.Nested(MeasureSchema, allow_none=True, load_default=None)


class _ContentSchema(Schema):
    """What every document names, so a signature cannot be moved to another document."""

    class Meta:
        unknown = EXCLUDE

    relationship_id = hex_id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    version = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10_000))
    mentor = CityId(required=True)
    mentee = CityId(required=True)


class _AgreementFields(Schema):
    """Terms and dates of an agreement, as sent and as given by an official."""

    terms = _text(0, 5000, load_default="")
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)

    @validates_schema
    def _dates(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("ends_on is before starts_on", "ends_on")


class AgreementContentSchema(_ContentSchema, _AgreementFields):
    """The mentoring agreement: terms, dates and goals (co-signed by both cities)."""

    goals = fields.List(fields.Nested(GoalSchema), required=True, validate=validate.Length(max=20))

    @validates_schema
    def _goal_ids(self, data: dict[str, Any], **_kwargs: Any) -> None:
        ids = [goal["goal_id"] for goal in data["goals"]]
        if len(ids) != len(set(ids)):
            raise ValidationError("two goals share an id", "goals")


class GoalOutcomeSchema(Schema):
    """What became of one goal of the agreement, in the closure report."""

    class Meta:
        unknown = EXCLUDE

    goal_id = hex_id(required=True)
    status = fields.String(required=True, validate=validate.OneOf(GOAL_STATUSES))
    note = _text(0, 2000, load_default="")


class _ClosureFields(Schema):
    summary = _text(1, 10_000, required=True)
    lessons = _text(0, 5000, load_default="")


class ClosureReportContentSchema(_ContentSchema, _ClosureFields):
    """The closure report: what was achieved per goal and what was learnt (co-signed)."""

    goals = fields.List(
        fields.Nested(GoalOutcomeSchema), load_default=list, validate=validate.Length(max=20)
    )


class ActionItemSchema(Schema):
    """One action of the plan: what, by which city, by when, how far."""

    class Meta:
        unknown = EXCLUDE

    text = _text(1, 1000, required=True)
    city = CityId(required=True)
    due_on = fields.Date(allow_none=True, load_default=None)
    status = fields.String(load_default="open", validate=validate.OneOf(ACTION_ITEM_STATUSES))


class ActionPlanContentSchema(_ContentSchema):
    """One version of the action plan (versioned, not signed)."""

    items = fields.List(
        fields.Nested(ActionItemSchema), required=True, validate=validate.Length(max=100)
    )


CONTENT_SCHEMAS: dict[str, type[_ContentSchema]] = {
    "agreement": AgreementContentSchema,
    "closure_report": ClosureReportContentSchema,
    "action_plan": ActionPlanContentSchema,
}


# --- message payloads ------------------------------------------------------------------------


class MessageSchema(Schema):
    """What every message between the two cities carries."""

    class Meta:
        unknown = EXCLUDE

    relationship_id = hex_id(required=True)
    action = _text(1, 40, required=True)
    actor_role = fields.String(required=True, validate=validate.OneOf(ACTOR_ROLES))


class ProposedPayloadSchema(MessageSchema):
    """``hrc.mentoring.proposed``: a new relationship; either city may propose."""

    mentor = CityId(required=True)
    mentee = CityId(required=True)
    title = _text(1, 200, required=True)
    purpose = _text(0, 5000, load_default="")

    @validates_schema
    def _two_cities(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["mentor"] == data["mentee"]:
            raise ValidationError("mentor and mentee are the same city", "mentee")


class TransitionPayloadSchema(MessageSchema):
    """``hrc.mentoring.transition``: a change of the relationship's state.

    ``prev_ref`` names the state change this one follows (``<origin>:<seq>`` of its envelope):
    a receiver whose state came from another change knows the two cities acted concurrently.
    """

    prev_ref = _text(1, 100, required=True)
    from_state = fields.String(required=True, validate=validate.OneOf(STATES))
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    outcome = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(OUTCOMES))
    state_version = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10_000))


class DocumentPayloadSchema(MessageSchema):
    """``hrc.mentoring.document``: a new version of the agreement, closure report or plan."""

    kind = fields.String(required=True, validate=validate.OneOf(DOCUMENT_KINDS))
    version = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10_000))
    sha256 = sha256_hex(required=True)
    prev_sha256 = sha256_hex(allow_none=True, load_default=None)
    content = fields.Dict(required=True)

    @validates_schema
    def _content(self, data: dict[str, Any], **_kwargs: Any) -> None:
        content = data["content"]
        CONTENT_SCHEMAS[data["kind"]]().load(content)  # raises ValidationError
        for name in ("relationship_id", "kind", "version"):
            if content.get(name) != data[name]:
                raise ValidationError(f"content.{name} differs from the message", "content")


class SignaturePayloadSchema(MessageSchema):
    """``hrc.mentoring.signature``: "this city signs version ``version`` whose hash is
    ``sha256``". The city's envelope signature is the signature."""

    kind = fields.String(required=True, validate=validate.OneOf(SIGNED_KINDS))
    version = fields.Integer(strict=True, required=True, validate=validate.Range(1, 10_000))
    sha256 = sha256_hex(required=True)


class SessionPayloadSchema(MessageSchema):
    """``hrc.mentoring.session``: plan, hold, document (with the shared notes) or cancel."""

    session_id = hex_id(required=True)
    title = _text(1, 200, allow_none=True, load_default=None)
    planned_for = SafeInteger(
        allow_none=True, load_default=None, validate=validate.Range(0, MAX_MS)
    )
    agenda = _text(0, 5000, allow_none=True, load_default=None)
    notes = _text(1, MAX_TEXT, allow_none=True, load_default=None)


class NotePayloadSchema(MessageSchema):
    """``hrc.mentoring.note``: a shared progress note or the mid-point review."""

    note_id = hex_id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(SHARED_NOTE_KINDS))
    text = _text(1, MAX_TEXT, required=True)
    session_id = hex_id(allow_none=True, load_default=None)


class MetadataPayloadSchema(Schema):
    """``hrc.mentoring.metadata``: what the secretariat may know of a relationship.

    ``RAISE`` on unknown members, unlike every other federation schema: the secretariat must
    see metadata only, so a document carrying anything more (notes, goals) is refused rather
    than stored verbatim in its audit log.
    """

    class Meta:
        unknown = RAISE

    relationship_id = hex_id(required=True)
    mentor = CityId(required=True)
    mentee = CityId(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES[1:]))
    outcome = fields.String(required=True, allow_none=True, validate=validate.OneOf(OUTCOMES))
    state_version = fields.Integer(strict=True, required=True, validate=validate.Range(0, 10_000))
    proposed_at = SafeInteger(required=True, validate=validate.Range(0, MAX_MS))
    changed_at = SafeInteger(required=True, validate=validate.Range(0, MAX_MS))


PAYLOAD_SCHEMAS: dict[str, type[Schema]] = {
    PROPOSED_TYPE: ProposedPayloadSchema,
    TRANSITION_TYPE: TransitionPayloadSchema,
    DOCUMENT_TYPE: DocumentPayloadSchema,
    SIGNATURE_TYPE: SignaturePayloadSchema,
    SESSION_TYPE: SessionPayloadSchema,
    NOTE_TYPE: NotePayloadSchema,
    METADATA_TYPE: MetadataPayloadSchema,
}


# --- local API (requests: RAISE on unknown fields) -------------------------------------------


class ProposeSchema(Schema):
    """``POST /api/v1/mentoring``: propose a relationship to a twin."""

    class Meta:
        unknown = RAISE

    partner = CityId(required=True, metadata={"example": "it-padova"})
    our_side = fields.String(
        required=True,
        validate=validate.OneOf(SIDES),
        metadata={"description": "whether this city is the mentor or the mentee"},
    )
    title = _text(1, 200, required=True)
    purpose = _text(0, 5000, load_default="")


class TransitionRequestSchema(Schema):
    """A state change to take (the transition table says which are open)."""

    class Meta:
        unknown = RAISE

    action = _text(1, 40, required=True, metadata={"example": "accept"})


class MeasureInputSchema(Schema):
    """A goal's measure as an official gives it: the summary and indicator; the baseline (and
    the target, unless given) are read from that signed summary."""

    class Meta:
        unknown = RAISE

    indicator = Code(required=True)
    summary_sha256 = sha256_hex(required=True)
    target = fields.Nested(SummaryPointSchema, allow_none=True, load_default=None)


class GoalInputSchema(_GoalFields):
    """A goal as an official gives it: the id of an earlier version's goal (to keep it), or none
    for a new one."""

    class Meta:
        unknown = RAISE

    goal_id = hex_id(load_default=None, allow_none=True)
    measure = fields.Nested(MeasureInputSchema, allow_none=True, load_default=None)


class AgreementRequestSchema(_AgreementFields):
    """A new agreement version (any edit is a new version, to be signed by both again)."""

    class Meta:
        unknown = RAISE

    goals = fields.List(
        fields.Nested(GoalInputSchema), required=True, validate=validate.Length(max=20)
    )


class GoalOutcomeInputSchema(GoalOutcomeSchema):
    """One goal's outcome as an official gives it."""

    class Meta:
        unknown = RAISE


class ClosureReportRequestSchema(_ClosureFields):
    """A new closure report version (while closing)."""

    class Meta:
        unknown = RAISE

    goals = fields.List(
        fields.Nested(GoalOutcomeInputSchema), load_default=list, validate=validate.Length(max=20)
    )


class ActionItemInputSchema(ActionItemSchema):
    """One action as an official gives it."""

    class Meta:
        unknown = RAISE


class ActionPlanRequestSchema(Schema):
    """A new version of the action plan (every version is kept)."""

    class Meta:
        unknown = RAISE

    items = fields.List(
        fields.Nested(ActionItemInputSchema), required=True, validate=validate.Length(max=100)
    )


class SignRequestSchema(Schema):
    """The hash the official read and signs: signing fails if the version changed meanwhile."""

    class Meta:
        unknown = RAISE

    sha256 = sha256_hex(required=True)


class SessionRequestSchema(Schema):
    """A session to plan: title, when (with a time zone), agenda."""

    class Meta:
        unknown = RAISE

    title = _text(1, 200, required=True)
    planned_for = fields.AwareDateTime(
        required=True,
        # Sent as epoch milliseconds, which the receiving node wants non-negative.
        validate=validate.Range(datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)),
        metadata={"example": "2026-04-01T10:00:00Z"},
    )
    agenda = _text(0, 5000, load_default="")


class SessionActionRequestSchema(Schema):
    """Body of ``hold`` / ``cancel`` (empty) and ``document`` (the shared notes)."""

    class Meta:
        unknown = RAISE

    notes = _text(1, MAX_TEXT, load_default=None, allow_none=True)


class NoteRequestSchema(Schema):
    """A note: progress and mid-point notes are shared, private ones stay on this node."""

    class Meta:
        unknown = RAISE

    kind = fields.String(
        required=True,
        validate=validate.OneOf(NOTE_KINDS),
        metadata={"description": "progress and midpoint are shared; private stays here"},
    )
    text = _text(1, MAX_TEXT, required=True)
    session_id = hex_id(load_default=None, allow_none=True)


# --- local API (responses) -------------------------------------------------------------------


class PartySchema(Schema):
    """A city of the relationship."""

    city_id = fields.String()
    name = fields.String()


class RelationshipSchema(Schema):
    """A relationship as listed (no content)."""

    id = fields.String()
    title = fields.String()
    mentor = fields.Nested(PartySchema)
    mentee = fields.Nested(PartySchema)
    our_side = fields.String()
    proposer = fields.String()
    state = fields.String(metadata={"description": " | ".join(STATES[1:])})
    outcome = fields.String(allow_none=True)
    state_version = fields.Integer()
    proposed_at = fields.DateTime()
    updated_at = fields.DateTime()


class SignatureViewSchema(Schema):
    """Who signed a version, and the envelope that carries the signature."""

    city_id = fields.String()
    sha256 = fields.String()
    envelope_sha256 = fields.String()
    signed_at = fields.DateTime()
    verified = fields.Boolean(
        metadata={"description": "the stored envelope still verifies and names this hash"}
    )


class DocumentViewSchema(Schema):
    """One version of a document, with its content and signatures."""

    kind = fields.String()
    version = fields.Integer()
    sha256 = fields.String()
    proposed_by = fields.String()
    proposed_at = fields.DateTime()
    envelope_sha256 = fields.String(allow_none=True)
    current = fields.Boolean()
    cosigned = fields.Boolean()
    content = fields.Dict()
    signatures = fields.List(fields.Nested(SignatureViewSchema))


class SessionViewSchema(Schema):
    """A session as this node holds it."""

    id = fields.String()
    state = fields.String()
    title = fields.String()
    planned_for = fields.DateTime(allow_none=True)
    agenda = fields.String(allow_none=True)
    held_at = fields.DateTime(allow_none=True)
    notes = fields.String(allow_none=True)
    notes_due_at = fields.DateTime(allow_none=True)
    notes_overdue = fields.Boolean()
    created_by = fields.String()


class NoteViewSchema(Schema):
    """A note as this node holds it (private notes exist here only)."""

    id = fields.String()
    kind = fields.String()
    text = fields.String()
    session_id = fields.String(allow_none=True)
    author_city = fields.String()
    shared = fields.Boolean()
    created_at = fields.DateTime()


class AllowedActionSchema(Schema):
    """An action the table opens to the caller now, or why not."""

    action = fields.String()
    allowed = fields.Boolean()
    reason = fields.String(allow_none=True)


class EventViewSchema(Schema):
    """One state change in the relationship's history."""

    at = fields.DateTime()
    action = fields.String()
    actor_city = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    note = fields.String(allow_none=True)


class DeadlineViewSchema(Schema):
    """An open deadline of this node's users (overdue is derived from the date)."""

    kind = fields.String()
    subject = fields.String()
    due_at = fields.DateTime()
    overdue = fields.Boolean()


class RelationshipDetailSchema(RelationshipSchema):
    """One relationship with everything this node may show its own users."""

    purpose = fields.String()
    answer_due_at = fields.DateTime(allow_none=True)
    agreement_due_at = fields.DateTime(allow_none=True)
    accepted_at = fields.DateTime(allow_none=True)
    activated_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    midpoint_due_on = fields.Date(allow_none=True)
    midpoint_done = fields.Boolean()
    agreement = fields.List(fields.Nested(DocumentViewSchema))
    closure_report = fields.List(fields.Nested(DocumentViewSchema))
    action_plan = fields.List(fields.Nested(DocumentViewSchema))
    goals = fields.List(fields.Dict())
    sessions = fields.List(fields.Nested(SessionViewSchema))
    notes = fields.List(fields.Nested(NoteViewSchema))
    actions = fields.List(fields.Nested(AllowedActionSchema))
    deadlines = fields.List(fields.Nested(DeadlineViewSchema))
    events = fields.List(fields.Nested(EventViewSchema))


class MetadataViewSchema(Schema):
    """What the secretariat holds: one row per relationship and reporting city."""

    relationship_id = fields.String()
    reporter = fields.String()
    mentor = fields.String()
    mentee = fields.String()
    state = fields.String()
    outcome = fields.String(allow_none=True)
    state_version = fields.Integer()
    proposed_at = fields.DateTime()
    changed_at = fields.DateTime()
    received_at = fields.DateTime()


class WorkflowRowSchema(Schema):
    """One row of the transition table."""

    action = fields.String()
    from_ = fields.List(fields.String(), data_key="from", attribute="from")
    to = fields.String()
    who = fields.List(fields.String())
    preconditions = fields.List(fields.String())
    effects = fields.String()
    message = fields.String(allow_none=True)
