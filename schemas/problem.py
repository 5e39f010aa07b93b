"""RFC 9457 problem details, as every JSON route answers its errors."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields


class ProblemSchema(Schema):
    """``application/problem+json`` body with hrcnet's machine-readable ``code``."""

    class Meta:
        unknown = INCLUDE  # RFC 9457 allows extension members (e.g. error_count)

    type = fields.String(
        required=True, metadata={"example": "https://hrcnet.org/problems/not-found"}
    )
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "stable machine-readable reason"})
    errors = fields.Raw(metadata={"description": "field → messages, or a list of row errors"})
    error_count = fields.Integer(metadata={"description": "all problems, when errors is cut"})
