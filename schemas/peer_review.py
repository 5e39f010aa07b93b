"""Wire contract of peer reviews: action envelopes (participant → home node) and event
envelopes (home node → participants), ``hrc.review.action/1`` and ``hrc.review.event/1``.

Every action names its review, the review role the sending city claims for its user, and a
``data`` object whose shape depends on the action (:data:`ACTION_DATA`). The home node turns an
accepted action into an event: a header linked to the previous one by hash, plus the author's
signed action envelope as body, so each city's position stays verifiable as its own.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from schemas.fields import CityId, Code, PeriodString

REVIEW_ACTION_TYPE = "hrc.review.action"
REVIEW_ACTION_SCHEMA = "hrc.review.action/1"
REVIEW_EVENT_TYPE = "hrc.review.event"
REVIEW_EVENT_SCHEMA = "hrc.review.event/1"
REVIEW_STREAM_PREFIX = "review/"  # one stream per review: "review/<review_id>"
REVIEW_ID_PATTERN = r"^[0-9a-f]{16}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

REVIEW_ROLES = (
    "validating_authority",
    "focal_point",
    "observer",
    "reviewer",
    "chair",
    "secretariat",
)
VERDICTS = ("endorsed", "clarification_requested", "concerns", "comment_only")
POSITIONS = ("supported", "noted")
FOLLOW_UP_STATUSES = ("not_started", "in_progress", "partially_implemented", "implemented")
COMMENT_KINDS = (
    "question",
    "observation",
    "good_practice",
    "concern",
    "suggestion",
    "draft_recommendation",
    "stakeholder_input",
    "reply",
)
READERS = ("chair", "panel", "submitted_reviewers", "cur", "secretariat", "network", "public")
DEADLINE_KINDS = ("invitation_answer", "review_submission", "response", "follow_up")
MAX_QUESTIONS = 3

_text = validate.Length(1, 5000)
_short = validate.Length(1, 200)


def review_stream(review_id: str) -> str:
    """The envelope stream of one review (replay and rollback are checked per stream)."""
    return REVIEW_STREAM_PREFIX + review_id


def _sha256(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(SHA256_PATTERN), **kwargs)


def _id(**kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Regexp(r"^[0-9a-f]{8,32}$"), **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class NoteData(_Strict):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 5000))


class ScopeSchema(_Strict):
    themes = fields.List(
        fields.String(validate=_short), load_default=list, validate=validate.Length(0, 50)
    )
    indicators = fields.List(Code(), load_default=list, validate=validate.Length(0, 500))


class SubmitData(_Strict):
    title = fields.String(required=True, validate=_short)
    scope = fields.Nested(ScopeSchema, required=True)
    questions = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        load_default=list,
        validate=validate.Length(0, 10),
    )
    # The CuR's signed summary envelopes, verbatim: every participant verifies them with the
    # CuR's key, so reviewers who are not twinned with the CuR still read authentic values.
    summaries = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 5))
    min_reviewers = fields.Integer(strict=True, load_default=2, validate=validate.Range(1, 20))
    public_outcome = fields.Boolean(load_default=True)


class RevisionData(_Strict):
    summaries = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 5))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 5000))


class CityData(_Strict):
    city = CityId(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 5000))


class SubmitReviewData(_Strict):
    verdict = fields.String(required=True, validate=validate.OneOf(VERDICTS))
    summary = fields.String(required=True, validate=_text)
    endorsed_hash = _sha256(load_default=None, allow_none=True)

    @validates_schema
    def _endorsement_names_a_version(self, data: dict[str, Any], **_: Any) -> None:
        if data["verdict"] == "endorsed" and not data.get("endorsed_hash"):
            raise ValidationError(
                "An endorsement names the summary hash it endorses.", "endorsed_hash"
            )


class RecommendationContentSchema(_Strict):
    """What the issuing cities co-sign (its JCS hash is the co-signed ``content_sha256``)."""

    text = fields.String(required=True, validate=_text)
    lead_verb = fields.String(required=True, validate=validate.Length(1, 40))
    action_level = fields.Integer(strict=True, required=True, validate=validate.Range(1, 5))
    themes = fields.List(
        fields.String(validate=_short), load_default=list, validate=validate.Length(0, 20)
    )
    indicators = fields.List(Code(), load_default=list, validate=validate.Length(0, 50))
    affected_groups = fields.List(
        fields.String(validate=_short), load_default=list, validate=validate.Length(0, 20)
    )
    sdg_targets = fields.List(
        fields.String(validate=validate.Regexp(r"^\d{1,2}\.[0-9a-z]{1,2}$")),
        load_default=list,
        validate=validate.Length(0, 20),
    )
    target_value = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(1, 64)
    )
    target_date = fields.Date(load_default=None, allow_none=True)
    previous_id = _id(load_default=None, allow_none=True)  # "as recommended previously"


class RecommendationData(_Strict):
    id = _id(required=True)
    content = fields.Nested(RecommendationContentSchema, required=True)
    issuing_cities = fields.List(CityId(), required=True, validate=validate.Length(1, 20))


class CosignData(_Strict):
    id = _id(required=True)
    content_sha256 = _sha256(required=True)


class PositionSchema(_Strict):
    recommendation_id = _id(required=True)
    position = fields.String(required=True, validate=validate.OneOf(POSITIONS))
    explanation = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(0, 5000)
    )

    @validates_schema
    def _noted_is_explained(self, data: dict[str, Any], **_: Any) -> None:
        if data["position"] == "noted" and not (data.get("explanation") or "").strip():
            raise ValidationError("A 'noted' position needs an explanation.", "explanation")


class RespondData(_Strict):
    positions = fields.List(
        fields.Nested(PositionSchema), required=True, validate=validate.Length(1, 500)
    )


class FollowUpItemSchema(_Strict):
    recommendation_id = _id(required=True)
    status = fields.String(required=True, validate=validate.OneOf(FOLLOW_UP_STATUSES))
    note = fields.String(required=True, validate=_text)
    evidence = fields.List(_sha256(), load_default=list, validate=validate.Length(0, 10))


class FollowUpData(_Strict):
    entries = fields.List(
        fields.Nested(FollowUpItemSchema), required=True, validate=validate.Length(1, 500)
    )
    # Newer signed summaries the entries point to as evidence (verbatim, verified on arrival).
    summaries = fields.List(fields.Dict(), load_default=list, validate=validate.Length(0, 5))


class AnchorSchema(_Strict):
    summary_sha256 = _sha256(load_default=None, allow_none=True)
    indicator = Code(load_default=None, allow_none=True)
    period = PeriodString(load_default=None, allow_none=True)
    disaggregation = fields.Dict(keys=Code(), values=Code(), load_default=dict)
    pointer = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 300))
    section = fields.String(load_default=None, allow_none=True, validate=_short)

    @validates_schema
    def _anchored_somewhere(self, data: dict[str, Any], **_: Any) -> None:
        value_anchor = data.get("summary_sha256") and data.get("indicator")
        if not value_anchor and not data.get("section"):
            raise ValidationError(
                "Anchor a comment to a value (summary_sha256 + indicator) or to a report section."
            )


class CommentData(_Strict):
    id = _id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(COMMENT_KINDS))
    anchor = fields.Nested(AnchorSchema, load_default=None, allow_none=True)
    parent_id = _id(load_default=None, allow_none=True)
    text = fields.String(required=True, validate=_text)
    readers = fields.List(
        fields.String(validate=validate.OneOf(READERS)),
        required=True,
        validate=validate.Length(1, len(READERS)),
    )

    @validates_schema
    def _thread_or_anchor(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("parent_id") is None and data.get("anchor") is None:
            raise ValidationError("A new thread needs an anchor; a reply names its parent_id.")


class ResolveData(_Strict):
    comment_id = _id(required=True)


class WidenData(_Strict):
    comment_id = _id(required=True)
    readers = fields.List(
        fields.String(validate=validate.OneOf(READERS)),
        required=True,
        validate=validate.Length(1, len(READERS)),
    )


class ExtendData(_Strict):
    kind = fields.String(required=True, validate=validate.OneOf(DEADLINE_KINDS))
    city = CityId(load_default=None, allow_none=True)  # for a reviewer's deadlines
    due = fields.AwareDateTime(required=True, format="iso")


ACTION_DATA: dict[str, type[Schema]] = {
    "submit": SubmitData,
    "form_panel": NoteData,
    "invite": CityData,
    "open_round": NoteData,
    "close_round": NoteData,
    "request_revision": NoteData,
    "submit_revision": RevisionData,
    "draft_recommendation": RecommendationData,
    "cosign_recommendation": CosignData,
    "start_factual_check": NoteData,
    "issue": NoteData,
    "respond": RespondData,
    "adopt": NoteData,
    "report_follow_up": FollowUpData,
    "assess": FollowUpData,
    "close": NoteData,
    "comment": CommentData,
    "resolve": ResolveData,
    "widen_readers": WidenData,
    "extend_deadline": ExtendData,
    "withdraw": NoteData,
    "cancel": NoteData,
    "reinvite": CityData,
    "accept": NoteData,
    "decline": NoteData,
    "submit_review": SubmitReviewData,
    "acknowledge": CityData,
    "send_back": CityData,
    "cancel_assignment": CityData,
}


class ReviewActionPayloadSchema(Schema):
    """Payload of ``hrc.review.action/1``: one city's action on one review."""

    class Meta:
        unknown = EXCLUDE

    review_id = fields.String(required=True, validate=validate.Regexp(REVIEW_ID_PATTERN))
    home = CityId(required=True)
    cur = CityId(required=True)
    action = fields.String(required=True, validate=validate.OneOf(tuple(ACTION_DATA)))
    role = fields.String(required=True, validate=validate.OneOf(REVIEW_ROLES))
    data = fields.Dict(keys=fields.String(), required=True)


class ActorSchema(Schema):
    class Meta:
        unknown = RAISE

    city = CityId(required=True)
    role = fields.String(required=True, validate=validate.OneOf(REVIEW_ROLES))


class EventHeaderSchema(Schema):
    """One link of the review's hash chain; its hash is sha256 of the header's JCS bytes."""

    class Meta:
        unknown = RAISE

    review_id = fields.String(required=True, validate=validate.Regexp(REVIEW_ID_PATTERN))
    index = fields.Integer(strict=True, required=True, validate=validate.Range(0, 1_000_000))
    prev = _sha256(required=True, allow_none=True)
    action = fields.String(required=True, validate=validate.OneOf(tuple(ACTION_DATA)))
    actor = fields.Nested(ActorSchema, required=True)
    body_sha256 = _sha256(required=True)
    readers = fields.List(fields.String(validate=validate.OneOf(READERS)), required=True)
    ts = fields.Integer(strict=True, required=True, validate=validate.Range(0, 2**53 - 1))


class ReviewEventPayloadSchema(Schema):
    """Payload of ``hrc.review.event/1``: an event header and, for readers, its body."""

    class Meta:
        unknown = EXCLUDE

    review_id = fields.String(required=True, validate=validate.Regexp(REVIEW_ID_PATTERN))
    home = CityId(required=True)
    cur = CityId(required=True)
    event = fields.Dict(keys=fields.String(), required=True)
    body = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)


def load_action_data(action: str, data: Any) -> dict[str, Any]:
    """Validate ``data`` for ``action``; raises :class:`marshmallow.ValidationError`."""
    loaded: dict[str, Any] = ACTION_DATA[action]().load(data)
    return loaded


# --- local API (``/api/v1/reviews``) ------------------------------------------------------------


class ReviewDraftSchema(_Strict):
    """``POST /api/v1/reviews``: a draft request, kept on the node until submitted."""

    title = fields.String(required=True, validate=_short)
    home = CityId(
        load_default=None, allow_none=True, metadata={"description": "default: the secretariat"}
    )
    scope = fields.Nested(ScopeSchema, required=True)
    questions = fields.List(
        fields.String(validate=validate.Length(1, 1000)),
        load_default=list,
        validate=validate.Length(0, MAX_QUESTIONS),
    )
    summaries = fields.List(
        _sha256(),
        required=True,
        validate=validate.Length(1, 5),
        metadata={"description": "envelope sha256 of our published summaries"},
    )
    min_reviewers = fields.Integer(strict=True, load_default=2, validate=validate.Range(1, 20))
    public_outcome = fields.Boolean(load_default=True)


class ReviewActionRequestSchema(_Strict):
    """``POST /api/v1/reviews/{id}/actions``: one action of the workflow tables.

    ``data`` follows the action (see docs/peer_review.md); for ``submit_revision`` and
    ``report_follow_up`` you may give ``summary_hashes`` (our published summaries) instead of
    the envelopes themselves.
    """

    action = fields.String(required=True, validate=validate.OneOf(tuple(ACTION_DATA)))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class AssignmentViewSchema(Schema):
    city = fields.String()
    state = fields.String()
    verdict = fields.String(allow_none=True)
    endorsed_hash = fields.String(allow_none=True)
    submitted_round = fields.Integer(allow_none=True)
    summary = fields.String(allow_none=True)


class CommentViewSchema(Schema):
    id = fields.String()
    author_city = fields.String()
    author_role = fields.String()
    kind = fields.String()
    anchor = fields.Dict(allow_none=True)
    parent_id = fields.String(allow_none=True)
    text = fields.String()
    readers = fields.List(fields.String())
    round = fields.Integer()
    resolved = fields.Boolean()
    outdated = fields.Boolean()


class FollowUpViewSchema(Schema):
    kind = fields.String()
    author_city = fields.String()
    status = fields.String()
    note = fields.String()
    evidence = fields.List(fields.String())


class RecommendationViewSchema(Schema):
    id = fields.String()
    review_id = fields.String()
    content = fields.Dict()
    content_sha256 = fields.String()
    issuing_cities = fields.List(fields.String())
    cosigned_by = fields.List(fields.String())
    position = fields.String(allow_none=True)
    explanation = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    follow_up = fields.List(fields.Nested(FollowUpViewSchema))


class ReviewListItemSchema(Schema):
    id = fields.String()
    title = fields.String()
    home = fields.String()
    cur = fields.String()
    state = fields.String()
    round = fields.Integer()
    your_roles = fields.List(fields.String())


class ReviewViewSchema(ReviewListItemSchema):
    scope = fields.Dict()
    questions = fields.List(fields.String())
    pinned = fields.List(fields.String())
    min_reviewers = fields.Integer()
    public_outcome = fields.Boolean()
    head_index = fields.Integer()
    head_hash = fields.String(allow_none=True)
    available_actions = fields.List(fields.String())
    pending = fields.Boolean()
    assignments = fields.List(fields.Nested(AssignmentViewSchema))
    comments = fields.List(fields.Nested(CommentViewSchema))
    recommendations = fields.List(fields.Nested(RecommendationViewSchema))
    summaries = fields.List(fields.Dict())
    deadlines = fields.List(fields.Dict())


class ReviewEventViewSchema(Schema):
    index = fields.Integer()
    hash = fields.String()
    header = fields.Dict()
    has_body = fields.Boolean()


class ReviewEventLogSchema(Schema):
    head_index = fields.Integer()
    head_hash = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ReviewEventViewSchema))


class RecommendationQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    theme = fields.String(load_default=None, validate=_short)
    indicator = Code(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(FOLLOW_UP_STATUSES))
    position = fields.String(load_default=None, validate=validate.OneOf(POSITIONS))


class PublicRecommendationSchema(RecommendationViewSchema):
    review_title = fields.String()
    city = fields.String()
