"""``GET /metrics``: the node's health in Prometheus text format (docs/operations.md).

What is counted where:

- **in the web workers** (counters): requests by route template, method and status; refusals
  of federation requests by problem ``code`` (the inbox's 4xx answers to pushes and the outbox's
  to pulls);
- **in the scheduler** (histogram): runs of each job by outcome, and their durations;
- **in the database, read at each scrape** (gauges): outbox depth and age of the oldest pending
  envelope per destination, last successful delivery per twin. These are exact whichever
  process answers.

Each app has its own :class:`~prometheus_client.CollectorRegistry` (several apps live in one
test process). Under ``hrcnet serve`` (gunicorn workers > 1, plus the scheduler process) the
counters are process-local, so ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh folder
before any worker starts: every process writes its counters there and a scrape sums them
(prometheus_client's multiprocess mode), whichever worker answers.

Access: the figures say which cities this node talks to and how often it fails, so the route
answers only clients whose address is in ``metrics_allow`` (CIDRs, resolved through
``trusted_proxy_hops`` like every client address), or a bearer token of an admin user.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from node.errors import AuthenticationRequiredError, PermissionDeniedError
from node.network.models import OutboxItem, Peer
from node.runtime import NodeRuntime, db_session
from node.services import throttle, users

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

bp = Blueprint("metrics", __name__)


def multiprocess_mode() -> bool:
    """True under ``hrcnet serve``: counters live in files shared by all the node's processes."""
    return bool(os.environ.get(MULTIPROC_ENV))


class NodeMetrics:
    """The counters of one app (see the module doc)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hrcnet_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.federation_refusals = Counter(
            "hrcnet_federation_refusals",
            "Federation requests refused (inbox pushes, outbox pulls), by problem code.",
            ["code"],
            registry=self.registry,
        )


class JobMetrics:
    """Runs and durations of the scheduler's jobs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "hrcnet_job_duration_seconds",
            "Duration of scheduled job runs, by job and outcome (count = runs).",
            ["job", "outcome"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
            registry=self.registry,
        )


class DatabaseCollector(Collector):
    """Gauges read from the node's database at scrape time (exact in any process)."""

    def __init__(self, runtime: NodeRuntime, now: datetime) -> None:
        self.runtime = runtime
        self.now = now

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "hrcnet_outbox_pending", "Envelopes waiting to be delivered, per destination.",
            labels=["destination"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "hrcnet_outbox_oldest_age_seconds",
            "Age of the oldest envelope waiting for each destination.",
            labels=["destination"],
        )
        last_success = GaugeMetricFamily(
            "hrcnet_delivery_last_success_timestamp_seconds",
            "Unix time of the last successful delivery to each active twin (0: never).",
            labels=["twin"],
        )
        failures = GaugeMetricFamily(
            "hrcnet_delivery_consecutive_failures",
            "Failed delivery attempts in a row, per active twin.",
            labels=["twin"],
        )
        session = self.runtime.sessions()
        try:
            rows = session.execute(
                select(OutboxItem.destination, func.count(), func.min(OutboxItem.created_at))
                .where(OutboxItem.state == "pending")
                .group_by(OutboxItem.destination)
            ).all()
            for destination, count, first in rows:
                depth.add_metric([destination], count)
                oldest.add_metric([destination], max(0.0, (self.now - first).total_seconds()))
            for peer in session.scalars(select(Peer).where(Peer.state == "active")):
                when = peer.last_success_at.timestamp() if peer.last_success_at else 0.0
                last_success.add_metric([peer.city_id], when)
                failures.add_metric([peer.city_id], peer.failures or 0)
        finally:
            session.close()
        yield from (depth, oldest, last_success, failures)


def _metrics(app: Flask) -> NodeMetrics:
    metrics: NodeMetrics = app.extensions["hrcnet_metrics"]
    return metrics


def _allowed_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


def _check_access() -> None:
    """Allowed address, else an admin's bearer token; else 401/403 (problem+json)."""
    config = current_app.extensions["hrcnet"].config
    address = throttle.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), config.trusted_proxy_hops
    )
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        client = None
    if client is not None and any(client in net for net in _allowed_networks(config.metrics_allow)):
        return
    header = request.headers.get("Authorization")
    if header is None:
        raise AuthenticationRequiredError(
            "Metrics are readable from the configured addresses (metrics_allow) or with an "
            "administrator's token.",
            code="metrics_not_allowed",
        )
    scheme, _, token = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and token.strip():
        user = users.user_for_token(
            db_session(), token.strip(), now=current_app.extensions["hrcnet"].now()
        )
    if user is None:
        raise AuthenticationRequiredError("The token is unknown or revoked.", code="invalid_token")
    if user.role != "admin":
        raise PermissionDeniedError(
            "Only administrators may read the metrics.", code="metrics_not_allowed"
        )


@bp.get("/metrics")
def metrics_view() -> Response:
    """The Prometheus exposition of this node (see the module doc)."""
    _check_access()
    runtime: NodeRuntime = current_app.extensions["hrcnet"]
    if multiprocess_mode():
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = _metrics(current_app).registry
    database = CollectorRegistry()
    database.register(DatabaseCollector(runtime, runtime.now()))
    body = generate_latest(process_registry) + generate_latest(database)
    return Response(body, content_type=CONTENT_TYPE)


def _route_label() -> str:
    # The rule's template (/api/v1/results/<rowid:id>), never the raw path: a stranger must not
    # be able to create one time series per URL it invents.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def _federation_code(response: Response) -> str | None:
    if response.status_code < 400 or not request.path.startswith("/federation/"):
        return None
    if response.mimetype != "application/problem+json" or response.is_streamed:
        return "unknown"
    try:
        code = json.loads(response.get_data())["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    # Our own codes are short snake_case words; anything else is not a label value we let grow.
    return (
        code
        if isinstance(code, str) and len(code) <= 60 and code.replace("_", "").isalnum()
        else "unknown"
    )


def init_app(app: Flask) -> None:
    """Count every request of ``app`` and serve ``GET /metrics``."""
    metrics = NodeMetrics()
    app.extensions["hrcnet_metrics"] = metrics

    @app.after_request
    def _count(response: Response) -> Response:
        metrics.requests.labels(_route_label(), request.method, str(response.status_code)).inc()
        code = _federation_code(response)
        if code is not None:
            metrics.federation_refusals.labels(code).inc()
        return response

    app.register_blueprint(bp)


def job_metrics() -> JobMetrics:
    """The scheduler's job metrics (one per scheduler process)."""
    return JobMetrics()


def observe_job(metrics: JobMetrics, name: str, outcome: str, started: float) -> Any:
    """Record one job run that began at ``started`` (``time.perf_counter()``)."""
    return metrics.duration.labels(name, outcome).observe(time.perf_counter() - started)
