"""Civil-society parallel figures (issue 16): entry rules, ownership, API refusals, signing.

Expected answers come from the rules of the issue: a CSO partner states its own figure (method
and source required, the unit's range applies), officials may not edit it, the public sees
published ones only, and a published figure is signed by the node as the CSO's statement.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask.testing import FlaskClient
from sqlalchemy import func, select

from node.models import CsoFigure, Result
from node.network.models import OutEnvelope
from tests.support import Caller

FIGURE = {
    "indicator": "HRC-HOU-01",  # households per 10,000 households: a rate, 0 to 10,000
    "period": "2025",
    "value": "140.5",
    "disaggregation": {"SEX": "F"},
    "organisation": "Housing Watch",
    "method": "door-to-door survey of 1,200 households, weighted by district",
    "source": "Housing Watch annual survey 2025",
    "note": "the city's figure counts only registered evictions",
}


@pytest.fixture
def cso(create_user: Callable[..., Caller]) -> Caller:
    return create_user("cso_partner")


def post(client: FlaskClient, who: Caller | None, body: Any) -> Any:
    return client.post(
        "/api/v1/cso-figures", json=body, headers=who.headers if who is not None else {}
    )


def publish(client: FlaskClient, who: Caller | None, figure_id: int) -> Any:
    return client.post(
        f"/api/v1/cso-figures/{figure_id}/publish",
        headers=who.headers if who is not None else {},
    )


def count_rows(db: Callable[[], Any]) -> tuple[int, int, int]:
    """(cso figures, official results, signed envelopes): what a refusal must leave untouched."""
    with db() as session:
        return (
            session.scalar(select(func.count()).select_from(CsoFigure)),
            session.scalar(select(func.count()).select_from(Result)),
            session.scalar(select(func.count()).select_from(OutEnvelope)),
        )


def test_cso_partner_enters_a_draft_the_public_does_not_see(
    client: FlaskClient, cso: Caller
) -> None:
    response = post(client, cso, FIGURE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft" and body["value"] == "140.5"
    assert body["organisation"] == "Housing Watch" and body["disaggregation"] == {"SEX": "F"}
    assert client.get("/api/v1/cso-figures").get_json()["items"] == []
    mine = client.get("/api/v1/cso-figures", headers=cso.headers).get_json()["items"]
    assert [item["id"] for item in mine] == [body["id"]]


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("0", True), ("-0.01", False), ("10000", True), ("10000.01", False)],
)
def test_the_units_range_applies_at_its_edges(
    client: FlaskClient, cso: Caller, db: Callable[[], Any], value: str, accepted: bool
) -> None:
    response = post(client, cso, {**FIGURE, "value": value})
    if accepted:
        assert response.status_code == 201, response.get_json()
        return
    assert response.status_code == 422
    body = response.get_json()
    assert "value" in body["errors"]
    assert count_rows(db) == (0, 0, 0)


@pytest.mark.parametrize("missing", ["organisation", "method", "source"])
def test_organisation_method_and_source_are_required(
    client: FlaskClient, cso: Caller, db: Callable[[], Any], missing: str
) -> None:
    for body in ({k: v for k, v in FIGURE.items() if k != missing}, {**FIGURE, missing: "   "}):
        response = post(client, cso, body)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "validation_failed"
        assert missing in response.get_json()["errors"]
    assert count_rows(db) == (0, 0, 0)


@pytest.mark.parametrize(("field", "limit"), [("organisation", 300), ("method", 2000)])
def test_texts_are_bounded(
    client: FlaskClient, cso: Caller, db: Callable[[], Any], field: str, limit: int
) -> None:
    assert post(client, cso, {**FIGURE, field: "x" * limit}).status_code == 201
    with db() as session:
        session.execute(CsoFigure.__table__.delete())
    response = post(client, cso, {**FIGURE, field: "x" * (limit + 1)})
    assert response.status_code == 422 and field in response.get_json()["errors"]
    assert count_rows(db) == (0, 0, 0)


def test_unknown_indicator_breakdown_and_period_are_refused(
    client: FlaskClient, cso: Caller, db: Callable[[], Any]
) -> None:
    for body, field in (
        ({**FIGURE, "indicator": "HRC-NOPE-01"}, "indicator"),
        ({**FIGURE, "disaggregation": {"SEX": "Q"}}, "SEX"),
        ({**FIGURE, "period": "2025-Q5"}, "period"),
        ({**FIGURE, "indicator": "HRC-GOV-01", "disaggregation": {}, "value": "3"}, "value"),
    ):
        response = post(client, cso, body)
        assert response.status_code == 422, body
        assert field in json.dumps(response.get_json()["errors"]), response.get_json()
    assert count_rows(db) == (0, 0, 0)


@pytest.mark.parametrize("role", ["official", "data_collector", "viewer", "reviewer"])
def test_city_staff_may_not_state_a_cso_figure(
    client: FlaskClient, create_user: Callable[..., Caller], db: Callable[[], Any], role: str
) -> None:
    response = post(client, create_user(role), FIGURE)
    assert response.status_code == 403
    assert response.get_json()["code"] == "role_not_allowed"
    assert count_rows(db) == (0, 0, 0)


def test_anonymous_may_not_post(client: FlaskClient, db: Callable[[], Any]) -> None:
    response = post(client, None, FIGURE)
    assert response.status_code == 401
    assert response.get_json()["code"] == "authentication_required"
    assert count_rows(db) == (0, 0, 0)


def test_officials_may_not_publish_or_change_a_cso_figure(
    client: FlaskClient, cso: Caller, official: Caller, db: Callable[[], Any]
) -> None:
    figure = post(client, cso, FIGURE).get_json()
    before = count_rows(db)
    response = publish(client, official, figure["id"])
    assert response.status_code == 403 and response.get_json()["code"] == "role_not_allowed"
    response = post(client, official, {**FIGURE, "value": "1"})
    assert response.status_code == 403
    assert count_rows(db) == before
    with db() as session:
        row = session.get(CsoFigure, figure["id"])
        assert (row.value_text, row.status, row.envelope_sha256) == ("140.5", "draft", None)


def test_another_cso_partner_may_not_overwrite_or_publish_its_statement(
    client: FlaskClient, cso: Caller, create_user: Callable[..., Caller], db: Callable[[], Any]
) -> None:
    figure = post(client, cso, FIGURE).get_json()
    intruder = create_user("cso_partner")
    response = post(client, intruder, {**FIGURE, "value": "1"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "cso_figure_not_yours"
    response = publish(client, intruder, figure["id"])
    assert response.status_code == 403
    assert response.get_json()["code"] == "cso_figure_not_yours"
    with db() as session:
        row = session.get(CsoFigure, figure["id"])
        assert (row.value_text, row.status) == ("140.5", "draft")
    assert count_rows(db) == (1, 0, 0)


def test_the_owner_corrects_its_draft_in_place(client: FlaskClient, cso: Caller) -> None:
    first = post(client, cso, FIGURE).get_json()
    second = post(client, cso, {**FIGURE, "value": "150"}).get_json()
    assert second["id"] == first["id"] and second["value"] == "150"


def test_publish_unknown_figure_is_404(client: FlaskClient, cso: Caller) -> None:
    response = publish(client, cso, 999)
    assert response.status_code == 404
    assert response.get_json()["code"] == "cso_figure_not_found"


def test_a_cso_figure_never_enters_the_official_results(client: FlaskClient, cso: Caller) -> None:
    figure = post(client, cso, FIGURE).get_json()
    assert publish(client, cso, figure["id"]).status_code == 200
    official = client.get("/api/v1/results?indicator=HRC-HOU-01").get_json()
    assert official["total"] == 0


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def signed_bytes(envelope: dict[str, Any]) -> bytes:
    """RFC 8785 of the envelope without ``signatures`` and ``unsigned`` (the contract)."""
    return rfc8785.dumps({k: v for k, v in envelope.items() if k not in ("signatures", "unsigned")})


def check_signature(envelope: dict[str, Any], public_key: bytes) -> None:
    """Ed25519 over the signed bytes, written here from the contract (not the node's verifier)."""
    signature = envelope["signatures"][envelope["origin"]][envelope["key_id"]]
    Ed25519PublicKey.from_public_bytes(public_key).verify(unb64(signature), signed_bytes(envelope))


def test_published_figure_is_a_signed_statement_served_verbatim(
    client: FlaskClient, cso: Caller, db: Callable[[], Any]
) -> None:
    figure = post(client, cso, FIGURE).get_json()
    response = publish(client, cso, figure["id"])
    assert response.status_code == 200, response.get_json()
    published = response.get_json()
    assert published["status"] == "published"
    sha = published["statement_sha256"]
    served = client.get(f"/public/cso-statements/{sha}")
    assert served.status_code == 200 and served.mimetype == "application/json"
    envelope = json.loads(served.data)
    assert served.data == rfc8785.dumps(envelope)  # the canonical text, byte for byte
    assert hashlib.sha256(signed_bytes(envelope)).hexdigest() == sha
    keys = json.loads(client.get("/federation/v1/keys").get_data())
    verify_keys = keys["payload"]["verify_keys"]
    check_signature(keys, unb64(verify_keys[keys["key_id"]]["key"]))
    public_key = unb64(verify_keys[envelope["key_id"]]["key"])
    check_signature(envelope, public_key)
    payload = envelope["payload"]
    assert payload["organisation"] == "Housing Watch" and payload["value"] == "140.5"
    assert payload["official"] is False and payload["indicator"] == "HRC-HOU-01"
    assert envelope["audience"] == []
    forged = json.loads(served.data)
    forged["payload"]["value"] = "14.5"
    with pytest.raises(InvalidSignature):
        check_signature(forged, public_key)
    public = client.get("/api/v1/cso-figures?indicator=HRC-HOU-01").get_json()["items"]
    assert [item["statement_sha256"] for item in public] == [sha]
    # signed and public: it cannot change any more, and that refusal writes nothing
    before = count_rows(db)
    again = post(client, cso, {**FIGURE, "value": "1"})
    assert again.status_code == 409 and again.get_json()["code"] == "cso_figure_published"
    republish = publish(client, cso, figure["id"])
    assert republish.status_code == 409
    assert count_rows(db) == before


def test_unknown_or_malformed_statement_hash_is_404(client: FlaskClient, cso: Caller) -> None:
    figure = post(client, cso, FIGURE).get_json()
    assert client.get(f"/public/cso-statements/{'0' * 64}").status_code == 404
    assert client.get("/public/cso-statements/not-a-hash").status_code == 404
    assert figure["statement_sha256"] is None


def test_an_administrator_writes_its_own_but_not_a_partners_statement(
    client: FlaskClient, cso: Caller, admin: Caller, db: Callable[[], Any]
) -> None:
    figure = post(client, cso, FIGURE).get_json()
    response = publish(client, admin, figure["id"])
    assert response.status_code == 403
    assert response.get_json()["code"] == "cso_figure_not_yours"
    assert count_rows(db) == (1, 0, 0)
    own = post(client, admin, {**FIGURE, "organisation": "City Ombudsperson's forum"})
    assert own.status_code == 201
    assert publish(client, admin, own.get_json()["id"]).status_code == 200
