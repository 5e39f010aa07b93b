"""Peer review between cities, as one feature package.

``models`` (the tables), ``services/`` (drafting, decisions, projection, relaying, receiving,
queries, presentation), ``api`` (``/api/v1/reviews``), ``pages`` and ``forms`` (``/reviews``),
``templates/reviews/``, ``inbound`` (the envelope handlers). The package imports only the core
and ``node.network.port``; the app factory calls :func:`init_app`, the inbox's registry
:func:`register_inbound`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api

    from node.network.port import InboundRegistry


def register_inbound(registry: InboundRegistry) -> None:
    """Declare the handlers of ``hrc.review.action`` and ``hrc.review.event``."""
    # Imported here, not at the top: importing the package's tables (the migrations, node.models)
    # runs this file, and must not load the services, the network or Flask with it.
    from peer_review.reviews import inbound

    inbound.register_inbound(registry)


def init_app(app: Flask, api: Api) -> None:
    """Register the review API in the app's flask-smorest ``api`` (so its OpenAPI document
    describes it) and the review pages (whose templates live in this package)."""
    from node import refusals
    from peer_review.refusal import PAGE_MESSAGES

    refusals.register(PAGE_MESSAGES)  # its refusals in the reader's language
    from peer_review.reviews import api as reviews_api
    from peer_review.reviews import pages

    api.register_blueprint(reviews_api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
