"""Pages of the secretariat's staff: members and applications, the directory, catalogue releases
(the diff of a draft against the last published release, then publishing), benchmarks by region
and indicator, and the network's overdue report.

Only on a secretariat node (404 elsewhere: a city has no members to manage), and each page
checks its permission on the server (403), whatever the menu shows. Every change goes through
the same services as the API (``membership``, ``releases``); a refusal is shown on the page
with its status, and the request's unit of work rolls back (status >= 400): nothing is written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from node.auth import page_user
from node.errors import ConflictError, DomainError, InvalidInputError
from node.input_guard import parse_json_text
from node.network.port import OutEnvelope, Peer, peer_to_wire
from node.permissions import allowed
from node.refusals import page_message
from node.runtime import db_session, now, runtime
from node.secretariat import benchmarks, membership, overdue, releases
from node.services import catalogue
from schemas.secretariat import DIRECTORY_TYPE

bp = Blueprint("secretariat_web", __name__, template_folder="templates")

# The largest draft catalogue a page accepts (the shared core catalogue is ~60 kB).
MAX_DRAFT_BYTES = 2_000_000


class AdmitForm(FlaskForm):
    """Admit an application, optionally setting the region it is benchmarked in."""

    region = StringField(
        _l("Region (for the benchmarks; empty keeps the one it gave)"),
        validators=[Optional(), Length(1, 100)],
    )


class ReasonForm(FlaskForm):
    """Decline an application or suspend a member: the reason is required and kept."""

    reason = TextAreaField(
        _l("Reason (kept in the secretariat's records)"),
        # Stripped first: three spaces around "no" are not a reason.
        filters=[lambda text: text.strip() if isinstance(text, str) else text],
        validators=[DataRequired(), Length(3, 500)],
    )


class EmptyForm(FlaskForm):
    """Only the CSRF token (reinstate)."""


class DraftForm(FlaskForm):
    """A draft core catalogue to compare with the last published release."""

    file = FileField(_l("Draft catalogue file (JSON)"))
    text = TextAreaField(_l("Or paste the draft catalogue (JSON)"), validators=[Optional()])


class PublishForm(FlaskForm):
    """Publish the draft that was compared, against the release it was compared with."""

    document = HiddenField(validators=[DataRequired()])
    base_version = HiddenField()
    notes = TextAreaField(
        _l("Release notes for the member cities"), validators=[Optional(), Length(max=2000)]
    )


def _staff(permission: str) -> None:
    """Secretariat node only (404 elsewhere), and the permission (403 without it)."""
    if runtime().config.role != "secretariat":
        abort(404)
    if not allowed(page_user(), permission):
        abort(403)


def _member_forms(peers: list[Peer]) -> dict[str, dict[str, FlaskForm]]:
    """One form per button and member, each with its own prefix so that field ids (and the
    errors tied to them) never collide between rows."""
    forms: dict[str, dict[str, FlaskForm]] = {}
    for peer in peers:
        key = peer.city_id
        if peer.state == "pending":
            forms[key] = {
                "admit": AdmitForm(prefix=f"admit-{key}", formdata=None),
                "decline": ReasonForm(prefix=f"decline-{key}", formdata=None),
            }
        elif peer.state == "active":
            forms[key] = {"suspend": ReasonForm(prefix=f"suspend-{key}", formdata=None)}
        elif peer.state == "suspended":
            forms[key] = {"reinstate": EmptyForm(prefix=f"reinstate-{key}", formdata=None)}
    return forms


def _members_page(forms: dict[str, dict[str, FlaskForm]] | None = None, status: int = 200) -> Any:
    session = db_session()
    peers = membership.members(session)
    shown = _member_forms(peers)
    for city_id, posted in (forms or {}).items():
        shown.setdefault(city_id, {}).update(posted)
    applications = [p for p in peers if p.state == "pending"]
    current = [p for p in peers if p.state in ("active", "suspended")]
    past = [p for p in peers if p.state not in ("pending", "active", "suspended")]
    return render_template(
        "secretariat/members.html",
        applications=[(peer_to_wire(p), p.note) for p in applications],
        members=[(peer_to_wire(p), p.note) for p in current],
        past=[(peer_to_wire(p), p.note) for p in past],
        forms=shown,
    ), status


@bp.get("/secretariat/members")
@login_required
def members_page() -> Any:
    """Applications waiting for an answer, the members, and former applicants and members."""
    _staff("members.manage")
    return _members_page()


ACTION_FORMS: dict[str, type[FlaskForm]] = {
    "admit": AdmitForm,
    "decline": ReasonForm,
    "suspend": ReasonForm,
}
ACTION_DONE = {
    "admit": _l("%(city)s is a member now; the new directory is on its way to every member."),
    "decline": _l("The application of %(city)s is declined."),
    "suspend": _l("%(city)s is suspended: its documents are refused until it is reinstated."),
    "reinstate": _l("%(city)s is reinstated."),
}


@bp.post("/secretariat/members/<city_id>/<action>")
@login_required
def member_action(city_id: str, action: str) -> Any:
    """Admit (with a region), decline (with a reason), suspend (with a reason) or reinstate."""
    if action not in ACTION_DONE:
        abort(404)
    _staff("members.manage")
    form = ACTION_FORMS.get(action, EmptyForm)(prefix=f"{action}-{city_id}")
    if not form.validate_on_submit():
        if form.errors.keys() <= {"csrf_token"}:
            abort(400)
        flash(_("Nothing was changed: correct the marked field."), "error")
        return _members_page({city_id: {action: form}}, 422)
    data = form.data
    try:
        membership.change_membership(
            db_session(),
            runtime().config,
            city_id,
            action,
            user=page_user(),
            now=now(),
            region=(data.get("region") or "").strip() or None,
            reason=(data.get("reason") or "").strip() or None,
        )
    except DomainError as exc:
        flash(page_message(exc), "error")
        return _members_page(status=exc.status)
    flash(str(ACTION_DONE[action]) % {"city": city_id}, "success")
    return redirect(url_for("secretariat_web.members_page"))


def notarised_at(session: Any) -> dict[tuple[str, str], int]:
    """When each (member, key id) was first listed in a directory this node signed (ms).

    Read from the signed directories themselves (the outbox keeps every one, exact bytes), so
    the page shows when the secretariat vouched for a key, not when it first heard of it.
    """
    first: dict[tuple[str, str], int] = {}
    rows = session.scalars(
        # Oldest first: the first listing wins.
        select(OutEnvelope).where(OutEnvelope.type == DIRECTORY_TYPE).order_by(OutEnvelope.seq)
    )
    for row in rows:
        try:
            members = json.loads(row.raw)["payload"]["members"]
        except (ValueError, KeyError, TypeError):
            continue  # our own signed bytes; unreadable would be a bug, never a 500 here
        for member in members:
            for key in member.get("keys", []):
                first.setdefault((member.get("city_id"), key.get("key_id")), row.created_ts)
    return first


@bp.get("/secretariat/directory")
@login_required
def directory_page() -> Any:
    """The members as the signed directory lists them, their keys and when each was notarised."""
    _staff("members.manage")
    session = db_session()
    payload = membership.directory_payload(session, now())
    peers = {p.city_id: peer_to_wire(p) for p in membership.members(session)}
    first = notarised_at(session)
    entries = []
    for member in payload["members"]:
        fingerprints = {k["key_id"]: k for k in peers[member["city_id"]]["keys"]}
        entries.append(
            {
                **member,
                "keys": [
                    {
                        **key,
                        "fingerprint": fingerprints[key["key_id"]]["fingerprint"],
                        "notarised_at": _moment(first.get((member["city_id"], key["key_id"]))),
                    }
                    for key in member["keys"]
                ],
            }
        )
    return render_template("secretariat/directory.html", entries=entries)


def _moment(ts: int | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts / 1000, tz=UTC)


def _shown(value: Any) -> str:
    """A catalogue field's value as the diff shows it: text as it is, anything else (lists,
    objects) as compact JSON with sorted keys, absent as a dash."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _releases_page(
    draft: DraftForm | None = None,
    comparison: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    session = db_session()
    listed = sorted(
        releases.list_releases(session),
        key=lambda r: catalogue.version_key(r.version),
        reverse=True,
    )
    return render_template(
        "secretariat/releases.html",
        releases=[
            {
                "version": r.version,
                "published_at": r.published_at,
                "indicators": len(r.document.get("indicators", [])),
            }
            for r in listed
        ],
        draft=draft or DraftForm(formdata=None),
        comparison=comparison,
    ), status


@bp.get("/secretariat/releases")
@login_required
def releases_page() -> Any:
    """Published releases, newest first, and the form to compare a draft."""
    _staff("catalogue.publish")
    return _releases_page()


def _read_draft(form: DraftForm) -> Any:
    """The draft document from the uploaded file or the pasted text (hostile until parsed:
    bounded size, the same JSON guard as every request: nesting, invalid text)."""
    upload = form.file.data
    if upload is not None and upload.filename:
        raw = upload.read(MAX_DRAFT_BYTES + 1)
    else:
        raw = (form.text.data or "").encode("utf-8")
    if not raw.strip():
        raise InvalidInputError(
            _("Choose a catalogue file or paste one."), errors={"text": [_("This is empty.")]}
        )
    if len(raw) > MAX_DRAFT_BYTES:
        raise InvalidInputError(
            _("The draft is larger than %(n)s bytes.", n=MAX_DRAFT_BYTES),
            errors={"text": [_("Too large.")]},
        )
    try:
        return parse_json_text(raw)
    except ValueError as exc:
        raise InvalidInputError(
            _("The draft is not JSON: %(error)s", error=str(exc)[:200]),
            errors={"text": [_("Not JSON.")]},
        ) from exc


def _comparison(session: Any, document: Any) -> dict[str, Any]:
    """The draft's shape checked, then its diff against the last published release."""
    if not isinstance(document, dict):
        raise InvalidInputError(_("A catalogue is a JSON object."), errors={"text": ["object"]})
    releases.check_document(document)
    version, base, is_release = releases.diff_base(session)
    return {
        "version": document.get("version"),
        "base_version": version,
        "base_is_release": is_release,
        "diff": _readable(releases.field_diff(base, document, draft_fields_only=not is_release)),
        "publish": PublishForm(
            formdata=None,
            document=json.dumps(document, ensure_ascii=False, sort_keys=True),
            base_version=(version or "") if is_release else "",
        ),
    }


def _readable(diff: dict[str, Any]) -> dict[str, Any]:
    for change in diff["changed"]:
        for field in change["fields"]:
            field["old_text"], field["new_text"] = _shown(field["old"]), _shown(field["new"])
    return diff


@bp.post("/secretariat/releases/preview")
@login_required
def preview_release() -> Any:
    """Compare a draft with the last published release (nothing is written)."""
    _staff("catalogue.publish")
    form = DraftForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        comparison = _comparison(db_session(), _read_draft(form))
    except DomainError as exc:
        _field_errors(form, exc)
        flash(page_message(exc), "error")
        return _releases_page(form, status=exc.status)
    return _releases_page(form, comparison)


def _field_errors(form: DraftForm, exc: DomainError) -> None:
    """Tie a refusal of the draft to the paste field (the macro marks it aria-invalid)."""
    form.text.errors = [page_message(exc)]


@bp.post("/secretariat/releases/publish")
@login_required
def publish_release() -> Any:
    """Publish exactly the draft that was compared, if nothing was published since."""
    _staff("catalogue.publish")
    session = db_session()
    form = PublishForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        document = parse_json_text(form.document.data or "")
        comparison = _comparison(session, document)
        # The diff the person read was computed against base_version: if someone published
        # another release since, what they approved is not what would happen. Refuse, and
        # show the diff again against the new base.
        if (comparison["publish"].base_version.data or "") != (form.base_version.data or ""):
            raise ConflictError(
                _(
                    "Release %(version)s was published since you compared: compare again.",
                    version=comparison["base_version"],
                ),
                code="release_base_changed",
                params={"version": comparison["base_version"]},
            )
        release = releases.publish_release(
            session,
            runtime().config,
            document,
            notes=(form.notes.data or "").strip() or None,
            user=page_user(),
            now=now(),
        )
    except ValueError as exc:
        flash(_("The draft is not JSON: %(error)s", error=str(exc)[:200]), "error")
        return _releases_page(status=422)
    except DomainError as exc:
        flash(page_message(exc), "error")
        return _releases_page(status=exc.status)
    flash(
        _(
            "Release %(version)s is signed and on its way to every member.",
            version=release.version,
        ),
        "success",
    )
    return redirect(url_for("secretariat_web.releases_page"))


@bp.get("/secretariat/benchmarks")
@login_required
def benchmarks_page() -> Any:
    """Every published benchmark group, filtered by indicator, region and period."""
    _staff("benchmarks.manage")
    session = db_session()
    indicator = request.args.get("indicator") or None
    region = request.args.get("region") or None
    period = request.args.get("period") or None
    groups = benchmarks.published_groups(session, indicator, period)
    every = benchmarks.published_groups(session) if (indicator or period) else groups
    rows = [g for g in groups if region is None or g["scope"] == region]
    return render_template(
        "secretariat/network_benchmarks.html",
        rows=rows,
        indicators=sorted({g["indicator"] for g in every}),
        regions=sorted({g["scope"] for g in every}, key=lambda s: (s != "network", s)),
        periods=sorted({g["period"] for g in every}),
        chosen={"indicator": indicator, "region": region, "period": period},
    )


@bp.get("/secretariat/overdue")
@login_required
def overdue_page() -> Any:
    """What is late across the network: overdue deadlines, missing submissions."""
    _staff("members.manage")
    return render_template(
        "secretariat/overdue.html", report=overdue.overdue_report(db_session(), now())
    )
