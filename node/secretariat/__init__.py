"""The network secretariat: membership, directory, catalogue releases, benchmarks.

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
    """Nothing yet: the secretariat's API (``node.api.secretariat``) and pages
    (``node.web.benchmark_views``) are still registered by ``node.api`` and ``node.app``."""
