"""The report form's field messages in the reader's language, from the refusal table (issue 15).

The community service writes each field message as a :class:`node.refusals.Problem`
(``validation_failed`` and a variant of its rule); the page words it from the community table
like every other refusal, beside its field; the gateways' problem+json keeps the English text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.community.test_reports import (
    TODAY,
    _generic_body,
    count,
    form_data,
    generic_headers,
)
from tests.support import Clock

MESSAGES = {
    "fr": {
        "occurred_on": "La date ne peut pas être dans le futur.",
        "description": "Décrivez ce qui s'est passé (au moins 10 caractères).",
    },
    "sw": {
        "occurred_on": "Tarehe haiwezi kuwa ya siku zijazo.",
        "description": "Eleza kilichotokea (angalau herufi 10).",
    },
    "en": {
        "occurred_on": "The date cannot be in the future.",
        "description": "Describe what happened (at least 10 characters).",
    },
}


def _field_error(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', html)
    assert found, f"no message beside {field}"
    return found.group(1).strip().replace("&#39;", "'").replace("’", "'")


@pytest.mark.parametrize("locale", ["fr", "sw", "en"])
def test_report_form_messages_are_in_the_readers_language_beside_their_fields(
    cclient: FlaskClient, cdb: Callable[[], Any], locale: str
) -> None:
    cclient.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    data = form_data(
        cclient,
        occurred_on=(TODAY + timedelta(days=1)).isoformat(),  # tomorrow: the first refused day
        description="x" * 9,  # one character short of the minimum
    )
    answer = cclient.post("/report", data=data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    for field, message in MESSAGES[locale].items():
        assert _field_error(html, field) == message
    if locale != "en":
        assert "cannot be in the future" not in html and "at least 10 characters" not in html
    assert count(cdb) == 0


def test_the_gateway_keeps_the_english_field_messages(
    cclient: FlaskClient, cdb: Callable[[], Any], clock: Clock
) -> None:
    body = _generic_body(text="EVICTION D01 short")
    answer = cclient.post(
        "/api/v1/community/sms/generic",
        data=body,
        headers={**generic_headers(body, int(clock().timestamp())), "Accept-Language": "fr"},
    )
    assert answer.status_code == 422
    assert answer.json["code"] == "report_invalid"
    # The SMS reply (and the problem's detail) names the field's rule in the SMS's language, by
    # the same sentence: a Problem is still the English msgid.
    assert answer.json["detail"].endswith(f"(description: {MESSAGES['en']['description']})")
    assert "variant" not in answer.json and "params" not in answer.json
    assert count(cdb) == 0
