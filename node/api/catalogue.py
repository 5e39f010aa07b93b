"""``/api/v1/indicators`` and ``/api/v1/dimensions``: the co-created catalogue."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from node.api.common import BEARER, items_schema, problems
from node.auth import api_user
from node.permissions import require
from node.runtime import db_session, now
from node.services import catalogue
from schemas.catalogue import DimensionCodesAddSchema, DimensionSchema, IndicatorSchema

blp = Blueprint("catalogue", __name__, description="Indicator catalogue (core and local)")

IndicatorListSchema = items_schema(IndicatorSchema, "IndicatorList")
DimensionListSchema = items_schema(DimensionSchema, "DimensionList")


class IndicatorQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(validate=validate.OneOf(("structural", "process", "outcome")))
    core = fields.Boolean()
    right = fields.String(validate=validate.Length(max=300))


@blp.route("/indicators")
class Indicators(MethodView):
    @blp.arguments(IndicatorQuerySchema, location="query")
    @blp.response(200, IndicatorListSchema)
    @problems(blp, 401)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List the catalogue, core indicators first."""
        rows = catalogue.list_indicators(
            db_session(), type_=query.get("type"), core=query.get("core"), right=query.get("right")
        )
        return {"items": [catalogue.indicator_to_wire(i) for i in rows]}

    @blp.arguments(IndicatorSchema)
    @blp.response(201, IndicatorSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409, 413, 415)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a local indicator, in the shape of a seed catalogue entry (``core: false``)."""
        session = db_session()
        require(api_user(), "catalogue.write")
        return catalogue.indicator_to_wire(catalogue.add_local_indicator(session, data, now=now()))


@blp.route("/indicators/<code>")
class IndicatorByCode(MethodView):
    @blp.response(200, IndicatorSchema)
    @problems(blp, 404)
    def get(self, code: str) -> dict[str, Any]:
        """One indicator of the catalogue."""
        return catalogue.indicator_to_wire(catalogue.get_indicator(db_session(), code))


@blp.route("/dimensions")
class Dimensions(MethodView):
    @blp.response(200, DimensionListSchema)
    def get(self) -> dict[str, Any]:
        """Disaggregation dimensions (grounds of discrimination, districts...) and their codes."""
        return {
            "items": [
                catalogue.dimension_to_wire(d) for d in catalogue.list_dimensions(db_session())
            ]
        }

    @blp.arguments(DimensionSchema)
    @blp.response(201, DimensionSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 409)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add a local dimension with its codes."""
        require(api_user(), "catalogue.write")
        return catalogue.dimension_to_wire(catalogue.add_dimension(db_session(), data))


@blp.route("/dimensions/<code>/codes")
class DimensionCodes(MethodView):
    @blp.arguments(DimensionCodesAddSchema)
    @blp.response(201, DimensionSchema)
    @blp.doc(security=BEARER)
    @problems(blp, 401, 403, 404, 409)
    def post(self, data: dict[str, Any], code: str) -> dict[str, Any]:
        """Add local codes to a dimension (e.g. the city's districts)."""
        require(api_user(), "catalogue.write")
        return catalogue.dimension_to_wire(
            catalogue.add_dimension_codes(db_session(), code, data["codes"])
        )
