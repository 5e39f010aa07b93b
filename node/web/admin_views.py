"""Administrators' pages: users and roles, API tokens, password-reset links; and the page where
a user sets a new password through such a link.

A secret (a new token, a reset link) is shown once, in the answer to the POST that made it:
never flashed (the flash lives in the session cookie) and never stored in clear.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from node.auth import page_user
from node.errors import DomainError, InvalidInputError
from node.permissions import allowed
from node.refusals import page_errors, page_message
from node.runtime import db_session, now, runtime
from node.services import users

bp = Blueprint("admin_web", __name__)


class NewUserForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(3, 320)])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    password = PasswordField(
        _l("First password"),
        validators=[DataRequired(), Length(1, 1000)],
        description=_l("Tell it to the person in private; they can change it after signing in."),
    )


class RoleForm(FlaskForm):
    # Not "user_id" / "role": the new-user form on the same page has a "role" field (one id each).
    member = SelectField(_l("User"), coerce=int, validators=[DataRequired()])
    new_role = SelectField(_l("New role"), validators=[DataRequired()])


class ActionForm(FlaskForm):
    """Only the CSRF token (deactivate, reactivate, reset link, revoke buttons)."""


class NewTokenForm(FlaskForm):
    user_id = SelectField(_l("For user"), coerce=int, validators=[DataRequired()])


class ResetForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(1, 1000)])
    repeat_password = PasswordField(
        _l("New password again"), validators=[DataRequired(), Length(1, 1000)]
    )


def _require_admin() -> Any:
    # Checked on the server for every route: a hidden link is not a permission.
    user = page_user()
    if not allowed(user, "users.manage"):
        abort(403)
    return user


def _role_choices() -> list[tuple[str, str]]:
    return [(r, _(r)) for r in users.roles_for(runtime().config.role)]


def _city_words() -> list[str]:
    config = runtime().config
    return [config.city_id, config.name]


def _users_page(
    form: NewUserForm, *, status: int = 200, reset_link: str | None = None, reset_for: Any = None
) -> Any:
    session = db_session()
    everyone = users.list_users(session)
    role_form = _role_form(everyone)
    return render_template(
        "admin_users.html",
        form=form,
        role_form=role_form,
        action=ActionForm(),
        users=everyone,
        reset_link=reset_link,
        reset_for=reset_for,
    ), status


def _role_form(everyone: list[Any]) -> RoleForm:
    form = RoleForm()
    form.member.choices = [(u.id, u.email) for u in everyone]
    form.new_role.choices = _role_choices()
    return form


def _new_user_form() -> NewUserForm:
    form = NewUserForm()
    form.role.choices = _role_choices()
    return form


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required
def users_page() -> Any:
    """Every user with their role and state; a form to add one."""
    _require_admin()
    form = _new_user_form()
    status = 200
    if form.validate_on_submit():
        try:
            users.create_user(
                db_session(),
                email=form.email.data or "",
                password=form.password.data or "",
                role=form.role.data or "",
                now=now(),
                node_role=runtime().config.role,
                city_words=_city_words(),
            )
        except DomainError as exc:
            status = exc.status
            errors = page_errors(exc.errors) if isinstance(exc.errors, dict) else {}
            for name, messages in errors.items():
                if name in form._fields:
                    form._fields[name].errors = [str(m) for m in messages]
            if not errors:
                form.email.errors = [page_message(exc)]
        else:
            flash(
                _("User %(email)s created.", email=(form.email.data or "").strip().lower()),
                "success",
            )
            return redirect(url_for("admin_web.users_page"))
    elif request.method == "POST":
        status = 400
    return _users_page(form, status=status)


@bp.post("/admin/users/role")
@login_required
def change_role() -> Any:
    """Give a user another role (never taking it from the last administrator)."""
    actor = _require_admin()
    form = _role_form(users.list_users(db_session()))
    if not form.validate_on_submit():
        abort(400)
    try:
        changed = users.set_role(
            db_session(),
            form.member.data or 0,
            form.new_role.data or "",
            actor=actor,
            node_role=runtime().config.role,
        )
    except DomainError as exc:
        flash(page_message(exc), "error")
        return _users_page(_new_user_form(), status=exc.status)
    flash(_("%(email)s is now %(role)s.", email=changed.email, role=_(changed.role)), "success")
    return redirect(url_for("admin_web.users_page"))


@bp.post("/admin/users/<rowid:user_id>/<state>")
@login_required
def change_state(user_id: int, state: str) -> Any:
    """Deactivate or reactivate a user (never the last administrator)."""
    if state not in ("deactivate", "reactivate"):
        abort(404)
    actor = _require_admin()
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        changed = users.set_active(db_session(), user_id, state == "reactivate", actor=actor)
    except DomainError as exc:
        flash(page_message(exc), "error")
        return _users_page(_new_user_form(), status=exc.status)
    flash(
        _("%(email)s can sign in again.", email=changed.email)
        if changed.active
        else _(
            "%(email)s is deactivated: signed out, and their tokens stop working.",
            email=changed.email,
        ),
        "success",
    )
    return redirect(url_for("admin_web.users_page"))


@bp.post("/admin/users/<rowid:user_id>/reset-link")
@login_required
def issue_reset(user_id: int) -> Any:
    """Issue a one-time password-reset link; shown once on the answer page."""
    actor = _require_admin()
    if not ActionForm().validate_on_submit():
        abort(400)
    session = db_session()
    try:
        secret = users.issue_password_reset(session, user_id, actor=actor, now=now())
    except DomainError as exc:
        flash(page_message(exc), "error")
        return _users_page(_new_user_form(), status=exc.status)
    link = runtime().config.base_url + url_for("admin_web.reset_password", secret=secret)
    return _users_page(
        _new_user_form(), reset_link=link, reset_for=users.get_user(session, user_id)
    )


@bp.route("/admin/tokens", methods=["GET", "POST"])
@login_required
def tokens_page() -> Any:
    """API tokens by prefix and user; create one (shown once) or revoke one."""
    _require_admin()
    session = db_session()
    form = NewTokenForm()
    everyone = users.list_users(session)
    form.user_id.choices = [(u.id, f"{u.email} ({_(u.role)})") for u in everyone if u.active]
    new_token = None
    status = 200
    if form.validate_on_submit():
        owner = users.get_user(session, form.user_id.data or 0)
        new_token = users.create_token(session, owner, now=now())
        status = 201
    elif request.method == "POST":
        status = 400
    return render_template(
        "admin_tokens.html",
        form=form,
        action=ActionForm(),
        tokens=users.list_tokens(session),
        new_token=new_token,
    ), status


@bp.post("/admin/tokens/<rowid:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    actor = _require_admin()
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        row = users.revoke_token(db_session(), token_id, actor=actor)
    except DomainError as exc:
        flash(page_message(exc), "error")
        return redirect(url_for("admin_web.tokens_page")), exc.status
    flash(_("Token %(prefix)s… revoked.", prefix=row.prefix), "success")
    return redirect(url_for("admin_web.tokens_page"))


def _no_referrer(response: Any) -> Any:
    # The link's secret is in this page's address: it must not leak to another site through
    # the Referer header, nor stay in a shared cache.
    body, status = response
    return body, status, {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.route("/reset/<secret>", methods=["GET", "POST"])
def reset_password(secret: str) -> Any:
    """Set a new password through a one-time link (no sign-in needed: the link is the proof)."""
    session = db_session()
    try:
        reset = users.reset_for_link(session, secret, now=now())
    except DomainError as exc:
        return _no_referrer(
            (
                render_template("reset_password.html", form=None, invalid=page_message(exc)),
                exc.status,
            )
        )
    form = ResetForm()
    status = 200
    if form.validate_on_submit():
        if form.new_password.data != form.repeat_password.data:
            form.repeat_password.errors = [_("The two new passwords differ.")]
            status = 422
        else:
            try:
                users.reset_password(
                    session,
                    secret,
                    form.new_password.data or "",
                    now=now(),
                    city_words=_city_words(),
                )
            except InvalidInputError as exc:
                form.new_password.errors = list(
                    page_errors(exc.errors or {}).get("password", [page_message(exc)])
                )
                status = 422
            else:
                logout_user()  # whoever was signed in in this browser: they sign in afresh
                flash(_("Your new password is set. Sign in with it."), "success")
                return redirect(url_for("web.login"))
    elif request.method == "POST":
        status = 400
    email = users.get_user(session, reset.user_id).email
    return _no_referrer(
        (render_template("reset_password.html", form=form, invalid=None, email=email), status)
    )
