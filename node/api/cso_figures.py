"""``/api/v1/cso-figures``: civil-society parallel figures (the CSO's statement, not the city's)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from node.api.common import BEARER, problems
from node.auth import api_user
from node.network import port
from node.permissions import allowed, require
from node.runtime import db_session, now, runtime
from node.services import cso_carriage, cso_figures
from schemas.cso_figures import (
    CsoFigureListSchema,
    CsoFigureQuerySchema,
    CsoFigureSchema,
    CsoWithdrawSchema,
    ReceivedCsoStatementListSchema,
)

blp = Blueprint(
    "cso_figures",
    __name__,
    description="Civil-society parallel figures: shown beside the official ones, never merged",
)


@blp.route("/cso-figures")
class CsoFigures(MethodView):
    @blp.arguments(CsoFigureQuerySchema, location="query")
    @blp.response(200, CsoFigureListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Published civil-society figures; a CSO partner also sees its own drafts."""
        user = api_user()
        rows = cso_figures.list_figures(
            db_session(),
            indicator=query.get("indicator"),
            period=query.get("period"),
            published_only=not allowed(user, "cso_figures.write"),
            user=user,
        )
        return {"items": [cso_figures.to_wire(row) for row in rows]}

    @blp.arguments(CsoFigureSchema)
    @blp.response(201, CsoFigureSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409, 422)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Enter (or correct one's own draft of) a figure as a draft (CSO partners, admins)."""
        figure = cso_figures.record(
            db_session(),
            cso_figures.CsoFigureInput(
                indicator=data["indicator"],
                period=data["period"],
                value=data["value"],
                organisation=data["organisation"],
                method=data["method"],
                source=data["source"],
                note=data.get("note"),
                disaggregation=data.get("disaggregation"),
                share_with_twins=data.get("share_with_twins", False),
            ),
            user=api_user(),
            now=now(),
        )
        return cso_figures.to_wire(figure)


@blp.route("/cso-figures/<int:figure_id>/publish")
class CsoFigurePublish(MethodView):
    @blp.response(200, CsoFigureSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, figure_id: int) -> dict[str, Any]:
        """Publish one's own figure: the node signs it as the CSO's statement."""
        figure = cso_figures.publish(
            db_session(), runtime().config, figure_id, user=api_user(), now=now()
        )
        return cso_figures.to_wire(figure)


@blp.route("/cso-figures/<int:figure_id>/withdraw")
class CsoFigureWithdraw(MethodView):
    @blp.arguments(CsoWithdrawSchema)
    @blp.response(200, CsoFigureSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409, 422)
    def post(self, data: dict[str, Any], figure_id: int) -> dict[str, Any]:
        """Withdraw one's own published figure (``figure``) or its sharing with twins
        (``sharing``): the node signs a withdrawal and sends it where the statement went."""
        figure = cso_figures.withdraw(
            db_session(),
            runtime().config,
            figure_id,
            scope=data["scope"],
            reason=data.get("reason"),
            user=api_user(),
            now=now(),
        )
        return cso_figures.to_wire(figure)


@blp.route("/peers/<city_id>/cso-statements")
class PeerCsoStatements(MethodView):
    @blp.response(200, ReceivedCsoStatementListSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404)
    def get(self, city_id: str) -> dict[str, Any]:
        """A twin's civil-society statements (shared with its CSOs' consent), withdrawn ones
        included with their withdrawal; never part of the twin's official figures."""
        # As the peer page: what twins sent is for the city's staff, not for anonymous callers.
        require(api_user(), "results.read_unpublished")
        session = db_session()
        port.get_peer(session, city_id)
        return {
            "items": [
                cso_carriage.to_wire(row) for row in cso_carriage.received_all(session, city_id)
            ]
        }
