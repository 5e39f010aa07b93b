"""Per-app runtime state (config, engine, sessions, clock), reachable from requests and jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from node.config import NodeConfig
from node.network.client import outbound_session, session_factory
from node.network.registry import InboundRegistry


def utcnow() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class NodeRuntime:
    """What a request or a job needs of its node: config, database, clock, outgoing HTTP and
    the inbound handler registry."""

    config: NodeConfig
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime] = field(default=utcnow)
    # Outgoing HTTP to other nodes (node.network.client's policy session); tests swap in a
    # session that routes to in-process apps.
    http_session: Callable[[], requests.Session] = field(default=outbound_session)
    # The frozen inbound handler registry (``node.features.inbound_registry``): the inbox on
    # push and the pull job dispatch through the same table.
    inbound: InboundRegistry = field(kw_only=True)

    def __post_init__(self) -> None:
        if self.http_session is outbound_session:
            self.http_session = session_factory(bool(self.config.values.get("allow_private_peers")))

    def now(self) -> datetime:
        return self.clock()


def runtime(app: Flask | None = None) -> NodeRuntime:
    """The runtime of ``app`` (default: the current app)."""
    node_runtime: NodeRuntime = (app or current_app).extensions["hrcnet"]
    return node_runtime


def db_session() -> Session:
    """The request's unit of work, opened on first use; ``node.app`` commits or rolls it back."""
    if "db_session" not in g:
        g.db_session = runtime().sessions()
    session: Session = g.db_session
    return session


def now() -> datetime:
    """The node's clock (tests set it)."""
    return runtime().now()
