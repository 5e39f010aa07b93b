"""Helpers for page tests read in another language: the client's language, and a page's text
made plain so a translated sentence can be compared exactly."""

from __future__ import annotations

from flask.testing import FlaskClient


def in_language(client: FlaskClient, locale: str) -> FlaskClient:
    """``client``, asking for pages in ``locale`` (as a browser's Accept-Language does)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    return client


def plain_text(html: str) -> str:
    """The page's text with entities and apostrophes made plain (for exact sentences)."""
    for entity, char in (("&#39;", "'"), ("&#34;", '"'), ("&quot;", '"'), ("&amp;", "&")):
        html = html.replace(entity, char)
    return html.replace("’", "'")
