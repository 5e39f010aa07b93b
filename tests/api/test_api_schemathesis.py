"""schemathesis against /api/openapi.json: no server error, no response that breaks the spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi import checks as openapi_checks

from tests.support import Caller

load_all_checks()

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]


def property_test(operation: Any, headers: dict[str, str]) -> Callable[[], None]:
    """A hypothesis test that calls one operation with generated requests and checks answers."""

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def exercise(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return exercise


@pytest.mark.parametrize("as_official", [False, True], ids=["anonymous", "official"])
def test_api_conforms_to_its_openapi_document(
    app: Flask, official: Caller, as_official: bool
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    headers = official.headers if as_official else {}
    failures: list[str] = []
    operations = 0
    exercised: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        exercised.add(f"{operation.method.upper()} {operation.path}")
        try:
            property_test(operation, headers)()
        except Exception as error:  # collect, so one run reports every failing operation
            failures.append(f"{operation.method.upper()} {operation.path}: {error}"[:3000])
    assert operations >= 20
    # The import form (multipart/form-data request body) is generated and sent like the rest.
    assert "POST /api/v1/results/import" in exercised
    assert not failures, "\n\n".join(failures)
