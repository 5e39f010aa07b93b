"""Small helpers shared by the API blueprints."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from flask_smorest import Blueprint
from marshmallow import Schema, fields

F = TypeVar("F", bound=Callable[..., Any])

BEARER = [{"bearer": []}]


def problems(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document the problem+json answers a route gives (the default error covers the rest)."""

    def decorate(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorate


def items_schema(item: type[Schema], name: str) -> type[Schema]:
    """``{"items": [...]}``: the list shape every list endpoint answers."""
    return Schema.from_dict({"items": fields.List(fields.Nested(item))}, name=name)
