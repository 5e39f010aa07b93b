"""The dashboard's figures are rendered once per data version and kept (issue 14: the page under
32 clients). The kept HTML must be exactly what a fresh rendering gives for every request that
reuses it: same audience (public or not), type filter, language and path prefix; a write (any
unit of work) gives a new version. Real app, real database, pages through the test client.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from node import data_version
from tests.support import Caller
from tests.web.test_dashboard_charts import figure, post_results
from tests.web.test_pages import login

VIEWERS = ("anonymous", "official")
LANGUAGES = ("en", "fr", "sw")
TYPES = (None, "outcome", "process")
PREFIXES = ("", "/gent")
CSRF = re.compile(r'(name="csrf_token"(?: type="hidden")? value=)"[^"]+"')


@pytest.fixture
def viewers(app: Flask, official: Caller) -> dict[str, FlaskClient]:
    """Two browsers on the same process (its caches are per process): one signed in."""
    app.config["WTF_CSRF_ENABLED"] = True
    signed_in = app.test_client()
    login(signed_in, official)
    return {"anonymous": app.test_client(), "official": signed_in}


def page(
    clients: dict[str, FlaskClient], viewer: str, language: str, type_: Any, prefix: str
) -> str:
    response = clients[viewer].get(
        "/",
        query_string={"type": type_} if type_ else {},
        headers={"Accept-Language": language},
        base_url=f"http://localhost{prefix}/",
    )
    assert response.status_code == 200
    # The forms' CSRF tokens differ per rendering; everything else must be equal.
    return CSRF.sub(r'\1"-"', response.get_data(as_text=True))


def fresh(clients: dict[str, FlaskClient], *request: Any) -> str:
    data_version.ANSWERS.clear()
    data_version.PAGES.clear()
    return page(clients, *request)


def test_kept_figures_equal_a_fresh_rendering_for_every_request_that_reuses_them(
    client: FlaskClient, official: Caller, viewers: dict[str, FlaskClient]
) -> None:
    post_results(
        client,
        official,
        [
            figure("HRC-HOU-01", "2024", "1200.5"),
            figure("HRC-HOU-01", "2025", "1234.5", status="validated"),  # only the official's
            figure("HRC-HOU-02", "2025", "7", SEX="F"),
            figure("HRC-EDU-03", "2025", "0.25"),
        ],
    )
    requests = list(itertools.product(VIEWERS, LANGUAGES, TYPES, PREFIXES))
    data_version.PAGES.clear()
    for request in requests:  # fill the kept HTML for every combination first
        page(viewers, *request)
    assert len(data_version.PAGES.entries) == len(requests)
    kept = {request: page(viewers, *request) for request in requests}
    for request in requests:
        assert kept[request] == fresh(viewers, *request), request
    # The combinations really differ, so a key missing any part would serve a wrong page.
    assert kept[("anonymous", "en", None, "")] != kept[("official", "en", None, "")]
    assert "234,5" in kept[("official", "fr", None, "")]  # a French decimal comma
    assert "234,5" not in kept[("anonymous", "fr", None, "")]  # a validated figure
    assert kept[("anonymous", "en", None, "")] != kept[("anonymous", "fr", None, "")]
    assert kept[("anonymous", "en", None, "")] != kept[("anonymous", "en", "outcome", "")]
    assert 'href="/gent/catalogue/HRC-HOU-01"' in kept[("anonymous", "en", None, "/gent")]

    # A write moves the data version: the next page shows it, the kept HTML is not reused.
    post_results(client, official, [figure("HRC-HOU-01", "2026", "1240.75")])
    after = page(viewers, "anonymous", "en", None, "")
    assert "1,240.75" in after and "1,240.75" not in kept[("anonymous", "en", None, "")]
    assert after != kept[("anonymous", "en", None, "")]
    assert after == fresh(viewers, "anonymous", "en", None, "")
