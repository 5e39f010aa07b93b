"""Forms of the peer-review pages and the words they show (Flask-WTF adds the CSRF token).

Each action form turns what a person typed into the ``data`` of one review action
(:data:`schemas.peer_review.ACTION_DATA`); the service
(:func:`peer_review.reviews.services.drafting.act`) then validates and decides it. The forms
only check what a form can: required fields, lengths, dates. Which actions a person may take
is for the workflow tables alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from node.errors import DomainError
from node.input_guard import parse_json_text
from schemas.peer_review import COMMENT_KINDS

# --- words ---------------------------------------------------------------------------------------

STATES = {
    "draft": _l("Draft (not sent yet)"),
    "requested": _l("Requested"),
    "panel_forming": _l("Forming the panel"),
    "in_review": _l("In review"),
    "consolidating": _l("Consolidating the reviews"),
    "revision_requested": _l("Revision requested"),
    "factual_check": _l("Factual check"),
    "awaiting_response": _l("Awaiting the city's response"),
    "responded": _l("Responded"),
    "follow_up": _l("Follow-up"),
    "closed": _l("Closed"),
    "withdrawn": _l("Withdrawn"),
    "cancelled": _l("Cancelled"),
}
ASSIGNMENT_STATES = {
    "invited": _l("Invited"),
    "accepted": _l("Accepted"),
    "declined": _l("Declined"),
    "submitted": _l("Review submitted"),
    "acknowledged": _l("Acknowledged"),
    "cancelled": _l("Cancelled"),
}
ROLES = {
    "validating_authority": _l("validating authority"),
    "focal_point": _l("focal point"),
    "observer": _l("observer"),
    "reviewer": _l("reviewer"),
    "chair": _l("chair"),
    "secretariat": _l("secretariat"),
}
VERDICTS = {
    "endorsed": _l("Endorsed"),
    "clarification_requested": _l("Clarification requested"),
    "concerns": _l("Concerns"),
    "comment_only": _l("Comment only"),
}
POSITIONS = {"supported": _l("Supported"), "noted": _l("Noted")}
FOLLOW_UP_STATUSES = {
    "not_started": _l("Not started"),
    "in_progress": _l("In progress"),
    "partially_implemented": _l("Partially implemented"),
    "implemented": _l("Implemented"),
}
COMMENT_KIND_LABELS = {
    "question": _l("Question"),
    "observation": _l("Observation"),
    "good_practice": _l("Good practice"),
    "concern": _l("Concern"),
    "suggestion": _l("Suggestion"),
    "draft_recommendation": _l("Draft recommendation"),
    "stakeholder_input": _l("Stakeholder input"),
    "reply": _l("Reply"),
}
READER_LABELS = {
    "chair": _l("the chair"),
    "panel": _l("the panel of reviewers"),
    "submitted_reviewers": _l("reviewers who have submitted"),
    "cur": _l("the reviewed city"),
    "secretariat": _l("the secretariat"),
    "network": _l("every city of the network"),
    "public": _l("the public (once adopted)"),
}
DEFAULT_READERS = ["chair", "panel", "cur"]
DEADLINE_KINDS = {
    "invitation_answer": _l("Answer to an invitation (a reviewing city)"),
    "review_submission": _l("Review submission (a reviewing city)"),
    "response": _l("Response to the recommendations"),
    "follow_up": _l("Follow-up report"),
}
ACTION_LEVELS = {
    1: _l("1 – minimal action (share, seek support)"),
    2: _l("2 – continue an action already under way"),
    3: _l("3 – consider a change"),
    4: _l("4 – general action"),
    5: _l("5 – specific, measurable action"),
}
ACTIONS = {
    "submit": _l("Submit the request"),
    "form_panel": _l("Accept the request and form the panel"),
    "invite": _l("Invite a reviewing city"),
    "open_round": _l("Open the review round"),
    "close_round": _l("Close the round"),
    "request_revision": _l("Ask the city for a revision"),
    "submit_revision": _l("Submit a revision"),
    "draft_recommendation": _l("Draft a recommendation"),
    "cosign_recommendation": _l("Co-sign"),
    "start_factual_check": _l("Start the factual check"),
    "issue": _l("Issue the recommendations"),
    "respond": _l("Send the response"),
    "adopt": _l("Adopt the outcome"),
    "report_follow_up": _l("Report on the follow-up"),
    "assess": _l("Add our assessment"),
    "close": _l("Close the review"),
    "comment": _l("Comment"),
    "resolve": _l("Resolve"),
    "widen_readers": _l("Widen readers"),
    "extend_deadline": _l("Extend a deadline"),
    "withdraw": _l("Withdraw the request"),
    "cancel": _l("Cancel the review"),
    "reinvite": _l("Invite again"),
    "accept": _l("Accept the invitation"),
    "decline": _l("Decline the invitation"),
    "submit_review": _l("Submit our review"),
    "acknowledge": _l("Acknowledge"),
    "send_back": _l("Send back"),
    "cancel_assignment": _l("Cancel the assignment"),
}

LABELS = {
    "state": STATES,
    "assignment": ASSIGNMENT_STATES,
    "role": ROLES,
    "verdict": VERDICTS,
    "position": POSITIONS,
    "status": FOLLOW_UP_STATUSES,
    "kind": COMMENT_KIND_LABELS,
    "reader": READER_LABELS,
    "deadline": DEADLINE_KINDS,
    "level": ACTION_LEVELS,
    "action": ACTIONS,
}


# --- fields --------------------------------------------------------------------------------------


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (usable without JavaScript, unlike a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def options(pairs: Any) -> list[SelectChoice]:
    """Choices for a select or checkbox list from ``{value: label}`` or ``[(value, label)]``."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [SelectChoice(str(value), label) for value, label in items]


def split_list(text: str | None) -> list[str]:
    """``"a, b,,c"`` → ``["a", "b", "c"]`` (comma-separated entry fields)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


CODES_HINT = _l("Indicator codes, separated by commas (e.g. HRC-HOU-01).")


def comma_list(label: Any, hint: Any, max_length: int = 2000) -> StringField:
    """An optional text field for several values separated by commas (see :func:`split_list`)."""
    return StringField(label, validators=[Optional(), Length(max=max_length)], description=hint)


def _text(field: Any) -> str | None:
    value = (field.data or "").strip()
    return value or None


# --- action forms --------------------------------------------------------------------------------


class ReviewActionForm(FlaskForm):
    """Every review form says which page it came from and which of its forms it is, so an
    error can be shown beside the very form, with what was typed."""

    page = HiddenField(validators=[Optional(), Length(max=20)])
    form_key = HiddenField(validators=[Optional(), Length(max=80)])

    def action_data(self) -> dict[str, Any]:
        return {}


class NoteForm(ReviewActionForm):
    """Actions that take no more than an optional note (round controls, accept, withdraw...)."""

    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=5000)])

    def action_data(self) -> dict[str, Any]:
        note = _text(self.note)
        return {"note": note} if note else {}


class CityForm(NoteForm):
    """Actions on one reviewing city (invite, acknowledge, send back...)."""

    city = StringField(_l("City"), validators=[DataRequired(), Length(max=63)])

    def action_data(self) -> dict[str, Any]:
        return {"city": (self.city.data or "").strip(), **super().action_data()}


class SubmitReviewForm(ReviewActionForm):
    verdict = SelectField(_l("Verdict"), choices=options(VERDICTS))
    summary = TextAreaField(
        _l("Your overall assessment"),
        validators=[DataRequired(), Length(max=5000)],
        description=_l("What works, what worries you, what the city should look at first."),
    )
    endorsed_hash = SelectField(
        _l("Version you endorse"),
        validate_choice=False,
        description=_l("Only for an endorsement: it lapses when the city submits a revision."),
    )

    def action_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict.data, "summary": _text(self.summary)}
        if self.verdict.data == "endorsed":
            data["endorsed_hash"] = self.endorsed_hash.data or None
        return data


class RevisionForm(NoteForm):
    summaries = MultiCheckboxField(
        _l("Newer summaries to pin"),
        validate_choice=False,
        description=_l("Publish the corrected figures first; then pick the new revision here."),
    )

    def action_data(self) -> dict[str, Any]:
        return {"summary_hashes": list(self.summaries.data or []), **super().action_data()}


class RecommendationForm(ReviewActionForm):
    object_id = HiddenField(validators=[DataRequired(), Length(max=32)])
    text = TextAreaField(_l("Recommendation"), validators=[DataRequired(), Length(max=5000)])
    lead_verb = StringField(
        _l("Lead verb"),
        validators=[DataRequired(), Length(max=40)],
        description=_l("The action asked for: adopt, publish, review, consult…"),
    )
    action_level = SelectField(
        _l("Action level"), choices=options(ACTION_LEVELS), coerce=int, default=4
    )
    themes = MultiCheckboxField(_l("Themes"), validate_choice=False)
    indicators = comma_list(_l("Linked indicators"), CODES_HINT)
    affected_groups = comma_list(
        _l("Affected groups"), _l("Separated by commas (e.g. migrants, older people).")
    )
    sdg_targets = comma_list(_l("SDG targets"), _l("Separated by commas (e.g. 11.1, 10.2)."))
    target_value = StringField(_l("Target value"), validators=[Optional(), Length(max=64)])
    target_date = DateField(_l("Target date"), validators=[Optional()])
    previous_id = StringField(
        _l("Recommended previously (id of the earlier recommendation)"),
        validators=[Optional(), Length(max=32)],
    )
    issuing_cities = MultiCheckboxField(
        _l("Issuing cities"),
        validate_choice=False,
        description=_l("Each city ticked here must co-sign before the factual check."),
    )

    def action_data(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "text": _text(self.text),
            "lead_verb": _text(self.lead_verb),
            "action_level": self.action_level.data,
            "themes": list(self.themes.data or []),
            "indicators": split_list(self.indicators.data),
            "affected_groups": split_list(self.affected_groups.data),
            "sdg_targets": split_list(self.sdg_targets.data),
        }
        if _text(self.target_value):
            content["target_value"] = _text(self.target_value)
        if self.target_date.data:
            content["target_date"] = self.target_date.data.isoformat()
        if _text(self.previous_id):
            content["previous_id"] = _text(self.previous_id)
        return {
            "id": self.object_id.data,
            "content": content,
            "issuing_cities": list(self.issuing_cities.data or []),
        }


class CosignForm(ReviewActionForm):
    object_id = HiddenField(validators=[DataRequired(), Length(max=32)])
    content_sha256 = HiddenField(validators=[DataRequired(), Length(max=64)])

    def action_data(self) -> dict[str, Any]:
        return {"id": self.object_id.data, "content_sha256": self.content_sha256.data}


class CommentForm(ReviewActionForm):
    """A new thread on a value (or a report section), or a reply to a thread."""

    object_id = HiddenField(validators=[DataRequired(), Length(max=32)])
    kind = SelectField(
        _l("Kind"),
        choices=options((k, COMMENT_KIND_LABELS[k]) for k in COMMENT_KINDS if k != "reply"),
    )
    text = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=5000)])
    readers = MultiCheckboxField(
        _l("Who may read it"),
        choices=options(READER_LABELS),
        default=DEFAULT_READERS,
        validators=[DataRequired(_l("Choose at least one reader."))],
        description=_l("Only the chair can widen this later."),
    )
    parent_id = HiddenField(validators=[Optional(), Length(max=32)])
    summary_sha256 = HiddenField(validators=[Optional(), Length(max=64)])
    indicator = HiddenField(validators=[Optional(), Length(max=64)])
    period = HiddenField(validators=[Optional(), Length(max=10)])
    disaggregation = HiddenField(validators=[Optional(), Length(max=2000)])
    section = StringField(
        _l("Part of the report"),
        validators=[Optional(), Length(max=200)],
        description=_l("For a comment that is not about one value: e.g. method, sources."),
    )

    def validate_disaggregation(self, field: Any) -> None:
        try:
            value = parse_json_text(field.data, what="breakdown") if field.data else {}
        except (ValueError, DomainError):  # not JSON, too deep, or invalid text
            value = None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValidationError(_l("The breakdown of this value is not readable."))

    def action_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.object_id.data,
            "kind": "reply" if self.parent_id.data and not self.kind.data else self.kind.data,
            "text": _text(self.text),
            "readers": list(self.readers.data or []),
        }
        if self.parent_id.data:
            data["parent_id"] = self.parent_id.data
        if self.summary_sha256.data:
            data["anchor"] = {
                "summary_sha256": self.summary_sha256.data,
                "indicator": self.indicator.data or None,
                "period": self.period.data or None,
                "disaggregation": parse_json_text(self.disaggregation.data or "{}"),
            }
        elif _text(self.section):
            data["anchor"] = {"section": _text(self.section)}
        return data


class ReplyForm(CommentForm):
    """A reply: the kind is fixed by the page (a reply, or stakeholder input for observers)."""

    kind = HiddenField(validators=[Optional(), Length(max=30)])


class ResolveForm(ReviewActionForm):
    comment_id = HiddenField(validators=[DataRequired(), Length(max=32)])

    def action_data(self) -> dict[str, Any]:
        return {"comment_id": self.comment_id.data}


class WidenForm(ResolveForm):
    readers = MultiCheckboxField(
        _l("Also readable by"),
        choices=options(READER_LABELS),
        validators=[DataRequired(_l("Choose at least one reader."))],
    )

    def action_data(self) -> dict[str, Any]:
        return {**super().action_data(), "readers": list(self.readers.data or [])}


class ExtendForm(ReviewActionForm):
    kind = SelectField(_l("Deadline"), choices=options(DEADLINE_KINDS))
    city = SelectField(
        _l("Reviewing city"),
        validate_choice=False,
        description=_l("Only for an invitation answer or a review submission."),
    )
    due = DateField(_l("New due date"), validators=[InputRequired()])

    def action_data(self) -> dict[str, Any]:
        due = datetime.combine(self.due.data, time(23, 59), tzinfo=UTC)
        data: dict[str, Any] = {"kind": self.kind.data, "due": due.isoformat()}
        if self.city.data:
            data["city"] = self.city.data
        return data


# The forms behind POST /reviews/<id>/actions/<action>; respond and follow-up have own pages.
ACTION_FORMS: dict[str, type[ReviewActionForm]] = {
    **dict.fromkeys(
        (
            "submit",
            "form_panel",
            "open_round",
            "close_round",
            "request_revision",
            "start_factual_check",
            "issue",
            "adopt",
            "close",
            "withdraw",
            "cancel",
            "accept",
            "decline",
        ),
        NoteForm,
    ),
    **dict.fromkeys(
        ("invite", "reinvite", "acknowledge", "send_back", "cancel_assignment"), CityForm
    ),
    "submit_review": SubmitReviewForm,
    "submit_revision": RevisionForm,
    "draft_recommendation": RecommendationForm,
    "cosign_recommendation": CosignForm,
    "comment": CommentForm,
    "resolve": ResolveForm,
    "widen_readers": WidenForm,
    "extend_deadline": ExtendForm,
}


class CsrfForm(FlaskForm):
    """Only the CSRF token: the response and follow-up tables have one row per recommendation."""


class DraftForm(FlaskForm):
    """A review request of our city, kept on this node until its validating authority submits."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    themes = MultiCheckboxField(
        _l("Themes under review"),
        validate_choice=False,
        description=_l("The rights the review covers; or name indicators below."),
    )
    indicators = comma_list(_l("Indicators under review"), CODES_HINT, max_length=5000)
    question_1 = StringField(_l("Guiding question 1"), validators=[Optional(), Length(max=1000)])
    question_2 = StringField(_l("Guiding question 2"), validators=[Optional(), Length(max=1000)])
    question_3 = StringField(_l("Guiding question 3"), validators=[Optional(), Length(max=1000)])
    summaries = MultiCheckboxField(
        _l("Our published summaries to pin"),
        validate_choice=False,
        description=_l("Reviewers read and comment on exactly these signed versions."),
    )
    home = SelectField(_l("Chaired by"), validate_choice=False)
    min_reviewers = IntegerField(
        _l("Reviewers needed before the round opens"),
        default=2,
        validators=[DataRequired(), NumberRange(1, 20)],
    )
    public_outcome = BooleanField(_l("Publish the adopted outcome"), default=True)

    def draft_data(self) -> dict[str, Any]:
        """The fields of :class:`schemas.peer_review.ReviewDraftSchema`."""
        questions = [self.question_1.data, self.question_2.data, self.question_3.data]
        return {
            "title": _text(self.title),
            "home": self.home.data or None,
            "scope": {
                "themes": list(self.themes.data or []),
                "indicators": split_list(self.indicators.data),
            },
            "questions": [q.strip() for q in questions if q and q.strip()],
            "summaries": list(self.summaries.data or []),
            "min_reviewers": self.min_reviewers.data,
            "public_outcome": bool(self.public_outcome.data),
        }
