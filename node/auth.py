"""Who is calling: a bearer token on the API, the login session on pages."""

from __future__ import annotations

from flask import g, request
from flask_login import current_user

from node.errors import AuthenticationRequiredError
from node.models import User
from node.runtime import db_session, now
from node.services import users


def api_user() -> User | None:
    """The user behind ``Authorization: Bearer``; None when the request carries no token.

    The API deliberately ignores the login cookie: a cookie is sent by the browser on its own,
    so accepting it on JSON writes would need CSRF protection the API does not have.
    """
    if "api_user" in g:
        cached: User | None = g.api_user
        return cached
    header = request.headers.get("Authorization")
    user = None
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequiredError(
                "Use 'Authorization: Bearer <token>'.", code="invalid_authorization"
            )
        user = users.user_for_token(db_session(), token.strip(), now=now())
        if user is None:
            # A wrong token is an error even on public reads: silently treating the caller as
            # anonymous would hide a misconfigured client.
            raise AuthenticationRequiredError(
                "The token is unknown or revoked.", code="invalid_token"
            )
    g.api_user = user
    return user


def page_user() -> User | None:
    return current_user if current_user.is_authenticated else None
