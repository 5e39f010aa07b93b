"""Network API: members (secretariat), the directory, core catalogue releases, benchmarks."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.errors import ConflictError
from node.network.port import DirectoryEntry, peer_to_wire
from node.permissions import require
from node.runtime import db_session, now, runtime
from node.secretariat import benchmarks, membership, releases
from node.secretariat.models import ReceivedBenchmark
from schemas.network import (
    BenchmarkQuerySchema,
    BenchmarkViewSchema,
    DirectoryMemberViewSchema,
    MemberActionSchema,
    PeerSchema,
    RekeySchema,
    ReleasePublishSchema,
    ReleaseSchema,
)

blp = Blueprint(
    "secretariat",
    __name__,
    description="Network: members, directory, catalogue releases, benchmarks",
)


def _secretariat_only() -> None:
    if runtime().config.role != "secretariat":
        raise ConflictError(
            "This is a city node; members are managed by the secretariat.",
            code="not_secretariat",
            status=404,
        )


@blp.route("/members")
class Members(MethodView):
    @blp.response(200, items_schema(PeerSchema, "MemberList"))
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self) -> dict[str, Any]:
        """Members and applications (secretariat node)."""
        _secretariat_only()
        require(api_user(), "network.status")
        return {"items": [peer_to_wire(p) for p in membership.members(db_session())]}


@blp.route("/members/<city_id>/<any(admit,suspend,reinstate,remove):action>")
class MemberAction(MethodView):
    @blp.arguments(MemberActionSchema)
    @blp.response(200, PeerSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, data: dict[str, Any], city_id: str, action: str) -> dict[str, Any]:
        """Admit (optionally setting the region), suspend, reinstate or remove a member."""
        _secretariat_only()
        peer = membership.change_membership(
            db_session(),
            runtime().config,
            city_id,
            action,
            user=api_user(),
            now=now(),
            region=data["region"],
        )
        return peer_to_wire(peer)


@blp.route("/members/<city_id>/rekey")
class MemberRekey(MethodView):
    @blp.arguments(RekeySchema)
    @blp.response(200, PeerSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], city_id: str) -> dict[str, Any]:
        """Lost-key recovery: vouch for a member's new key in a new signed directory."""
        _secretariat_only()
        peer = membership.rekey(
            db_session(), runtime().config, city_id, data["key"], user=api_user(), now=now()
        )
        return peer_to_wire(peer)


@blp.route("/directory")
class Directory(MethodView):
    @blp.response(200, items_schema(DirectoryMemberViewSchema, "Directory"))
    def get(self) -> dict[str, Any]:
        """The network's members as the secretariat's signed directory lists them."""
        session = db_session()
        if runtime().config.role == "secretariat":
            return {"items": membership.directory_payload(session, now())["members"]}
        entries = session.scalars(select(DirectoryEntry).order_by(DirectoryEntry.city_id))
        return {
            "items": [
                {
                    "city_id": e.city_id,
                    "name": e.name,
                    "region": e.region,
                    "country": e.country,
                    "base_url": e.base_url,
                    "state": e.state,
                    "keys": e.keys,
                }
                for e in entries
            ]
        }


@blp.route("/catalogue/releases")
class Releases(MethodView):
    @blp.response(200, items_schema(ReleaseSchema, "ReleaseList"))
    def get(self) -> dict[str, Any]:
        """Core catalogue releases (on a city: what adopting each would change)."""
        session = db_session()
        return {
            "items": [releases.release_to_wire(session, r) for r in releases.list_releases(session)]
        }

    @blp.arguments(ReleasePublishSchema)
    @blp.response(201, ReleaseSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409, 422)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Publish a signed core catalogue release to every member (secretariat)."""
        session = db_session()
        release = releases.publish_release(
            session,
            runtime().config,
            data["document"],
            notes=data["notes"],
            user=api_user(),
            now=now(),
        )
        return releases.release_to_wire(session, release)


@blp.route("/catalogue/releases/<version>/adopt")
class ReleaseAdopt(MethodView):
    @blp.response(200, ReleaseSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, version: str) -> dict[str, Any]:
        """Adopt a received core catalogue release."""
        session = db_session()
        release = releases.adopt(session, version, user=api_user(), now=now())
        return releases.release_to_wire(session, release)


@blp.route("/benchmarks")
class Benchmarks(MethodView):
    @blp.arguments(BenchmarkQuerySchema, location="query")
    @blp.response(200, items_schema(BenchmarkViewSchema, "BenchmarkList"))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Regional benchmarks: on a city, the groups it is in with its own position; on the
        secretariat, every published group (no city's value is named)."""
        session = db_session()
        if runtime().config.role == "secretariat":
            return {
                "items": benchmarks.published_groups(
                    session, query.get("indicator"), query.get("period")
                )
            }
        rows = session.scalars(
            select(ReceivedBenchmark).order_by(
                ReceivedBenchmark.indicator, ReceivedBenchmark.period, ReceivedBenchmark.scope
            )
        )
        return {
            "items": [
                r.group
                for r in rows
                if (not query.get("indicator") or r.indicator == query["indicator"])
                and (not query.get("period") or r.period == query["period"])
            ]
        }
