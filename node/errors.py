"""Domain errors: each carries its RFC 9457 problem type, HTTP status and machine ``code``.

Services raise these; the API turns them into ``application/problem+json``, the pages into a
readable message, the CLI into a message and exit code 1. Services never build HTTP responses.

``detail`` is English and part of the API contract. Pages show a refusal in the reader's language
from its ``code`` (``node.refusals``): ``variant`` names which rule of a shared code refused (a
page-side key, never sent) and ``params`` carries the values the English ``detail`` quotes, so
a translation can say them too. Neither appears in the problem+json body.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://hrcnet.org/problems/"


class DomainError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Any = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        variant: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.errors = errors
        self.extra = extra or {}
        # Page-side only (node.refusals): the values the detail quotes, and which rule refused.
        self.params = params or {}
        self.variant = variant

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.code.replace("_", "-")

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class InvalidInputError(DomainError):
    status = 422
    code = "validation_failed"
    title = "Invalid input"


class ConflictError(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class AuthenticationRequiredError(DomainError):
    status = 401
    code = "authentication_required"
    title = "Authentication required"


class PermissionDeniedError(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"
