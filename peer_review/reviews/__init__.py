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

    from node.network.port import InboundRegistry


def register_inbound(registry: InboundRegistry) -> None:
    """Declare the handlers of ``hrc.review.action`` and ``hrc.review.event``."""
    # Imported here, not at the top: importing the package's tables (the migrations, node.models)
    # runs this file, and must not load the services, the network or Flask with it.
    from peer_review.reviews import inbound

    inbound.register_inbound(registry)


def init_app(app: Flask) -> None:
    """Register the review API (in the app's flask-smorest Api, documented in its OpenAPI
    document) and the review pages (whose templates live in this package)."""
    from peer_review.reviews import api, pages

    # The Api created by node.api.init_api (flask-smorest keeps it in app.extensions).
    smorest = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    smorest.register_blueprint(api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
