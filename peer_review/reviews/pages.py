"""Peer-review pages: the reviewer's inbox, the review workspace, the chair's panel, the response
form, the follow-up tracker and the public recommendations.

Thin: every page reads :func:`peer_review.reviews.services.presentation.review_view` (which also
decides who may see a review: 404 otherwise) and every form goes through
:func:`peer_review.reviews.services.drafting.act`, the same service the API and the federation
inbox use. A page shows the buttons of
``available_actions`` only; when the service still refuses, its reason is shown beside the form,
with what the person typed, and the status of the refusal (never a 500).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from marshmallow import ValidationError
from sqlalchemy import select
from wtforms import SelectChoice

from node.auth import page_user
from node.errors import DomainError
from node.network.port import Peer, own_summaries
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import catalogue, cso_carriage
from peer_review.reviews.forms import (
    ACTION_FORMS,
    ACTIONS,
    LABELS,
    CommentForm,
    CsrfForm,
    DraftForm,
    ExtendForm,
    NoteForm,
    RecommendationForm,
    ReplyForm,
    ReviewActionForm,
    RevisionForm,
    SubmitReviewForm,
    WidenForm,
    options,
)
from peer_review.reviews.models import Review
from peer_review.reviews.services import drafting, presentation, queries
from peer_review.workflow import ASSIGNMENT
from schemas.peer_review import RecommendationQuerySchema, ReviewDraftSchema

# The templates live in the package (templates/reviews/*.html); the blueprint keeps its name,
# so every url_for("reviews_web.…") of the pages and of base.html still resolves.
bp = Blueprint("reviews_web", __name__, template_folder="templates")

PAGES = {
    "workspace": "reviews_web.workspace",
    "chair": "reviews_web.chair",
    "respond": "reviews_web.respond",
    "follow_up": "reviews_web.follow_up",
}
CUR_ROLES = {"validating_authority", "focal_point"}

# What a person has to do, derived from the actions open to them: (action, task, page, deadline).
TASKS = (
    ("submit", _l("Submit the review request"), "workspace", None),
    ("accept", _l("Answer the invitation to review"), "workspace", "invitation_answer"),
    ("submit_review", _l("Submit your review"), "workspace", "review_submission"),
    ("cosign_recommendation", _l("Co-sign a recommendation"), "workspace", None),
    ("submit_revision", _l("Submit a revision"), "workspace", None),
    ("respond", _l("Answer the recommendations"), "respond", "response"),
    ("report_follow_up", _l("Report on the follow-up"), "follow_up", "follow_up"),
    ("assess", _l("Assess the follow-up"), "follow_up", None),
    ("form_panel", _l("Accept the request and form the panel"), "chair", None),
    ("acknowledge", _l("Acknowledge the submitted reviews"), "chair", None),
    ("open_round", _l("Open the review round"), "chair", None),
    ("close_round", _l("Close the round"), "chair", None),
    ("start_factual_check", _l("Start the factual check"), "chair", None),
    ("issue", _l("Issue the recommendations"), "chair", None),
    ("adopt", _l("Adopt the outcome"), "chair", None),
    ("close", _l("Close the review"), "chair", None),
)
ROUND_ACTIONS = {
    "form_panel": _l("Accept the request; then invite reviewing cities."),
    "open_round": _l("Reviewers can submit once the round is open (enough must have accepted)."),
    "close_round": _l("When every accepted reviewer has submitted (or was cancelled)."),
    "request_revision": _l("The city corrects its figures and submits a newer summary."),
    "start_factual_check": _l("The city sees the co-signed recommendations and checks facts."),
    "issue": _l("The city then has 8 weeks to answer each recommendation."),
    "adopt": _l("Makes the outcome public (unless the review chose otherwise)."),
    "close": _l("Once the city has reported on the follow-up."),
}


@dataclass
class Failed:
    """A form the service (or the form itself) refused: shown again, beside its error."""

    action: str
    key: str
    message: str
    form: Any = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    rows: dict[str, list[str]] = field(default_factory=dict)  # recommendation id → messages
    entered: dict[str, dict[str, Any]] = field(default_factory=dict)


# --- helpers -------------------------------------------------------------------------------------


def _load(review_id: str) -> tuple[Review, dict[str, Any]]:
    """The review and what this user may see of it; 404 when they may not see it at all."""
    session, config = db_session(), runtime().config
    review = queries.get_review(session, review_id)
    return review, presentation.review_view(session, config, review, page_user())


def problems(errors: Any, path: str = "") -> list[tuple[str, str]]:
    """Flatten marshmallow messages into (where, what) pairs a person can read."""
    if isinstance(errors, dict):
        out: list[tuple[str, str]] = []
        for key, value in errors.items():
            if key == "_schema":
                name = ""
            else:
                name = f"#{key + 1}" if isinstance(key, int) else str(key).replace("_", " ")
            out += problems(value, f"{path} › {name}" if path and name else path or name)
        return out
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return [(path, "; ".join(errors))]
    if isinstance(errors, list):
        return [p for e in errors for p in problems(e, path)]
    return [(path, str(errors))] if errors else []


def _form_key(*parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return "k" + digest[:12]


def _short(sha256: str) -> str:
    return sha256[:12] + "…"


def _summary_choices(rows: list[dict[str, Any]]) -> list[SelectChoice]:
    return options([
        (s["sha256"], _("%(period)s, revision %(rev)s · %(hash)s", period=s["period"],
                        rev=s["revision"], hash=_short(s["sha256"])))
        for s in rows
    ])  # fmt: skip


def _own_summary_rows() -> list[dict[str, Any]]:
    """Our published summaries, newest first (to pin, or to cite as evidence)."""
    return [
        {"sha256": e.sha256, "period": e.period, "revision": e.revision, "old": e.superseded}
        for e in reversed(own_summaries(db_session()))
    ]


def _active_cities(exclude: set[str]) -> list[Peer]:
    """Cities this node can reach: the members (on the secretariat) or active twins."""
    return [
        p
        for p in db_session().scalars(
            select(Peer).where(Peer.state == "active", Peer.role == "city").order_by(Peer.city_id)
        )
        if p.city_id not in exclude
    ]


def _prepare(form: Any, view: dict[str, Any]) -> Any:
    """Fill the choices that depend on the review (on fresh forms and on refused ones)."""
    if isinstance(form, SubmitReviewForm):
        current = [s for s in view["summaries"] if s["sha256"] in view["pinned"]]
        form.endorsed_hash.choices = _summary_choices(current)
    elif isinstance(form, RevisionForm):
        form.summaries.choices = _summary_choices(_own_summary_rows())
    elif isinstance(form, RecommendationForm):
        form.themes.choices = options((t, t) for t in sorted(_themes()))
        issuers = [view["home"], *(a["city"] for a in view["assignments"])]
        form.issuing_cities.choices = options((c, c) for c in dict.fromkeys(issuers))
    elif isinstance(form, ExtendForm):
        form.city.choices = options(
            [("", "–")] + [(a["city"], a["city"]) for a in view["assignments"]]
        )
    elif isinstance(form, CommentForm) and set(view["your_roles"]) == {"observer"}:
        form.kind.choices = options([("stakeholder_input", LABELS["kind"]["stakeholder_input"])])
    return form


def _fresh(form_class: type[ReviewActionForm], view: dict[str, Any], **data: Any) -> Any:
    """An empty form (not bound to the request being answered, whatever it posted)."""
    return _prepare(form_class(formdata=None, **data), view)


def _themes() -> set[str]:
    return {i.right for i in catalogue.list_indicators(db_session())}


def _render(page: str, review: Review, view: dict[str, Any], failed: Failed) -> str:
    """A page again, after a refusal: the refused form keeps what was typed."""
    if failed.form is not None:
        _prepare(failed.form, view)
    return _RENDERERS[page](review, view, failed)


def _common(view: dict[str, Any], failed: Failed | None) -> dict[str, Any]:
    def pick(key: str, default: Any) -> Any:
        return failed.form if failed is not None and failed.key == key else default

    return {
        "review": view,
        "acts": set(view["available_actions"]),
        "roles": set(view["your_roles"]),
        "is_cur": bool(CUR_ROLES & set(view["your_roles"])),
        "labels": LABELS,
        "failed": failed,
        "pick": pick,
        "short": _short,
    }


# --- the inbox -----------------------------------------------------------------------------------


def _tasks_of(view: dict[str, Any], city: str, moment: datetime) -> list[dict[str, Any]]:
    acts = set(view["available_actions"])
    due = {d["kind"]: datetime.fromisoformat(d["due_at"]) for d in view["deadlines"]}
    recs = view["recommendations"]
    unsigned = [r for r in recs if city in r["issuing_cities"] and city not in r["cosigned_by"]]
    assessed = any(
        f["kind"] == "assessment" and f["author_city"] == city for r in recs for f in r["follow_up"]
    )
    out = []
    for action, label, page, kind in TASKS:
        if action not in acts:
            continue
        if action == "cosign_recommendation" and not unsigned:
            continue
        if action == "assess" and assessed:
            continue
        when = due.get(kind) if kind else None
        out.append(
            {
                "label": label,
                "review": view,
                "url": url_for(PAGES[page], review_id=view["id"]),
                "due": when,
                "overdue": when is not None and when < moment,
            }
        )
    return out


def _draft_form() -> DraftForm:
    form = DraftForm()
    form.themes.choices = options((t, t) for t in sorted(_themes()))
    form.summaries.choices = _summary_choices([s for s in _own_summary_rows() if not s["old"]])
    form.home.choices = options(
        [("", _("The network secretariat (default)"))]
        + [(p.city_id, f"{p.name} ({p.city_id})") for p in _active_cities(set())]
    )
    return form


@bp.route("/reviews", methods=["GET", "POST"])
@login_required
def reviews_page() -> Any:
    session, config, user = db_session(), runtime().config, page_user()
    form = _draft_form()
    message, found, status = None, [], 200
    if form.validate_on_submit():
        try:
            data = ReviewDraftSchema().load(form.draft_data())
            review = drafting.create_draft(session, config, user, now=now(), **data)
        except ValidationError as exc:
            message, found, status = _("The request is not complete:"), exc.messages, 422
        except DomainError as exc:
            message, found, status = page_message(exc), page_errors(exc.errors), exc.status
        else:
            flash(_("Draft saved. Check it, then your validating authority submits it."), "success")
            return redirect(url_for("reviews_web.workspace", review_id=review.id))
    elif request.method == "POST":
        message, status = _("Check the fields marked below."), 422
    moment = now()
    mine = []
    tasks: list[dict[str, Any]] = []
    for item in presentation.reviews_for(session, config, user):
        view = presentation.review_view(
            session, config, queries.get_review(session, item["id"]), user
        )
        mine.append(view)
        tasks += _tasks_of(view, config.city_id, moment)
    tasks.sort(key=lambda t: (t["due"] is None, t["due"] or moment))
    may_prepare = config.role == "city" and allowed(user, "summaries.publish")
    return render_template(
        "reviews/list.html",
        reviews=mine,
        tasks=tasks,
        form=form,
        may_prepare=may_prepare,
        message=message,
        problems=problems(found),
        labels=LABELS,
    ), status


# --- the workspace -------------------------------------------------------------------------------


def _value_key(period: str, indicator: str, disaggregation: dict[str, str] | None) -> tuple:
    return (period, indicator, tuple(sorted((disaggregation or {}).items())))


def threads_of(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comments grouped into threads (a root and its replies, replies to replies included)."""
    by_id = {c["id"]: c for c in comments}
    threads: dict[str, dict[str, Any]] = {}
    for comment in comments:
        root, seen = comment, {comment["id"]}
        while root["parent_id"] in by_id and root["parent_id"] not in seen:
            root = by_id[root["parent_id"]]
            seen.add(root["id"])
        thread = threads.setdefault(root["id"], {"root": root, "replies": [], "revision": None})
        if comment is not root:
            thread["replies"].append(comment)
    return list(threads.values())


def _summary_tables(view: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pinned values in scope, each with the threads anchored to it; other threads apart.

    A thread anchored to an earlier revision of the same period stays beside the value: it
    carries forward, with the "outdated" badge when that revision changed the value.
    """
    by_hash = {s["sha256"]: s for s in view["summaries"]}
    placed: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    others = []
    for thread in threads_of(view["comments"]):
        anchor = thread["root"]["anchor"] or {}
        summary = by_hash.get(anchor.get("summary_sha256"))
        if summary is None or not anchor.get("indicator"):
            others.append(thread)
            continue
        if summary["sha256"] not in view["pinned"]:
            thread["revision"] = summary["revision"]  # carried forward from an earlier one
        key = _value_key(summary["period"], anchor["indicator"], anchor.get("disaggregation"))
        placed[key].append(thread)
    tables = []
    for summary in view["summaries"]:
        if summary["sha256"] not in view["pinned"]:
            continue
        rows = []
        for indicator in summary["indicators"]:
            for figure in indicator["results"]:
                breakdown = figure.get("disaggregation") or {}
                key = _value_key(summary["period"], indicator["code"], breakdown)
                rows.append(
                    {
                        "indicator": indicator,
                        "figure": figure,
                        "breakdown": breakdown,
                        "breakdown_json": json.dumps(breakdown, sort_keys=True),
                        "key": _form_key(summary["sha256"], indicator["code"], breakdown),
                        "threads": placed.pop(key, []),
                    }
                )
        tables.append({"summary": summary, "rows": rows})
    others += [t for threads in placed.values() for t in threads]
    return tables, others


def _workspace_page(review: Review, view: dict[str, Any], failed: Failed | None) -> str:
    session, config = db_session(), runtime().config
    tables, others = _summary_tables(view)
    new_id = queries.new_id()
    forms = {
        "note": _fresh(NoteForm, view),
        "comment": _fresh(CommentForm, view, object_id=new_id),
        "reply": _fresh(ReplyForm, view, object_id=new_id),
        "widen": _fresh(WidenForm, view),
        "review": _fresh(SubmitReviewForm, view),
        "revision": _fresh(RevisionForm, view),
        "recommendation": _fresh(
            RecommendationForm, view, object_id=new_id, issuing_cities=[config.city_id]
        ),
    }
    roles = set(view["your_roles"])
    return render_template(
        "reviews/workspace.html",
        **_common(view, failed),
        tables=tables,
        other_threads=others,
        earlier=[s for s in view["summaries"] if s["sha256"] not in view["pinned"]],
        forms=forms,
        mine=next((a for a in view["assignments"] if a["city"] == config.city_id), None),
        reply_kind="stakeholder_input" if roles == {"observer"} else "reply",
        events=queries.events(session, review.id) if roles else [],
        dimensions={d.code: d for d in catalogue.list_dimensions(session)},
        city=config.city_id,
        cso_rows=_reviewed_city_cso(session, config.city_id, review.cur_city),
    )


def _reviewed_city_cso(session: Any, own_city: str, reviewed: str) -> list[Any]:
    """The reviewed city's civil-society figures, as this node holds them: its own published
    ones when we are the reviewed city, else what that city shared with us as a twin (with its
    CSOs' consent). Shown beside the pinned official figures, never among them."""
    peer = session.get(Peer, reviewed) if reviewed != own_city else None
    return cso_carriage.figures_of_city(
        session, own_city, reviewed, base_url=peer.base_url if peer is not None else None
    )


@bp.get("/reviews/<review_id>")
@login_required
def workspace(review_id: str) -> Any:
    review, view = _load(review_id)
    return _workspace_page(review, view, None)


@bp.post("/reviews/<review_id>/actions/<action>")
@login_required
def do_action(review_id: str, action: str) -> Any:
    """One form of the workspace or the chair's panel → one review action."""
    form_class = ACTION_FORMS.get(action)
    if form_class is None:
        abort(404)
    if action == "comment" and request.form.get("parent_id"):
        form_class = ReplyForm
    review, view = _load(review_id)
    form = form_class()
    page = request.form.get("page", "workspace")
    chairing = "chair" in view["your_roles"]
    page = "chair" if page == "chair" and chairing else "workspace"
    key = form.form_key.data or action
    if not form.validate_on_submit():
        # Hidden fields (anchors, ids) have no place to show an error: list theirs up front.
        hidden = [
            (f.name, "; ".join(map(str, f.errors)))
            for f in form
            if f.errors and f.type == "HiddenField"
        ]
        failed = Failed(action, key, _("Check the fields marked below."), form, hidden)
        return _render(page, review, view, failed), 422
    session = db_session()
    try:
        result = drafting.act(
            session, runtime().config, page_user(), review.id, action, form.action_data(), now()
        )
    except DomainError as exc:
        session.rollback()  # nothing of the refused action is kept; read the review afresh
        review, view = _load(review_id)
        failed = Failed(action, key, page_message(exc), form, problems(page_errors(exc.errors)))
        return _render(page, review, view, failed), exc.status
    _flash_done(action, result["pending"], view["home"])
    return redirect(url_for(PAGES[page], review_id=review.id))


def _flash_done(action: str, pending: bool, home: str) -> None:
    if pending:
        flash(
            _(
                "%(action)s: sent to the chair's node (%(home)s). It shows here once confirmed.",
                action=ACTIONS[action],
                home=home,
            ),
            "success",
        )
    else:
        flash(_("Done: %(action)s.", action=ACTIONS[action]), "success")


# --- the chair's panel ---------------------------------------------------------------------------


def _chair_page(review: Review, view: dict[str, Any], failed: Failed | None) -> str:
    acts = set(view["available_actions"])
    panel = [
        {
            **a,
            "actions": [
                t.action for t in ASSIGNMENT.available(a["state"], {"chair"}) if t.action in acts
            ],
        }
        for a in view["assignments"]
    ]
    on_panel = {a["city"] for a in view["assignments"]}
    return render_template(
        "reviews/chair.html",
        **_common(view, failed),
        panel=panel,
        invitable=_active_cities(on_panel | {view["cur"], view["home"]}),
        round_actions=[(a, help_) for a, help_ in ROUND_ACTIONS.items() if a in acts],
        forms={"note": _fresh(NoteForm, view), "extend": _fresh(ExtendForm, view)},
    )


@bp.get("/reviews/<review_id>/chair")
@login_required
def chair(review_id: str) -> Any:
    review, view = _load(review_id)
    if "chair" not in view["your_roles"]:
        abort(403, _("Only the chair of this review (on its home node) uses this panel."))
    return _chair_page(review, view, None)


# --- the response ---------------------------------------------------------------------------------


def _respond_page(review: Review, view: dict[str, Any], failed: Failed | None) -> str:
    return render_template("reviews/respond.html", **_common(view, failed), form=CsrfForm())


def _entered(view: dict[str, Any], *names: str) -> dict[str, dict[str, Any]]:
    """What was typed in each row of a per-recommendation table (``<name>-<rec id>`` fields)."""
    return {
        rec["id"]: {
            **{n: request.form.get(f"{n}-{rec['id']}", "").strip() for n in names},
            "evidence": request.form.getlist(f"evidence-{rec['id']}"),
        }
        for rec in view["recommendations"]
    }


def _row_problems(errors: Any, key: str, order: list[str]) -> dict[str, list[str]]:
    """Messages about item ``i`` of ``errors[key]`` → the recommendation of row ``order[i]``."""
    items = errors.get(key) if isinstance(errors, dict) else None
    if not isinstance(items, dict):
        return {}
    rows: dict[str, list[str]] = {}
    for index, messages in items.items():
        if isinstance(index, int) and 0 <= index < len(order):
            rows[order[index]] = [m for _where, m in problems(messages)]
    return rows


def _table_action(
    review_id: str,
    action: str,
    page: str,
    build: Any,
    empty_message: str,
) -> Any:
    """A per-recommendation table (response, follow-up) → one action, or the table again with
    each row's problem beside it and everything typed kept."""
    review, view = _load(review_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    entered, order, data = build(view)
    if not order:
        failed = Failed(action, action, empty_message, entered=entered)
        return _render(page, review, view, failed), 422
    session = db_session()
    try:
        result = drafting.act(
            session, runtime().config, page_user(), review.id, action, data, now()
        )
    except DomainError as exc:
        session.rollback()
        review, view = _load(review_id)
        found = page_errors(exc.errors)
        rows = _row_problems(found, "positions" if action == "respond" else "entries", order)
        message = (
            _("Some rows need attention; see the messages below.") if rows else page_message(exc)
        )
        failed = Failed(
            action, action, message, problems=[] if rows else problems(found), rows=rows,
            entered=entered,
        )  # fmt: skip
        return _render(page, review, view, failed), exc.status
    _flash_done(action, result["pending"], view["home"])
    return redirect(url_for(PAGES[page], review_id=review.id))


def _positions(view: dict[str, Any]) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    entered = _entered(view, "position", "explanation")
    positions, order = [], []
    for rec_id, row in entered.items():
        if row["position"]:
            item = {"recommendation_id": rec_id, "position": row["position"]}
            if row["explanation"]:
                item["explanation"] = row["explanation"]
            positions.append(item)
            order.append(rec_id)
    return entered, order, {"positions": positions}


@bp.route("/reviews/<review_id>/respond", methods=["GET", "POST"])
@login_required
def respond(review_id: str) -> Any:
    review, view = _load(review_id)
    if not CUR_ROLES & set(view["your_roles"]):
        abort(403, _("Only the reviewed city answers its recommendations."))
    if request.method == "GET":
        return _respond_page(review, view, None)
    return _table_action(
        review_id,
        "respond",
        "respond",
        _positions,
        _("Choose supported or noted for every recommendation."),
    )


# --- the follow-up -------------------------------------------------------------------------------


def _follow_up_page(review: Review, view: dict[str, Any], failed: Failed | None) -> str:
    own = _own_summary_rows()[:10] if "report_follow_up" in view["available_actions"] else []
    return render_template(
        "reviews/follow_up.html", **_common(view, failed), form=CsrfForm(), own=own
    )


def _entries(view: dict[str, Any], action: str) -> tuple[dict[str, Any], list[str], dict]:
    entered = _entered(view, "status", "note")
    entries, order, evidence = [], [], []
    for rec_id, row in entered.items():
        if row["note"]:
            item = {"recommendation_id": rec_id, "status": row["status"], "note": row["note"]}
            if action == "report_follow_up":
                item["evidence"] = row["evidence"]
                evidence += row["evidence"]
            entries.append(item)
            order.append(rec_id)
    data: dict[str, Any] = {"entries": entries}
    if action == "report_follow_up":
        data["summary_hashes"] = list(dict.fromkeys(evidence))
    return entered, order, data


@bp.route("/reviews/<review_id>/follow-up", methods=["GET", "POST"])
@login_required
def follow_up(review_id: str) -> Any:
    review, view = _load(review_id)
    if request.method == "GET":
        return _follow_up_page(review, view, None)
    action = request.form.get("action", "")
    if action not in ("report_follow_up", "assess"):
        abort(400, _("Say whether this is the city's report or a peer's assessment."))
    return _table_action(
        review_id,
        action,
        "follow_up",
        lambda v: _entries(v, action),
        _("Write a note for at least one recommendation."),
    )


_RENDERERS = {
    "workspace": _workspace_page,
    "chair": _chair_page,
    "respond": _respond_page,
    "follow_up": _follow_up_page,
}


# --- the public outcomes -------------------------------------------------------------------------


@bp.get("/recommendations")
def public_recommendations() -> Any:
    """Adopted recommendations of public reviews, with positions and follow-up (no sign-in)."""
    session = db_session()
    every = queries.public_recommendations(session)
    fields = RecommendationQuerySchema().fields
    wanted = {k: v for k, v in request.args.items() if v and k in fields}
    status, found = 200, []
    try:
        query = RecommendationQuerySchema().load(wanted)
    except ValidationError as exc:
        query, status, found = {}, 422, problems(exc.messages)
    rows = [] if found else queries.public_recommendations(session, **query)
    items = [
        {**presentation.recommendation_view(session, rec), "review_title": review.title,
         "city": review.cur_city}
        for review, rec in rows
    ]  # fmt: skip
    return render_template(
        "reviews/recommendations.html",
        items=items,
        query=wanted,
        problems=found,
        themes=sorted({t for _r, rec in every for t in rec.content.get("themes", [])}),
        indicators=sorted({i for _r, rec in every for i in rec.content.get("indicators", [])}),
        labels=LABELS,
    ), status
