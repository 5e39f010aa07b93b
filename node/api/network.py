"""``/api/v1/peers``, ``/api/v1/summaries``, ``/api/v1/federation/status``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.errors import InvalidInputError
from node.input_guard import parse_json_text
from node.network import compare, inbox, keyring, peers, summaries, trust
from node.network.models import OutboxItem
from node.permissions import require
from node.runtime import db_session, now, runtime
from node.services.network_status import network_status
from schemas.network import (
    ComparisonQuerySchema,
    ComparisonRowSchema,
    FederationStatusSchema,
    KeyChangeSchema,
    OwnSummarySchema,
    PeerAnswerSchema,
    PeerDiscoverySchema,
    PeerRequestSchema,
    PeerSchema,
    PublishSchema,
    ReceivedSummarySchema,
    TrustSchema,
)

blp = Blueprint("network", __name__, description="Twinning, summaries, federation status")


@blp.route("/peers")
class Peers(MethodView):
    @blp.response(200, items_schema(PeerSchema, "PeerList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """Twinning partners and requests, with their pinned key fingerprints."""
        require(api_user(), "results.read_unpublished")
        return {
            "items": [peers.peer_to_wire(p, db_session()) for p in peers.list_peers(db_session())]
        }

    @blp.arguments(PeerRequestSchema)
    @blp.response(202, PeerDiscoverySchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 422, 429)
    def post(self, data: dict[str, Any]) -> Any:
        """Queue a twinning request: a job discovers the node (within a minute), pins its key
        and sends the signed request. Follow ``Location`` (``/peer-discoveries/{id}``)."""
        session = db_session()
        discovery = peers.queue_twinning_request(
            session, runtime().config, data["url"], data["themes"], user=api_user(), now=now()
        )
        location = url_for("network.PeerDiscoveryItem", discovery_id=discovery.id)
        return peers.discovery_to_wire(session, discovery), 202, {"Location": location}


@blp.route("/peer-discoveries")
class PeerDiscoveries(MethodView):
    @blp.response(200, items_schema(PeerDiscoverySchema, "PeerDiscoveryList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """Twinning requests typed in here, newest first: queued, requested or failed (reason)."""
        require(api_user(), "results.read_unpublished")
        session = db_session()
        return {
            "items": [peers.discovery_to_wire(session, d) for d in peers.list_discoveries(session)]
        }


@blp.route("/peer-discoveries/<rowid:discovery_id>")
class PeerDiscoveryItem(MethodView):
    @blp.response(200, PeerDiscoverySchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, discovery_id: int) -> dict[str, Any]:
        """One queued twinning request and what the discovery job made of it."""
        require(api_user(), "results.read_unpublished")
        session = db_session()
        return peers.discovery_to_wire(session, peers.get_discovery(session, discovery_id))


def _answer(city_id: str, decision: str) -> dict[str, Any]:
    user = api_user()
    require(user, "network.manage")
    raw = request.get_data(cache=True)
    data: dict[str, Any] = {"themes": None}
    if raw.strip():
        try:
            data = PeerAnswerSchema().load(parse_json_text(raw))
        except (ValueError, ValidationError) as exc:
            errors = (
                exc.normalized_messages()
                if isinstance(exc, ValidationError)
                else {"_schema": ["not valid JSON"]}
            )
            raise InvalidInputError("The answer is not valid.", errors=errors) from exc
    peer = peers.answer(
        db_session(),
        runtime().config,
        city_id,
        decision,
        themes=data.get("themes"),
        user=user,
        now=now(),
    )
    return peers.peer_to_wire(peer, db_session())


_ANSWER_BODY = {
    "required": False,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PeerAnswer"}}},
}


@blp.route("/peers/<city_id>/accept")
class PeerAccept(MethodView):
    @blp.doc(requestBody=_ANSWER_BODY, security=BEARER)
    @blp.response(200, PeerSchema)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, city_id: str) -> dict[str, Any]:
        """Accept a pending twinning request (an empty body accepts the requested themes)."""
        return _answer(city_id, "accept")


@blp.route("/peers/<city_id>/decline")
class PeerDecline(MethodView):
    @blp.doc(requestBody=_ANSWER_BODY, security=BEARER)
    @blp.response(200, PeerSchema)
    @problems(blp, 401, 403, 404, 409)
    def post(self, city_id: str) -> dict[str, Any]:
        """Decline a pending twinning request."""
        return _answer(city_id, "decline")


@blp.route("/peers/<city_id>/end")
class PeerEnd(MethodView):
    @blp.doc(requestBody=_ANSWER_BODY, security=BEARER)
    @blp.response(200, PeerSchema)
    @problems(blp, 401, 403, 404, 409)
    def post(self, city_id: str) -> dict[str, Any]:
        """End a twinning (or withdraw our request)."""
        return _answer(city_id, "end")


@blp.route("/peers/<city_id>/key-changes")
class PeerKeyChanges(MethodView):
    @blp.response(200, items_schema(KeyChangeSchema, "KeyChangeList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, city_id: str) -> dict[str, Any]:
        """Key changes of a twin announced by the secretariat's directory (pending first)."""
        require(api_user(), "results.read_unpublished")
        session = db_session()
        peers.get_peer(session, city_id)
        changes = trust.key_changes(session, city_id)
        changes.sort(key=lambda c: c.state != "pending")
        return {"items": [trust.key_change_to_wire(c) for c in changes]}


@blp.route("/peers/<city_id>/key-changes/<rowid:change_id>/confirm")
class PeerKeyChangeConfirm(MethodView):
    @blp.response(200, KeyChangeSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, city_id: str, change_id: int) -> dict[str, Any]:
        """Confirm a key change after comparing the new fingerprint with the twin out of band:
        the new key becomes current, the dropped one is revoked."""
        change = trust.confirm_key_change(
            db_session(), city_id, change_id, user=api_user(), now=now()
        )
        return trust.key_change_to_wire(change)


@blp.route("/peers/<city_id>/key-changes/<rowid:change_id>/reject")
class PeerKeyChangeReject(MethodView):
    @blp.response(200, KeyChangeSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, city_id: str, change_id: int) -> dict[str, Any]:
        """Reject a key change (the fingerprint did not match): the twin's keys stay as they are."""
        change = trust.reject_key_change(
            db_session(), city_id, change_id, user=api_user(), now=now()
        )
        return trust.key_change_to_wire(change)


@blp.route("/trust")
class Trust(MethodView):
    @blp.response(200, TrustSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """The secretariat this node trusts (null: none). Changed only by an operator (CLI or
        the Secretariat page), never through the API."""
        require(api_user(), "network.status")
        return {"secretariat": trust.describe(db_session())}


@blp.route("/peers/<city_id>/summaries")
class PeerSummaries(MethodView):
    @blp.response(200, items_schema(ReceivedSummarySchema, "ReceivedSummaryList"))
    @problems(blp, 404)
    def get(self, city_id: str) -> dict[str, Any]:
        """Summaries received from a twin, verified on arrival, newest revision marked current."""
        session = db_session()
        peers.get_peer(session, city_id)
        return {
            "items": [
                {
                    "period": s.period,
                    "revision": s.revision,
                    "seq": s.envelope.seq,
                    "current": s.current,
                    "envelope_sha256": s.envelope.sha256,
                    # The stored text itself, not a parsed copy: the contract promises the
                    # envelope "exactly as received", so a client can hash and verify its bytes.
                    "envelope": s.envelope.raw,
                    "received_at": s.received_at,
                    "via": s.envelope.via,
                    "verified": inbox.still_verifies(session, s.envelope.raw),
                }
                for s in summaries.received(session, city_id)
            ]
        }


@blp.route("/peers/<city_id>/comparison")
class PeerComparison(MethodView):
    @blp.arguments(ComparisonQuerySchema, location="query")
    @blp.response(200, items_schema(ComparisonRowSchema, "ComparisonList"))
    @problems(blp, 404)
    def get(self, query: dict[str, Any], city_id: str) -> dict[str, Any]:
        """A twin's current figures beside ours, per indicator (or mapped core code) and period."""
        session = db_session()
        peers.get_peer(session, city_id)
        return {"items": compare.comparison(session, city_id, query.get("period"))}


@blp.route("/summaries")
class Summaries(MethodView):
    @blp.response(200, items_schema(OwnSummarySchema, "OwnSummaryList"))
    def get(self) -> dict[str, Any]:
        """Our signed summaries, with their delivery to each twin."""
        session = db_session()
        out = []
        for env in summaries.own_summaries(session):
            deliveries = session.scalars(
                select(OutboxItem).where(OutboxItem.seq == env.seq).order_by(OutboxItem.destination)
            )
            out.append(
                {
                    "period": env.period,
                    "revision": env.revision,
                    "seq": env.seq,
                    "created_ts": env.created_ts,
                    "audience": env.audience,
                    "superseded": env.superseded,
                    "envelope_sha256": env.sha256,
                    "deliveries": [_delivery(d) for d in deliveries],
                }
            )
        return {"items": out}

    @blp.arguments(PublishSchema)
    @blp.response(201, items_schema(OwnSummarySchema, "PublishedSummaries"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 422)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Build, sign and publish our summary for a period to every twin."""
        envelopes = summaries.publish_summary(
            db_session(), runtime().config, data["period"], user=api_user(), now=now()
        )
        return {
            "items": [
                {
                    "period": e.period,
                    "revision": e.revision,
                    "seq": e.seq,
                    "created_ts": e.created_ts,
                    "audience": e.audience,
                    "superseded": e.superseded,
                    "envelope_sha256": e.sha256,
                    "deliveries": [
                        {
                            "destination": d,
                            "state": "pending",
                            "attempts": 0,
                            "last_status": None,
                            "last_error": None,
                        }
                        for d in e.audience
                    ],
                }
                for e in envelopes
            ]
        }


def _delivery(item: OutboxItem) -> dict[str, Any]:
    return {
        "destination": item.destination,
        "state": item.state,
        "attempts": item.attempts,
        "last_status": item.last_status,
        "last_error": item.last_error,
    }


@blp.route("/federation/status")
class FederationStatus(MethodView):
    @blp.response(200, FederationStatusSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403)
    def get(self) -> dict[str, Any]:
        """Per peer: last success, failures, next attempt, queue length, dead letters."""
        require(api_user(), "network.status")
        session = db_session()
        status = network_status(session)
        signing = keyring.signers(session, runtime().config, now())
        return {
            "city_id": runtime().config.city_id,
            "key_id": signing.primary.key_id,
            "items": [asdict(peer) for peer in status.peers],
            "dead_letters": [asdict(d) for d in status.dead_letters],
        }
