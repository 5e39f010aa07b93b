"""The mentoring space: pages for a city's relationships, and the secretariat's metadata list.

Thin views over :mod:`peer_review.mentoring` (every change goes through its transition table)
and :mod:`peer_review.mentoring.read`. Every form carries a CSRF token; buttons appear only for
the actions the table opens to the signed-in user; refusals come back as readable messages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from flask_wtf import FlaskForm
from marshmallow import Schema, ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response

from node.auth import page_user
from node.errors import DomainError
from node.network.port import Peer
from node.permissions import MENTORING_ROLES, allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from peer_review.mentoring import checks, documents, lifecycle, read, sessions, workflow
from peer_review.mentoring.forms import (
    MAX_SLOTS,
    ActionForm,
    ActionPlanForm,
    AgreementForm,
    ClosureReportForm,
    NoteForm,
    ProposeForm,
    SessionForm,
    SessionNotesForm,
    SignForm,
)
from schemas.mentoring import (
    ActionPlanRequestSchema,
    AgreementRequestSchema,
    ClosureReportRequestSchema,
    SessionRequestSchema,
)

# Templates live in the package (templates/mentoring/*.html); the app's base.html and macros are
# found through the app's own template folder.
bp = Blueprint("mentoring_web", __name__, template_folder="templates")


def _viewer() -> None:
    # Pages answer HTML: the same rule as the API (acting.require_viewer), as a 403 page.
    if not allowed(page_user(), "mentoring.view"):
        abort(403)


def _space(rel_id: str) -> Response:
    return redirect(url_for("mentoring_web.relationship_page", rel_id=rel_id))


def _attempt(action: Callable[[], Any], done: str) -> bool:
    """Run a service; flash its refusal (the reason the table gave) or ``done``."""
    try:
        action()
    except DomainError as exc:
        db_session().rollback()
        flash(page_message(exc), "error")
        return False
    flash(done, "success")
    return True


def _load(schema: type[Schema], raw: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
    """The API's schema validates what the form collected: one contract for pages and API."""
    try:
        return schema().load(raw), None
    except ValidationError as exc:
        return None, exc.normalized_messages()


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


# --- list and proposal --------------------------------------------------------------------------


@bp.route("/mentoring", methods=["GET", "POST"])
@login_required
def relationships_page() -> Any:
    config = runtime().config
    session = db_session()
    if config.role == "secretariat":
        # The secretariat sees metadata only: ids, cities, states and dates.
        if not allowed(page_user(), "network.status"):
            abort(403)
        return render_template("mentoring/metadata.html", rows=read.metadata_rows(session))
    _viewer()
    form = ProposeForm()
    twins = session.scalars(
        select(Peer).where(Peer.state == "active", Peer.role == "city").order_by(Peer.city_id)
    )
    form.partner.choices = {p.city_id: f"{p.name} ({p.city_id})" for p in twins}
    status = 200
    if form.validate_on_submit():
        try:
            rel = lifecycle.propose(
                session,
                config,
                partner=form.partner.data or "",
                our_side=form.our_side.data or "",
                title=form.title.data or "",
                purpose=form.purpose.data or "",
                user=page_user(),
                now=now(),
            )
        except DomainError as exc:
            flash(page_message(exc), "error")
            status = exc.status
        else:
            flash(_("Proposal signed and sent to %(city)s.", city=form.partner.data), "success")
            return _space(rel.id)
    elif request.method == "POST":
        status = 400
    rows = [
        read.relationship_row(session, config, rel) for rel in checks.list_relationships(session)
    ]
    can_propose = "lead" in MENTORING_ROLES.get(page_user().role, ())
    return render_template(
        "mentoring/list.html", rows=rows, form=form, can_propose=can_propose
    ), status


# --- one relationship ---------------------------------------------------------------------------


@bp.get("/mentoring/<rel_id>")
@login_required
def relationship_page(rel_id: str) -> Any:
    _viewer()
    session, config = db_session(), runtime().config
    rel = checks.get_relationship(session, rel_id)
    view = read.detail(session, config, rel, page_user(), now())
    # A precondition's reason in the reader's language (node.refusals); the API keeps English.
    allowed_actions = {
        a["action"]: {**a, "reason": page_message(a["reason"]) if a["reason"] else None}
        for a in view["actions"]
    }
    notes = NoteForm()
    notes.session_id.choices = {"": _("(none)"), **{s.id: s.title for s in rel.sessions}}
    return render_template(
        "mentoring/relationship.html",
        rel=view,
        acts=allowed_actions,
        state_actions=[
            a for a in allowed_actions.values() if a["action"] in workflow.STATE_ACTIONS
        ],
        action=ActionForm(),
        sign=SignForm(),
        plan=SessionForm(),
        session_notes=SessionNotesForm(),
        note=notes,
    )


@bp.post("/mentoring/<rel_id>/transitions/<action>")
@login_required
def transition(rel_id: str, action: str) -> Any:
    _viewer()
    if not ActionForm().validate_on_submit():
        abort(400)
    _attempt(
        lambda: lifecycle.transition(
            db_session(), runtime().config, rel_id, action, user=page_user(), now=now()
        ),
        _("Done: %(action)s. The partner city is told.", action=action.replace("_", " ")),
    )
    return _space(rel_id)


@bp.post('/mentoring/<rel_id>/<any(agreement,"closure-report"):kind>/<rowid:version>/sign')
@login_required
def sign(rel_id: str, kind: str, version: int) -> Any:
    _viewer()
    form = SignForm()
    if not form.validate_on_submit():
        abort(400)
    _attempt(
        lambda: documents.sign_document(
            db_session(),
            runtime().config,
            rel_id,
            kind.replace("-", "_"),
            version,
            form.sha256.data or "",
            user=page_user(),
            now=now(),
        ),
        _("Signed version %(v)d; the signature is sent to the partner city.", v=version),
    )
    return _space(rel_id)


@bp.post("/mentoring/<rel_id>/sessions")
@login_required
def plan_session(rel_id: str) -> Any:
    _viewer()
    form = SessionForm()
    data = None
    if form.validate_on_submit():
        assert form.planned_for.data is not None
        planned_for = form.planned_for.data.replace(tzinfo=UTC).isoformat()
        raw = {
            "title": form.title.data,
            "planned_for": planned_for,
            "agenda": form.agenda.data or "",
        }
        data, _errors = _load(SessionRequestSchema, raw)
    if data is None:
        flash(_("A session needs a title and a date and time (2000–2200)."), "error")
        return _space(rel_id)
    _attempt(
        lambda: sessions.session_action(
            db_session(),
            runtime().config,
            rel_id,
            "plan",
            title=data["title"],
            planned_for=data["planned_for"],
            agenda=data["agenda"],
            user=page_user(),
            now=now(),
        ),
        _("Session planned."),
    )
    return _space(rel_id)


@bp.post("/mentoring/<rel_id>/sessions/<session_id>/<any(hold,document,cancel):step>")
@login_required
def session_step(rel_id: str, session_id: str, step: str) -> Any:
    _viewer()
    form: FlaskForm = SessionNotesForm() if step == "document" else ActionForm()
    if not form.validate_on_submit():
        if step == "document":
            flash(_("Write the shared notes first."), "error")
            return _space(rel_id)
        abort(400)
    notes = form.notes.data if isinstance(form, SessionNotesForm) else None
    _attempt(
        lambda: sessions.session_action(
            db_session(),
            runtime().config,
            rel_id,
            step,
            session_id=session_id,
            notes=notes,
            user=page_user(),
            now=now(),
        ),
        _("Session updated: %(step)s.", step=step),
    )
    return _space(rel_id)


@bp.post("/mentoring/<rel_id>/notes")
@login_required
def add_note(rel_id: str) -> Any:
    _viewer()
    form = NoteForm()
    form.session_id.choices = {}  # any id: the service checks it belongs to the relationship
    if form.validate_on_submit():
        _attempt(
            lambda: sessions.add_note(
                db_session(),
                runtime().config,
                rel_id,
                kind=form.kind.data or "",
                text=form.text.data or "",
                session_id=form.session_id.data or None,
                user=page_user(),
                now=now(),
            ),
            _("Note saved.") if form.kind.data == "private" else _("Note shared."),
        )
    else:
        flash(_("Write a note first."), "error")
    return _space(rel_id)


# --- document editors ---------------------------------------------------------------------------


def _editor(
    rel_id: str,
    kind: str,
    form: FlaskForm,
    schema: type[Schema],
    collect: Callable[[Any], dict[str, Any]],
    template: str,
    **context: Any,
) -> Any:
    """GET shows the form; POST validates it with the API's schema, then proposes the version."""
    errors: Any = None
    status = 200
    if form.validate_on_submit():
        data, errors = _load(schema, collect(form))
        if data is not None:
            try:
                doc = documents.propose_document(
                    db_session(), runtime().config, rel_id, kind, data, user=page_user(), now=now()
                )
            except DomainError as exc:
                db_session().rollback()
                errors = page_errors(exc.errors) or {"": [page_message(exc)]}
            else:
                flash(
                    _("Version %(v)d proposed and sent to the partner city.", v=doc.version),
                    "success",
                )
                return _space(rel_id)
        status = 422
    elif request.method == "POST":
        errors, status = form.errors, 400
    rel = checks.get_relationship(db_session(), rel_id)
    return render_template(
        template, rel=rel, form=form, errors=errors, kind=kind, **context
    ), status


@bp.route("/mentoring/<rel_id>/agreement", methods=["GET", "POST"])
@login_required
def agreement_page(rel_id: str) -> Any:
    _viewer()
    session = db_session()
    rel = checks.get_relationship(session, rel_id)
    current = _agreement_data(rel)
    form = AgreementForm(data=None if request.method == "POST" else current)
    if request.method == "GET":
        # The current goals and one empty slot; "?slots=N" asks for more (no JavaScript needed).
        wanted = max(request.args.get("slots", type=int) or 0, len(current.get("goals", [])) + 1)
        while len(form.goals) < min(wanted, MAX_SLOTS):
            form.goals.append_entry()
    choices = {
        "": _("(no measure)"),
        **dict(read.held_summaries(session, runtime().config, rel)),
    }
    for entry in form.goals:
        entry.form.summary_sha256.choices = choices
    return _editor(
        rel_id,
        "agreement",
        form,
        AgreementRequestSchema,
        _agreement_input,
        "mentoring/agreement.html",
        more=len(form.goals) + 1,
    )


def _agreement_data(rel: Any) -> dict[str, Any]:
    current = checks.latest(rel, "agreement")
    if current is None:
        return {}
    content = current.content
    goals = []
    for goal in content["goals"]:
        measure = goal.get("measure") or {}
        agreed = measure.get("target") if measure.get("target_source") == "agreed" else None
        goals.append(
            {
                "goal_id": goal["goal_id"],
                "text": goal["text"],
                "indicators": ", ".join(goal["indicators"]),
                "recommendations": ", ".join(goal["recommendations"]),
                "measure_indicator": measure.get("indicator", ""),
                "summary_sha256": measure.get("summary_sha256", ""),
                "target_value": agreed["value"] if agreed else "",
                "target_period": agreed["period"] if agreed else "",
                "due_on": _date(goal.get("due_on")),
            }
        )
    return {
        "terms": content["terms"],
        "starts_on": _date(content["starts_on"]),
        "ends_on": _date(content["ends_on"]),
        "goals": goals,
    }


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _agreement_input(form: AgreementForm) -> dict[str, Any]:
    goals = []
    for entry in form.goals:
        fields = entry.form
        if not (fields.text.data or "").strip():
            continue  # an empty slot
        goal: dict[str, Any] = {
            "text": fields.text.data.strip(),
            "indicators": _split(fields.indicators.data),
            "recommendations": _split(fields.recommendations.data),
        }
        if fields.goal_id.data:
            goal["goal_id"] = fields.goal_id.data
        if fields.due_on.data:
            goal["due_on"] = fields.due_on.data.isoformat()
        if (fields.measure_indicator.data or "").strip():
            measure: dict[str, Any] = {
                "indicator": fields.measure_indicator.data.strip(),
                "summary_sha256": fields.summary_sha256.data or "",
            }
            if (fields.target_value.data or "").strip():
                measure["target"] = {
                    "period": (fields.target_period.data or "").strip(),
                    "value": fields.target_value.data.strip(),
                }
            goal["measure"] = measure
        goals.append(goal)
    assert form.starts_on.data is not None and form.ends_on.data is not None
    return {
        "terms": form.terms.data or "",
        "starts_on": form.starts_on.data.isoformat(),
        "ends_on": form.ends_on.data.isoformat(),
        "goals": goals,
    }


@bp.route("/mentoring/<rel_id>/closure-report", methods=["GET", "POST"])
@login_required
def closure_report_page(rel_id: str) -> Any:
    _viewer()
    rel = checks.get_relationship(db_session(), rel_id)
    agreement = checks.latest(rel, "agreement")
    goals = agreement.content["goals"] if agreement else []
    data = None
    if request.method == "GET":
        data = {"goals": [{"goal_id": g["goal_id"], "status": "achieved"} for g in goals]}
    form = ClosureReportForm(data=data)
    return _editor(
        rel_id,
        "closure_report",
        form,
        ClosureReportRequestSchema,
        _closure_input,
        "mentoring/closure_report.html",
        goal_texts={g["goal_id"]: g["text"] for g in goals},
    )


def _closure_input(form: ClosureReportForm) -> dict[str, Any]:
    return {
        "summary": form.summary.data or "",
        "lessons": form.lessons.data or "",
        "goals": [
            {
                "goal_id": entry.form.goal_id.data,
                "status": entry.form.status.data,
                "note": entry.form.note.data or "",
            }
            for entry in form.goals
        ],
    }


@bp.route("/mentoring/<rel_id>/action-plan", methods=["GET", "POST"])
@login_required
def action_plan_page(rel_id: str) -> Any:
    _viewer()
    rel = checks.get_relationship(db_session(), rel_id)
    data = None
    if request.method == "GET":
        current = checks.latest(rel, "action_plan")
        items = [
            {**item, "due_on": _date(item.get("due_on"))}
            for item in (current.content["items"] if current else [])
        ]
        data = {"items": items + [{"city": rel.mentee_city}] * 2}
    form = ActionPlanForm(data=data)
    for entry in form.items:
        entry.form.city.choices = {
            rel.mentor_city: rel.mentor_city,
            rel.mentee_city: rel.mentee_city,
        }
    return _editor(
        rel_id,
        "action_plan",
        form,
        ActionPlanRequestSchema,
        _action_plan_input,
        "mentoring/action_plan.html",
    )


def _action_plan_input(form: ActionPlanForm) -> dict[str, Any]:
    items = []
    for entry in form.items:
        fields = entry.form
        if not (fields.text.data or "").strip():
            continue  # an empty slot
        item: dict[str, Any] = {
            "text": fields.text.data.strip(),
            "city": fields.city.data,
            "status": fields.status.data,
        }
        if fields.due_on.data:
            item["due_on"] = fields.due_on.data.isoformat()
        items.append(item)
    return {"items": items}
