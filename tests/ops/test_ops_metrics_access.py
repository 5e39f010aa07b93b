"""Who may read ``GET /metrics``: configured addresses (through ``trusted_proxy_hops``) or an
administrator's bearer token; everyone else gets a problem+json refusal with its code."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from node.app import create_app
from node.db import session_scope
from node.services import users
from tests.support import Clock

STRANGER = "198.51.100.9"


@pytest.fixture
def make_app(template_node: Path, tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Flask]]:
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        data_dir = tmp_path / f"node{len(made)}"
        shutil.copytree(template_node, data_dir)
        app = create_app(data_dir, {"clock": clock, **overrides})
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["hrcnet"].engine.dispose()


def token_for(app: Flask, role: str, clock: Clock) -> str:
    with session_scope(app.extensions["hrcnet"].sessions) as session:
        user = users.create_user(
            session, email=f"{role}@gent.example", password="correct horse battery",
            role=role, now=clock(), node_role="city",
        )  # fmt: skip
        return users.create_token(session, user, now=clock())


def scrape(app: Flask, address: str, **headers: str) -> Any:
    return app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address}, headers=headers)


def assert_refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == code
    assert b"hrcnet_" not in response.get_data()


def test_by_default_nobody_reads_without_a_token_not_even_loopback(
    make_app: Callable[..., Flask],
) -> None:
    """Behind a reverse proxy on the same host every client looks like 127.0.0.1: loopback
    is no proof of anything, so it is not allowed by default."""
    app = make_app()
    assert_refused(scrape(app, "127.0.0.1"), 401, "metrics_not_allowed")
    assert_refused(scrape(app, STRANGER), 401, "metrics_not_allowed")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("203.0.113.0", True),
        ("203.0.113.255", True),
        ("203.0.112.255", False),
        ("203.0.114.0", False),
    ],
)
def test_configured_networks_are_allowed_at_their_edges(
    make_app: Callable[..., Flask], address: str, allowed: bool
) -> None:
    app = make_app(metrics_allow="203.0.113.0/24, 2001:db8::1")
    response = scrape(app, address)
    if allowed:
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
        assert b"# TYPE hrcnet_http_requests_total counter" in response.get_data()
    else:
        assert_refused(response, 401, "metrics_not_allowed")


def test_admin_token_reads_and_other_tokens_do_not(
    make_app: Callable[..., Flask], clock: Clock
) -> None:
    app = make_app()
    admin = token_for(app, "admin", clock)
    official = token_for(app, "official", clock)
    assert scrape(app, STRANGER, Authorization=f"Bearer {admin}").status_code == 200
    assert_refused(
        scrape(app, STRANGER, Authorization=f"Bearer {official}"), 403, "metrics_not_allowed"
    )
    assert_refused(scrape(app, STRANGER, Authorization="Bearer nonsense"), 401, "invalid_token")


def test_forwarded_for_counts_only_through_trusted_proxies(make_app: Callable[..., Flask]) -> None:
    # No trusted proxy: a client writing the allowed address into X-Forwarded-For gets nothing.
    plain = make_app(metrics_allow="203.0.113.7")
    assert_refused(
        scrape(plain, STRANGER, **{"X-Forwarded-For": "203.0.113.7"}), 401, "metrics_not_allowed"
    )
    # One trusted proxy (on 127.0.0.1): the entry it appended is the client.
    proxied = make_app(metrics_allow="203.0.113.7", trusted_proxy_hops=1)
    assert scrape(proxied, "127.0.0.1", **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    # ... and what the client wrote before it does not count.
    assert_refused(
        scrape(proxied, "127.0.0.1", **{"X-Forwarded-For": f"203.0.113.7, {STRANGER}"}),
        401,
        "metrics_not_allowed",
    )


def test_a_bad_network_in_the_config_stops_the_node(make_app: Callable[..., Flask]) -> None:
    from node.config import ConfigError

    with pytest.raises(ConfigError, match="metrics_allow"):
        make_app(metrics_allow="10.0.0.0/33")


def test_requests_are_counted_by_route_template_not_by_path(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(metrics_allow="127.0.0.1")
    client = app.test_client()
    for n in range(3):
        client.get(f"/api/v1/indicators/NOPE-{n}")
    body = scrape(app, "127.0.0.1").get_data(as_text=True)
    lines = [line for line in body.splitlines() if "NOPE" in line]
    assert lines == []  # a stranger cannot mint one time series per URL
    route = "/api/v1/indicators/<code>"
    assert f'hrcnet_http_requests_total{{method="GET",route="{route}",status="404"}} 3.0' in body
