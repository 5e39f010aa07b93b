"""The inbox's ordering and provenance promises, pinned at their edges.

* ``seq`` per (origin, stream): once ``last`` is accepted, ``last − 1`` is a rollback (409
  ``rollback``, an incident, nothing stored), ``last`` again is a harmless duplicate when it is
  the same document and an equivocation (409 ``equivocation``) when it is not, ``last + 1`` is
  accepted.
* ``created_ts`` may be at most 300 000 ms ahead of the receiver's clock: exactly that is
  accepted, one millisecond more is 422 ``future_document``.
* Provenance: a twin may deliver only its own envelopes. A third twin relaying another city's
  genuinely signed envelope is refused with 403 ``origin_mismatch`` and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from federation.canonical import canonical_bytes
from federation.envelope import envelope_sha256
from node.db import session_scope
from node.network.models import FederationIncident, InEnvelope
from tests.federation.conftest import BACKENDS, Node, twin
from tests.federation.test_inbox_refusals import envelope, expect, post, stored, summary_payload

# Every test here runs on SQLite and, in the PostgreSQL lane, on PostgreSQL: each node
# has its own database, as separate cities would.
pytestmark = pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)

LAST = 200


@pytest.fixture
def trio(network):  # type: ignore[no-untyped-def]
    """Gent twinned with Padova; Graz on the network too."""
    gent, padova, graz = network("be-gent", "it-padova", "at-graz")
    twin(gent, padova)
    return gent, padova, graz


def _incidents(node: Node) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(node.runtime.sessions) as session:
        return [
            (i.origin, i.kind, dict(i.detail))
            for i in session.scalars(select(FederationIncident).order_by(FederationIncident.id))
        ]


def _seqs(node: Node, origin: str) -> list[int]:
    """The seqs of ``origin``'s summaries stream stored by ``node``."""
    with session_scope(node.runtime.sessions) as session:
        query = select(InEnvelope.seq).where(
            InEnvelope.origin == origin, InEnvelope.stream == "summaries"
        )
        return sorted(session.scalars(query).all())


def _accepted_at_last(nodes: tuple[Node, Node, Node]) -> tuple[Node, Node, bytes, list[int]]:
    gent, padova, _ = nodes
    first = canonical_bytes(envelope(gent, padova, LAST))
    assert post(gent, padova, first).status_code == 202
    return gent, padova, first, _seqs(padova, "be-gent")


def test_seq_one_below_the_last_accepted_is_a_rollback(trio) -> None:
    gent, padova, _first, before = _accepted_at_last(trio)
    # A newer revision, so only the seq can be the reason for the refusal.
    older = envelope(gent, padova, LAST - 1, payload=summary_payload(gent, revision=2))
    expect(post(gent, padova, canonical_bytes(older)), 409, "rollback")
    assert _seqs(padova, "be-gent") == before
    assert _incidents(padova) == [
        ("be-gent", "rollback", {"seq": LAST - 1, "stream": "summaries", "last": LAST})
    ]


def test_seq_equal_to_the_last_same_document_is_a_duplicate(trio) -> None:
    gent, padova, first, before = _accepted_at_last(trio)
    again = post(gent, padova, first)
    assert (again.status_code, again.get_json()) == (200, {"status": "duplicate"})
    assert _seqs(padova, "be-gent") == before and _incidents(padova) == []


def test_seq_equal_to_the_last_other_document_is_an_equivocation(trio) -> None:
    gent, padova, first, before = _accepted_at_last(trio)
    other = envelope(gent, padova, LAST, payload=summary_payload(gent, revision=2))
    expect(post(gent, padova, canonical_bytes(other)), 409, "equivocation")
    assert _seqs(padova, "be-gent") == before
    [(origin, kind, detail)] = _incidents(padova)
    assert (origin, kind) == ("be-gent", "equivocation")
    assert detail["seq"] == LAST and detail["received"] == envelope_sha256(other)
    assert detail["stored"] != detail["received"]


def test_seq_one_above_the_last_is_accepted(trio) -> None:
    gent, padova, _first, before = _accepted_at_last(trio)
    newer = envelope(gent, padova, LAST + 1, payload=summary_payload(gent, revision=2))
    response = post(gent, padova, canonical_bytes(newer))
    assert (response.status_code, response.get_json()) == (202, {"status": "accepted"})
    assert _seqs(padova, "be-gent") == [*before, LAST + 1] and _incidents(padova) == []


def test_a_third_twin_relaying_another_citys_envelope_is_refused(trio) -> None:
    """Graz, an active twin of Padova, forwards an envelope Gent really signed for Padova."""
    gent, padova, graz = trio
    twin(graz, padova)
    relayed = canonical_bytes(envelope(gent, padova, 100))
    before = stored(padova)
    # The request is Graz's own, correctly signed: only the envelope's origin is someone else's.
    expect(post(graz, padova, relayed), 403, "origin_mismatch")
    assert stored(padova) == before
    assert _seqs(padova, "be-gent") == []
    # The same bytes from their author are fine: the refusal was about who delivered them.
    assert post(gent, padova, relayed).status_code == 202


def test_created_ts_at_the_future_limit_and_one_ms_beyond(trio) -> None:
    gent, padova, _ = trio
    now_ms = int(padova.clock().timestamp() * 1000)
    beyond = envelope(gent, padova, 101, created_ms=now_ms + 300_001)
    expect(post(gent, padova, canonical_bytes(beyond)), 422, "future_document")
    assert _seqs(padova, "be-gent") == []
    limit = envelope(gent, padova, 102, created_ms=now_ms + 300_000)
    assert post(gent, padova, canonical_bytes(limit)).status_code == 202
    assert _seqs(padova, "be-gent") == [102]
