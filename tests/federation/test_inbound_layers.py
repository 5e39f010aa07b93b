"""The layered inbound path of issue 13, at its edges.

* Incidents on pull: an equivocation or a rollback seen through a PULL is recorded exactly as
  one seen through a push (before, the incident travelled in ``session.info`` and only the push
  path wrote it: the pull's rollback lost it), and nothing of the refused envelope is stored.
* The handler registry: a second handler for an envelope type stops ``create_app`` at start-up
  (DuplicateRegistration naming the type); an envelope type nobody registered is still 422
  ``unknown_type`` with nothing stored; the registry the app runs with is frozen.
* The pipeline loads the payload with the route's schema: a summary with a malformed payload is
  422 ``invalid_payload``, a summary declaring another schema 422 ``unsupported_schema``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from federation.canonical import canonical_bytes
from federation.envelope import envelope_sha256, make_envelope, sign_envelope
from node import features
from node.app import create_app
from node.db import session_scope
from node.network.models import FederationIncident, InEnvelope, OutEnvelope
from node.network.registry import DuplicateRegistration, InboundRegistry
from tests.federation.conftest import BACKENDS, Node, record, twin
from tests.federation.test_inbox_refusals import envelope, expect, post, stored, summary_payload

pytestmark = pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)


@pytest.fixture
def pair(network):  # type: ignore[no-untyped-def]
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    return gent, padova


def _incidents(node: Node) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(node.runtime.sessions) as session:
        return [
            (i.origin, i.kind, dict(i.detail))
            for i in session.scalars(select(FederationIncident).order_by(FederationIncident.id))
        ]


def _next_out_seq(node: Node) -> int:
    """The seq the node's next signed envelope gets (one counter for all its streams)."""
    with session_scope(node.runtime.sessions) as session:
        return (session.scalar(select(func.max(OutEnvelope.seq))) or 0) + 1


def _summary_sha(node: Node, seq: int) -> str:
    with session_scope(node.runtime.sessions) as session:
        row = session.get(OutEnvelope, seq)
        assert row is not None and row.stream == "summaries"
        return row.sha256


def _stored_seqs(node: Node, origin: str) -> list[int]:
    with session_scope(node.runtime.sessions) as session:
        query = select(InEnvelope.seq).where(
            InEnvelope.origin == origin, InEnvelope.stream == "summaries"
        )
        return sorted(session.scalars(query))


def _signed(sender: Node, to: Node, kind: tuple[str, str, str], payload: dict[str, Any]) -> bytes:
    """Canonical bytes of an envelope of (type, schema, stream), signed by ``sender``."""
    type_, schema, stream = kind
    created = int(sender.clock().timestamp() * 1000)
    unsigned = make_envelope(
        type_, schema, sender.city_id, stream, 50, created, sender.key.key_id, [to.city_id], payload
    )
    return canonical_bytes(sign_envelope(unsigned, sender.city_id, sender.key))


# --- incidents seen through a pull ----------------------------------------------------------------


def test_an_equivocation_seen_through_a_pull_is_recorded(pair) -> None:
    gent, padova = pair
    seq = _next_out_seq(gent)
    # Gent (its real key) pushes one document with that seq, then signs another one with the
    # same seq in the same stream: the one its outbox serves to a pull.
    pushed = envelope(gent, padova, seq, payload=summary_payload(gent, value="1"))
    assert post(gent, padova, canonical_bytes(pushed)).status_code == 202
    record(gent, "2025", {"HRC-HOU-01": "9"})
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    before = stored(padova)

    accepted, error = padova.pull()["be-gent"]

    assert (accepted, error) == (0, None)  # refused (409, permanent): the cursor moves on
    assert stored(padova) == before and _stored_seqs(padova, "be-gent") == [seq]
    [(origin, kind, detail)] = _incidents(padova)
    assert (origin, kind) == ("be-gent", "equivocation")
    assert detail == {
        "seq": seq,
        "stream": "summaries",
        "stored": envelope_sha256(pushed),
        "received": _summary_sha(gent, seq),
    }


def test_a_rollback_seen_through_a_pull_is_recorded(pair) -> None:
    gent, padova = pair
    seq = _next_out_seq(gent)
    ahead = seq + 1  # one above: the smallest gap that makes seq a rollback
    assert post(gent, padova, canonical_bytes(envelope(gent, padova, ahead))).status_code == 202
    record(gent, "2025", {"HRC-HOU-01": "9"})
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    before = stored(padova)

    padova.pull()

    assert stored(padova) == before and _stored_seqs(padova, "be-gent") == [ahead]
    assert _incidents(padova) == [
        ("be-gent", "rollback", {"seq": seq, "stream": "summaries", "last": ahead})
    ]


def test_the_same_document_again_through_a_pull_is_no_incident(pair) -> None:
    """The edge on the other side: push then pull of the very same bytes is a duplicate."""
    gent, padova = pair
    record(gent, "2025", {"HRC-HOU-01": "9"})
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    assert gent.deliver().delivered == 1
    before = stored(padova)
    assert padova.pull()["be-gent"] == (0, None)
    assert stored(padova) == before and _incidents(padova) == []


# --- the handler registry ------------------------------------------------------------------------


def _rogue_summary_handler(registry: InboundRegistry) -> None:
    registry.register("hrc.summary", stream="summaries", schema=None, handler=lambda inbound: None)


def test_a_second_handler_for_a_type_stops_the_app_at_start_up(
    network, monkeypatch: pytest.MonkeyPatch
) -> None:
    [gent] = network("be-gent")
    rogue = features.Feature("rogue", _rogue_summary_handler)
    monkeypatch.setattr(features, "FEATURES", (*features.FEATURES, rogue))
    with pytest.raises(DuplicateRegistration, match=r"hrc\.summary already has a handler"):
        create_app(gent.data_dir, {"clock": gent.clock})


def test_the_registry_the_app_runs_with_is_frozen(pair) -> None:
    gent, _ = pair
    registry = gent.runtime.inbound
    assert registry.frozen
    with pytest.raises(DuplicateRegistration, match="frozen"):
        _rogue_summary_handler(registry)
    # Each feature's types, once (the list the inbox dispatches on, push and pull alike).
    assert {"hrc.summary", "hrc.twinning.request", "hrc.directory", "hrc.review.action"} <= set(
        registry.types()
    )


def test_an_unknown_type_is_still_refused_with_nothing_stored(pair) -> None:
    gent, padova = pair
    unknown = _signed(gent, padova, ("hrc.horoscope", "hrc.horoscope/1", "horoscopes"), {"a": 1})
    before = stored(padova)
    expect(post(gent, padova, unknown), 422, "unknown_type")
    assert stored(padova) == before and _incidents(padova) == []


def test_the_route_schema_loads_the_payload(pair) -> None:
    gent, padova = pair
    broken = summary_payload(gent)
    del broken["indicators"]
    before = stored(padova)
    expect(
        post(gent, padova, canonical_bytes(envelope(gent, padova, 50, payload=broken))),
        422,
        "invalid_payload",
    )
    assert stored(padova) == before


def test_the_declared_schema_is_checked_before_the_payload(pair) -> None:
    gent, padova = pair
    other = _signed(gent, padova, ("hrc.summary", "hrc.summary/2", "summaries"), {"not": "one"})
    before = stored(padova)
    expect(post(gent, padova, other), 422, "unsupported_schema")
    assert stored(padova) == before
