"""The features this node runs, listed once (the composition root).

``inbound_registry()`` builds the one frozen handler registry of the node: the app factory keeps
it on ``NodeRuntime.inbound`` for the inbox (push) and the jobs build theirs the same way for the
pull, so both paths dispatch through the same table. A second handler for an envelope type is
refused here, at start-up (:class:`DuplicateRegistration`), instead of silently replacing the
first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask

from node import secretariat
from node.network import handlers as network_handlers
from node.network.registry import DuplicateRegistration, Inbound, InboundRegistry
from peer_review import inbound as review_inbound
from peer_review import mentoring_inbound
from schemas.peer_review import REVIEW_STREAM_PREFIX

__all__ = ["FEATURES", "DuplicateRegistration", "Feature", "inbound_registry", "init_app"]


@dataclass(frozen=True)
class Feature:
    """A feature as the composition root sees it: its name, its inbound handlers, its web parts."""

    name: str
    register_inbound: Callable[[InboundRegistry], None]
    init_app: Callable[[Flask], None] = lambda app: None


# --- transitional ----------------------------------------------------------------------------
# Reviews and mentoring keep their old handler tables until they become packages with their own
# register_inbound; the lead swaps these adapters for those at merge.

OldHandler = Callable[..., None]  # (session, config, envelope, peer, stored, now)


def _adapt(old: OldHandler) -> Callable[[Inbound], None]:  # transitional
    def handler(inbound: Inbound) -> None:
        old(
            inbound.session,
            inbound.config,
            inbound.envelope,
            inbound.peer,
            inbound.stored,
            inbound.now,
        )

    handler.__qualname__ = f"adapted({old.__module__}.{old.__qualname__})"
    return handler


def _register_old_table(  # transitional
    registry: InboundRegistry, handlers: dict[str, OldHandler], streams: dict[str, str]
) -> None:
    for type_, old in handlers.items():
        # schema=None: the old handlers load (and check) their payloads themselves.
        registry.register(type_, stream=streams[type_], schema=None, handler=_adapt(old))


def _reviews_inbound(registry: InboundRegistry) -> None:  # transitional
    _register_old_table(
        registry,
        review_inbound.HANDLERS,
        dict.fromkeys(review_inbound.HANDLERS, REVIEW_STREAM_PREFIX),
    )


def _mentoring_inbound(registry: InboundRegistry) -> None:  # transitional
    _register_old_table(registry, mentoring_inbound.HANDLERS, mentoring_inbound.STREAMS)


# --- the list --------------------------------------------------------------------------------

FEATURES: tuple[Feature, ...] = (
    Feature("network", network_handlers.register_inbound),  # summaries, twinning
    Feature("secretariat", secretariat.register_inbound, secretariat.init_app),
    Feature("reviews", _reviews_inbound),  # transitional
    Feature("mentoring", _mentoring_inbound),  # transitional
)


def inbound_registry(features: tuple[Feature, ...] | None = None) -> InboundRegistry:
    """The node's handler registry: every feature registered, then frozen."""
    registry = InboundRegistry()
    for feature in FEATURES if features is None else features:
        feature.register_inbound(registry)
    registry.freeze()
    return registry


def init_app(app: Flask, features: tuple[Feature, ...] | None = None) -> None:
    """Let every feature add its blueprints (most still live in ``node.app`` for now)."""
    for feature in FEATURES if features is None else features:
        feature.init_app(app)
