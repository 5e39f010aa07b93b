"""The public portal: what anyone may see, download and verify without signing in.

``pages`` (the routes: ``/portal``, ``/open-data``, ``/public/summaries/{sha256}``,
``/feed.atom``, ``/embed/indicators/{code}``, ``/annual-report/{year}``), ``services`` (published
figures and public signed summaries), ``feed`` (Atom), ``report`` (the annual report, and its
PDF printed ahead by a job), ``sources`` (the extension points through which the composition
root hands in other features' public data: recommendations, community-report counts). Its
charts are the core's :mod:`node.indicator_charts`, the same the staff's pages draw. The
package imports only the core and ``node.network.port``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.portal.sources import PortalSources

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api

    from node.network.port import InboundRegistry

__all__ = ["PortalSources", "init_app", "register_inbound"]


def register_inbound(registry: InboundRegistry) -> None:
    """The portal handles no envelope: it only shows what the node already holds."""


def init_app(app: Flask, api: Api, sources: PortalSources | None = None) -> None:
    """Register the portal's pages; ``sources`` are other features' public data (see
    :class:`PortalSources`), kept in ``app.extensions["portal_sources"]``."""
    from node import refusals
    from node.portal import refusal_messages

    refusals.register(refusal_messages.MESSAGES)  # its refusals in the reader's language
    from node.portal import pages

    app.extensions["portal_sources"] = sources or PortalSources()
    app.register_blueprint(pages.bp)
