"""Mentoring between two twinned cities (issue 5), as one feature package.

Files, in the order a change flows:

- ``workflow.py`` — the tables (relationship, session): who may do what, when, what it sends;
- ``acting.py`` — who acts and which envelope carries it; mentoring's refusals;
- ``checks.py`` — the one check every path calls, the facts it reads, sending our statement;
- ``effects.py`` — what each row does (bound to the table: a row without a handler does not
  load), and what follows every state change (deadlines, the secretariat's metadata);
- ``lifecycle.py`` (propose, state changes), ``documents.py`` (agreement, closure report, action
  plan, signatures), ``sessions.py`` (sessions and notes) — the services local users call;
- ``receiving.py`` — the partner city's messages, checked against the same table;
- ``inbound.py`` — the inbox handlers and :func:`register_inbound`; ``jobs.py`` — proposal expiry;
- ``read.py`` — what the API and the pages show; ``api.py``, ``pages.py``, ``forms.py``,
  ``templates/mentoring/``; ``models.py`` — the tables of both cities' nodes and the
  secretariat's metadata.

The package imports only the core (``node.db``, ``errors``, ``config``, ``runtime``,
``permissions``, ``auth``, ``api.common``), the federation core's public face
``node.network.port`` and the shared peer-review modules — never a network internal, another
feature, or the composition root. Nothing is imported here at module level, so importing
``peer_review.mentoring.models`` (for the migrations) loads no service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api

    from node.network.port import InboundRegistry


def register_inbound(registry: InboundRegistry) -> None:
    """Declare mentoring's envelope types, streams, schemas and handlers."""
    from peer_review.mentoring import inbound

    inbound.register_inbound(registry)


def init_app(app: Flask, api: Api) -> None:
    """Register the API blueprint under ``/api/v1`` in the app's flask-smorest ``api`` (so its
    OpenAPI document describes it) and the pages blueprint (templates inside this package)."""
    from node import refusals
    from peer_review.refusal import PAGE_MESSAGES

    refusals.register(PAGE_MESSAGES)  # its refusals in the reader's language
    from peer_review.mentoring import api as mentoring_api
    from peer_review.mentoring import pages

    api.register_blueprint(mentoring_api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
