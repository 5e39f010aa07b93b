"""``/api/v1/mentoring``: mentoring relationships between twinned cities, and (on the
secretariat) their metadata.

Thin views: each calls one service of :mod:`peer_review.mentoring` (which checks the transition
table) or a reader of :mod:`peer_review.mentoring.read`; the request wrapper commits.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.errors import ConflictError
from node.permissions import require
from node.runtime import db_session, now, runtime
from peer_review.mentoring import acting, checks, documents, lifecycle, read, sessions, workflow
from schemas.mentoring import (
    ActionPlanRequestSchema,
    AgreementRequestSchema,
    ClosureReportRequestSchema,
    DocumentViewSchema,
    MetadataViewSchema,
    NoteRequestSchema,
    NoteViewSchema,
    ProposeSchema,
    RelationshipDetailSchema,
    RelationshipSchema,
    SessionActionRequestSchema,
    SessionRequestSchema,
    SessionViewSchema,
    SignatureViewSchema,
    SignRequestSchema,
    TransitionRequestSchema,
    WorkflowRowSchema,
)

blp = Blueprint(
    "mentoring",
    __name__,
    description="Mentoring between twinned cities: agreement, goals, sessions, notes, closure",
)

SIGNED_PATHS = {"agreement": "agreement", "closure-report": "closure_report"}


def _detail(rel: Any) -> dict[str, Any]:
    return read.detail(db_session(), runtime().config, rel, api_user(), now())


def _relationship(rel_id: str) -> Any:
    acting.require_viewer(api_user())
    return checks.get_relationship(db_session(), rel_id)


@blp.route("/mentoring")
class Relationships(MethodView):
    @blp.response(200, items_schema(RelationshipSchema, "RelationshipList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """This city's mentoring relationships (as mentor or mentee), newest first."""
        acting.require_viewer(api_user())
        session = db_session()
        return {
            "items": [
                read.relationship_row(session, runtime().config, rel)
                for rel in checks.list_relationships(session)
            ]
        }

    @blp.arguments(ProposeSchema)
    @blp.response(201, RelationshipDetailSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409, 422)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Propose a relationship to a twinned city; the proposal is signed and sent to it."""
        rel = lifecycle.propose(
            db_session(),
            runtime().config,
            partner=data["partner"],
            our_side=data["our_side"],
            title=data["title"],
            purpose=data["purpose"],
            user=api_user(),
            now=now(),
        )
        return _detail(rel)


@blp.route("/mentoring/workflow")
class WorkflowTable(MethodView):
    @blp.response(200, items_schema(WorkflowRowSchema, "MentoringWorkflow"))
    def get(self) -> dict[str, Any]:
        """The transition table every node applies: from, to, who, preconditions, message."""
        return {"items": workflow.WORKFLOW.describe()}


@blp.route("/mentoring/metadata")
class Metadata(MethodView):
    @blp.response(200, items_schema(MetadataViewSchema, "MentoringMetadataList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self) -> dict[str, Any]:
        """On the secretariat: the relationships members reported (metadata only)."""
        if runtime().config.role != "secretariat":
            raise ConflictError(
                "Only a secretariat keeps mentoring metadata.", code="not_secretariat", status=404
            )
        require(api_user(), "network.status")
        return {"items": read.metadata_rows(db_session())}


@blp.route("/mentoring/<rel_id>")
class RelationshipDetail(MethodView):
    @blp.response(200, RelationshipDetailSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, rel_id: str) -> dict[str, Any]:
        """One relationship: state, agreement versions and who signed them, goals, sessions,
        notes, action plan, deadlines, history and the actions open to the caller."""
        return _detail(_relationship(rel_id))


@blp.route("/mentoring/<rel_id>/transitions")
class Transitions(MethodView):
    @blp.arguments(TransitionRequestSchema)
    @blp.response(200, RelationshipDetailSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], rel_id: str) -> dict[str, Any]:
        """Change the state: accept, decline, activate, pause, resume, start_closing,
        complete, abandon or end_early (as the transition table allows)."""
        rel = lifecycle.transition(
            db_session(), runtime().config, rel_id, data["action"], user=api_user(), now=now()
        )
        return _detail(rel)


def _document_route(path: str, kind: str, schema: type[Schema], description: str) -> None:
    """``POST /mentoring/<id>/<path>``: a new version of one kind of document."""

    class DocumentVersion(MethodView):
        @blp.arguments(schema)
        @blp.response(201, DocumentViewSchema)
        @blp.doc(
            security=BEARER,
            summary=f"A new {kind.replace('_', ' ')} version",
            description=description,
        )
        @problems(blp, 401, 403, 404, 409, 422)
        def post(self, data: dict[str, Any], rel_id: str) -> dict[str, Any]:
            session = db_session()
            doc = documents.propose_document(
                session, runtime().config, rel_id, kind, data, user=api_user(), now=now()
            )
            rel = checks.get_relationship(session, rel_id)
            return read.document_view(session, rel, doc)

    blp.route(f"/mentoring/<rel_id>/{path}", endpoint=f"{kind}_version")(DocumentVersion)


_document_route(
    "agreement",
    "agreement",
    AgreementRequestSchema,
    "Terms, dates and SMART goals. A goal's `measure` names a signed summary (its envelope hash) "
    "and an indicator; the baseline (and the target, unless one is given) are read from that "
    "summary. Both cities must sign the new version again.",
)
_document_route(
    "closure-report",
    "closure_report",
    ClosureReportRequestSchema,
    "While closing: what the mentoring achieved per goal. Both cities sign it to complete.",
)
_document_route(
    "action-plan",
    "action_plan",
    ActionPlanRequestSchema,
    "Every version of the action plan is kept.",
)


@blp.route('/mentoring/<rel_id>/<any(agreement,"closure-report"):kind>/<rowid:version>/sign')
class Sign(MethodView):
    @blp.arguments(SignRequestSchema)
    @blp.response(201, SignatureViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], rel_id: str, kind: str, version: int) -> dict[str, Any]:
        """This city signs one version: give the hash you read (``sha256``)."""
        session = db_session()
        signature = documents.sign_document(
            session,
            runtime().config,
            rel_id,
            SIGNED_PATHS[kind],
            version,
            data["sha256"],
            user=api_user(),
            now=now(),
        )
        return {
            "city_id": signature.city_id,
            "sha256": signature.sha256,
            "envelope_sha256": signature.envelope_sha256,
            "signed_at": signature.signed_at,
            "verified": read.signature_verified(session, signature),
        }


@blp.route("/mentoring/<rel_id>/sessions")
class Sessions(MethodView):
    @blp.arguments(SessionRequestSchema)
    @blp.response(201, SessionViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], rel_id: str) -> dict[str, Any]:
        """Plan a session (both cities see it)."""
        item = sessions.session_action(
            db_session(),
            runtime().config,
            rel_id,
            "plan",
            title=data["title"],
            planned_for=data["planned_for"],
            agenda=data["agenda"],
            user=api_user(),
            now=now(),
        )
        return read.session_view(item, now())


@blp.route("/mentoring/<rel_id>/sessions/<session_id>/<any(hold,document,cancel):step>")
class SessionSteps(MethodView):
    @blp.arguments(SessionActionRequestSchema)
    @blp.response(200, SessionViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], rel_id: str, session_id: str, step: str) -> dict[str, Any]:
        """Hold a planned session (notes due in 7 days), document it with the shared notes, or
        cancel it."""
        item = sessions.session_action(
            db_session(),
            runtime().config,
            rel_id,
            step,
            session_id=session_id,
            notes=data["notes"],
            user=api_user(),
            now=now(),
        )
        return read.session_view(item, now())


@blp.route("/mentoring/<rel_id>/notes")
class Notes(MethodView):
    @blp.arguments(NoteRequestSchema)
    @blp.response(201, NoteViewSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], rel_id: str) -> dict[str, Any]:
        """A shared progress note, the mid-point review, or a private note (never sent)."""
        note = sessions.add_note(
            db_session(),
            runtime().config,
            rel_id,
            kind=data["kind"],
            text=data["text"],
            session_id=data["session_id"],
            user=api_user(),
            now=now(),
        )
        return read.note_view(note)
