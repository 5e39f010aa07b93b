"""Fixtures for community reports: a node with districts, gateway secrets and a low rate limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from node.app import create_app
from node.db import session_scope
from node.services import catalogue
from tests.support import Caller, Clock

TWILIO_TOKEN = "twilio-test-token-abc"
AT_SECRET = "at-shared-secret-xyz"
GENERIC_SECRET = "generic-secret-123abc"
RATE_LIMIT = 4
DISTRICTS = [("D01", "Binnenstad"), ("D02", "Ledeberg"), ("D03", "Brugse Poort")]
SETTINGS: dict[str, Any] = {
    "community_twilio_auth_token": TWILIO_TOKEN,
    "community_africastalking_secret": AT_SECRET,
    "community_generic_secret": GENERIC_SECRET,
    "community_rate_limit": RATE_LIMIT,
}


def add_districts(sessions: Any) -> None:
    """The city's districts: local codes of the core DISTRICT dimension."""
    with session_scope(sessions) as session:
        catalogue.add_dimension_codes(
            session, "DISTRICT", [{"code": c, "label": label} for c, label in DISTRICTS]
        )


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Configuration overrides of the community node, with a test's own changes (indirect
    parametrisation: ``@pytest.mark.parametrize("settings", [{...}], indirect=True)``)."""
    return {**SETTINGS, **getattr(request, "param", {})}


@pytest.fixture
def capp(node: Any, clock: Clock, settings: dict[str, Any]) -> Iterator[Flask]:
    overrides: dict[str, Any] = {"clock": clock, **settings}
    if node.database_url:
        overrides["database_url"] = node.database_url
    application = create_app(node.data_dir, overrides)
    application.config.update(TESTING=True)
    add_districts(application.extensions["hrcnet"].sessions)
    yield application
    application.extensions["hrcnet"].engine.dispose()


@pytest.fixture
def cclient(capp: Flask) -> FlaskClient:
    return capp.test_client()


@pytest.fixture
def cdb(capp: Flask) -> Callable[[], Any]:
    return lambda: session_scope(capp.extensions["hrcnet"].sessions)


@pytest.fixture
def make_user(capp: Flask, clock: Clock) -> Callable[..., Caller]:
    from node.services import users

    counter = iter(range(1_000_000))

    def make(role: str = "official") -> Caller:
        email = f"{role}{next(counter)}@example.org"
        password = "correct horse battery"
        with session_scope(capp.extensions["hrcnet"].sessions) as session:
            user = users.create_user(
                session, email=email, password=password, role=role, now=clock(), node_role="city"
            )
            token = users.create_token(session, user, now=clock())
        return Caller(email, role, token, password)

    return make
