"""The network secretariat: membership, directory, catalogue releases, benchmarks.

``models`` (the tables), ``membership``, ``releases``, ``benchmarks``, ``stats``, ``charts``,
``overdue`` (the services), ``api`` (``/api/v1``), ``pages`` (``/benchmarks``, every node),
``staff_pages`` (``/secretariat/…``, the secretariat's staff), ``templates/secretariat/``,
``inbound`` (the envelope handlers).

A feature like any other: it registers its inbound handlers (:func:`register_inbound`) and its
web parts (:func:`init_app`) when ``node.features`` lists it, and uses the network only through
``node.network.port``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api

    from node.network.port import InboundRegistry


def register_inbound(registry: InboundRegistry) -> None:
    """The secretariat's documents (directory, catalogue, benchmarks) and its summary listener."""
    # Imported here: the package is imported whenever one of its modules is (the models by the
    # migrations), and only the composition root needs the handlers.
    from node.secretariat import inbound

    inbound.register_inbound(registry)


def init_app(app: Flask, api: Api) -> None:
    """Register the network API (``/api/v1``: members, directory, catalogue releases,
    benchmarks) in the app's flask-smorest ``api`` (so its OpenAPI document describes it), the
    benchmark pages every member sees and the secretariat staff's pages (templates in
    ``templates/secretariat/``)."""
    from node import refusals
    from node.secretariat import refusal_messages

    refusals.register(refusal_messages.MESSAGES)  # its refusals in the reader's language
    from node.secretariat import api as secretariat_api
    from node.secretariat import pages, staff_pages

    api.register_blueprint(secretariat_api.blp, url_prefix="/api/v1")
    app.register_blueprint(pages.bp)
    app.register_blueprint(staff_pages.bp)
