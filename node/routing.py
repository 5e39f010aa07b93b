"""URL converters shared by every blueprint (pages, API, federation)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

# Row ids and versions are INTEGER columns: 32-bit signed on PostgreSQL. A larger number in a
# URL cannot name a row, and handed to the database it is an error (a 500), not "not found".
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """``<rowid:name>``: a positive integer a row id can be; anything else does not match the
    route, so the answer is the ordinary 404 (problem+json on JSON routes) on every database."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


def row_id_parameter_schema(_converter: RowIdConverter) -> dict[str, Any]:
    """How the OpenAPI document describes a ``<rowid:...>`` path parameter."""
    return {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
