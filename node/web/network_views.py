"""Pages for twinning and the network: partners, fingerprints, received summaries, comparison,
and the delivery status for administrators."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import URL, DataRequired, Length, Optional

from node.auth import page_user
from node.errors import DomainError, InvalidInputError
from node.network import compare, inbox, peers, summaries, trust
from node.network.summaries import SAMPLE_SOURCE
from node.permissions import allowed
from node.refusals import page_message
from node.runtime import db_session, now, runtime
from node.services import catalogue, cso_carriage
from node.services.network_status import network_status

bp = Blueprint("network_web", __name__)


class TwinRequestForm(FlaskForm):
    url = StringField(
        "Partner node address", validators=[DataRequired(), Length(8, 500), URL(require_tld=False)]
    )
    themes = StringField(
        "Shared themes (comma-separated rights; empty = every theme)",
        validators=[Optional(), Length(max=3000)],
    )


class ActionForm(FlaskForm):
    """An empty form: only the CSRF token (accept / decline / end / publish buttons)."""


class PinForm(FlaskForm):
    """Pin an active twin as the secretariat: its fingerprint typed, and a confirmation."""

    city_id = SelectField("Twin to trust as the secretariat", validators=[DataRequired()])
    fingerprint = StringField(
        "Its key fingerprint, as read to you by the secretariat (out of band)",
        validators=[DataRequired(), Length(32, 200)],
    )
    confirm = BooleanField(
        "I compared the fingerprint with the secretariat by phone or in person",
        validators=[DataRequired()],
    )


class UnpinForm(FlaskForm):
    unpin_city_id = StringField("Pinned secretariat", validators=[DataRequired(), Length(2, 63)])
    unpin_confirm = BooleanField(
        "Stop trusting this secretariat's directories, releases and benchmarks",
        validators=[DataRequired()],
    )


class PublishForm(FlaskForm):
    period = StringField("Period", validators=[DataRequired(), Length(4, 7)])


def _require(permission: str) -> None:
    if not allowed(page_user(), permission):
        abort(403)


@bp.route("/peers", methods=["GET", "POST"])
@login_required
def peers_page() -> Any:
    _require("results.read_unpublished")
    session = db_session()
    form = TwinRequestForm()
    status = 200
    if form.validate_on_submit():
        _require("network.manage")
        themes = [t.strip() for t in (form.themes.data or "").split(",") if t.strip()] or None
        try:
            # Queued, never fetched here: the page answers at once whatever the address does.
            discovery = peers.queue_twinning_request(
                session, runtime().config, form.url.data or "", themes, user=page_user(), now=now()
            )
        except DomainError as exc:
            flash(page_message(exc), "error")
            status = exc.status
        else:
            flash(
                _(
                    "Twinning request for %(url)s queued: it will be checked within a minute. "
                    "Once the node is found, its key fingerprint shows below: compare it with "
                    "them by phone or e-mail before sharing anything.",
                    url=discovery.url,
                ),
                "success",
            )
            return redirect(url_for("network_web.peers_page"))
    elif request.method == "POST":
        status = 400
    return render_template(
        "peers.html",
        form=form,
        action=ActionForm(),
        peers=[peers.peer_to_wire(p, session) for p in peers.list_peers(session)],
        discoveries=[peers.discovery_to_wire(session, d) for d in peers.list_discoveries(session)],
        publish=PublishForm(),
        own=summaries.own_summaries(session)[-10:],
        themes=sorted(peers.known_themes(session)),
        pending_changes={c.city_id for c in trust.key_changes(session, pending_only=True)},
    ), status


@bp.post("/peers/<city_id>/<decision>")
@login_required
def answer(city_id: str, decision: str) -> Any:
    if decision not in ("accept", "decline", "end"):
        abort(404)
    _require("network.manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        peers.answer(db_session(), runtime().config, city_id, decision, user=page_user(), now=now())
    except DomainError as exc:
        flash(page_message(exc), "error")
    else:
        flash(_("Done: %(decision)s %(city)s.", decision=decision, city=city_id), "success")
    return redirect(url_for("network_web.peers_page"))


@bp.post("/summaries/publish")
@login_required
def publish() -> Any:
    _require("summaries.publish")
    form = PublishForm()
    if form.validate_on_submit():
        try:
            published = summaries.publish_summary(
                db_session(),
                runtime().config,
                (form.period.data or "").strip(),
                user=page_user(),
                now=now(),
            )
        except DomainError as exc:
            flash(page_message(exc), "error")
        else:
            flash(
                _(
                    "Summary for %(period)s signed (revision %(rev)d) and queued for %(n)d twins.",
                    period=published[0].period,
                    rev=published[0].revision,
                    n=sum(len(e.audience) for e in published),
                ),
                "success",
            )
    else:
        flash(_("Give a period such as 2025."), "error")
    return redirect(url_for("network_web.peers_page"))


@bp.get("/summaries/preview")
@login_required
def publish_preview() -> Any:
    """Exactly what publishing a period would share, with whom: built by the same function as
    the signed summary (``summaries.plan_publication``), without signing or storing anything."""
    _require("summaries.publish")
    session = db_session()
    period = (request.args.get("period") or "").strip()
    planned: list[summaries.PlannedSummary] = []
    problem = None
    if period:
        try:
            planned = summaries.plan_publication(session, runtime().config, period)
        except DomainError as exc:
            problem = page_message(exc)
        else:
            period = planned[0].payload["period"]
    names = {p.city_id: p.name for p in peers.active_twins(session)}
    form = PublishForm(formdata=None, period=period)
    return render_template(
        "publish_preview.html",
        period=period,
        planned=planned,
        problem=problem,
        names=names,
        publish=form,
        threshold=runtime().config.small_cell_threshold,
        dimensions={d.code: d for d in catalogue.list_dimensions(session)},
    ), (422 if problem else 200)


@bp.get("/peers/<city_id>")
@login_required
def peer_page(city_id: str) -> Any:
    _require("results.read_unpublished")
    session = db_session()
    peer = peers.get_peer(session, city_id)
    received = []
    for s in summaries.received(session, city_id):
        payload = json.loads(s.envelope.raw)["payload"]  # verified and stored by the inbox
        received.append(
            {
                "period": s.period,
                "revision": s.revision,
                "current": s.current,
                "sha256": s.envelope.sha256,
                "received_at": s.received_at,
                "via": s.envelope.via,
                "verified": inbox.still_verifies(session, s.envelope.raw),
                "suppressed": payload.get("suppressed_cells", 0),
                # The twin signed that these figures are generated sample data: say so.
                "sample": payload.get("source") == SAMPLE_SOURCE,
            }
        )
    period = request.args.get("period") or None
    try:
        rows = compare.comparison(session, city_id, period)
    except ValueError:
        rows = []
        flash(_("That is not a period."), "error")
    return render_template(
        "peer.html",
        peer=peers.peer_to_wire(peer, session),
        received=received,
        twin_sample=any(s["sample"] for s in received),
        rows=rows,
        period=period,
        # The twin's CSOs' statements, in their own table beside (never inside) the comparison.
        cso_rows=[
            row
            for row in cso_carriage.figures_of_city(
                session, runtime().config.city_id, city_id, base_url=peer.base_url
            )
            if period is None or row.period == period
        ],
        cso_withdrawn=cso_carriage.withdrawn_count(session, city_id),
        key_changes=[trust.key_change_to_wire(c) for c in trust.key_changes(session, city_id)],
        action=ActionForm(),
    )


@bp.post("/peers/<city_id>/key-changes/<rowid:change_id>/<decision>")
@login_required
def decide_key_change(city_id: str, change_id: int, decision: str) -> Any:
    """Confirm or reject a key change the secretariat's directory announced for a twin."""
    if decision not in ("confirm", "reject"):
        abort(404)
    _require("network.manage")
    if not ActionForm().validate_on_submit():
        abort(400)
    decide = trust.confirm_key_change if decision == "confirm" else trust.reject_key_change
    try:
        decide(db_session(), city_id, change_id, user=page_user(), now=now())
    except DomainError as exc:
        flash(page_message(exc), "error")
    else:
        flash(
            _("Key change confirmed: the new key of %(city)s is trusted now.", city=city_id)
            if decision == "confirm"
            else _("Key change rejected: the keys of %(city)s stay as they were.", city=city_id),
            "success",
        )
    return redirect(url_for("network_web.peer_page", city_id=city_id))


@bp.route("/network/secretariat", methods=["GET", "POST"])
@login_required
def secretariat_page() -> Any:
    """The secretariat this node trusts: shown with its fingerprint, pinned or unpinned by an
    administrator only (no network call: the key must already be known)."""
    _require("trust.manage")
    session = db_session()
    form, unpin_form = PinForm(), UnpinForm()
    twins = peers.active_twins(session)
    form.city_id.choices = [(p.city_id, f"{p.name} ({p.city_id})") for p in twins]
    status = 200
    if request.method == "POST":
        try:
            if "unpin_city_id" in request.form:
                if not unpin_form.validate_on_submit():
                    raise _form_error(_("Tick the confirmation to unpin."))
                trust.unpin(
                    session, unpin_form.unpin_city_id.data or "", user=page_user(), now=now()
                )
                flash(_("The secretariat is no longer trusted."), "success")
            else:
                if not form.validate_on_submit():
                    raise _form_error(_("Choose a twin, type its fingerprint and confirm."))
                trust.pin(
                    session,
                    runtime().config,
                    form.city_id.data or "",
                    form.fingerprint.data or "",
                    user=page_user(),
                    now=now(),
                )
                flash(
                    _("%(city)s is now this node's secretariat.", city=form.city_id.data),
                    "success",
                )
        except DomainError as exc:
            flash(page_message(exc), "error")
            status = exc.status
        else:
            return redirect(url_for("network_web.secretariat_page"))
    return render_template(
        "secretariat_trust.html",
        anchor=trust.describe(session),
        form=form,
        unpin_form=unpin_form,
        twins=[peers.peer_to_wire(p, session) for p in twins],
    ), status


def _form_error(detail: str) -> DomainError:
    return InvalidInputError(detail, code="invalid_form")


@bp.get("/network/status")
@login_required
def status_page() -> Any:
    """Delivery to each twin and the refused deliveries: the figures of
    ``GET /api/v1/federation/status``, from the same service."""
    _require("network.status")
    # The page lists the 200 most recent dead letters (newest first); the counts cover all.
    status = network_status(db_session(), dead_letter_limit=200)
    return render_template(
        "network_status.html", peers=status.peers, dead=list(reversed(status.dead_letters))
    )
