"""Review envelopes at a home node's inbox, through the review package's registered handlers.

The rules (docs/protocol.md §8.5 and §7.2): a review message names its type's schema
(``hrc.review.action/1``, else ``422 unsupported_schema``, whatever its payload), and travels in
its own review's stream ``review/<review_id>`` (else ``422 wrong_stream``: replay and rollback are
checked per stream, so a message in another review's stream would escape them). A refusal
stores nothing: no received envelope, no event, the same head. Each refusal is pinned beside the
same message made right, which is accepted.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from node.db import session_scope
from node.network.models import InEnvelope
from tests.federation.conftest import SECRETARIAT, Node
from tests.federation.test_inbox_refusals import post
from tests.federation.test_peer_review import (
    signed_review_message,
    submitted_review,
    token_for,
    view,
)
from tests.federation.test_secretariat import join

OTHER_REVIEW = "0123456789abcdef"


def _signed(node: Node, payload: dict[str, Any], **kw: Any) -> bytes:
    return signed_review_message(
        node, "hrc.review.action", payload["review_id"], payload, 900, SECRETARIAT, **kw
    )


def _received(node: Node) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(InEnvelope)) or 0


@pytest.fixture
def requested(network) -> tuple[Node, Node, str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Gent's review submitted to the secretariat (its home), and Gent's valid withdrawal."""
    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    rid = submitted_review(gent, secretariat, token_for(gent, "admin"))
    assert view(secretariat, rid)["state"] == "requested"
    withdraw = {
        "review_id": rid,
        "home": SECRETARIAT,
        "cur": "be-gent",
        "action": "withdraw",
        "role": "validating_authority",
        "data": {},
    }
    return secretariat, gent, rid, withdraw


def _refused(sender: Node, home: Node, rid: str, body: bytes, code: str) -> None:
    before_view, before_received = view(home, rid), _received(home)
    response = post(sender, home, body)
    assert (response.status_code, response.get_json()["code"]) == (422, code)
    after = view(home, rid)
    assert (after["state"], after["head_index"], after["head_hash"]) == (
        before_view["state"],
        before_view["head_index"],
        before_view["head_hash"],
    )
    assert _received(home) == before_received


def test_a_review_action_in_another_reviews_stream_is_refused_and_stores_nothing(
    requested,  # type: ignore[no-untyped-def]
) -> None:
    secretariat, gent, rid, withdraw = requested
    elsewhere = _signed(gent, withdraw, stream=f"review/{OTHER_REVIEW}")
    _refused(gent, secretariat, rid, elsewhere, "wrong_stream")
    # The same action in its own review's stream is decided: the review is withdrawn.
    own = _signed(gent, withdraw, stream=f"review/{rid}")
    assert post(gent, secretariat, own).status_code == 202
    assert view(secretariat, rid)["state"] == "withdrawn"


def test_a_review_action_naming_another_schema_version_is_refused_before_its_payload(
    requested,  # type: ignore[no-untyped-def]
) -> None:
    secretariat, gent, rid, withdraw = requested
    stream = f"review/{rid}"
    v2 = _signed(gent, withdraw, stream=stream, schema="hrc.review.action/2")
    _refused(gent, secretariat, rid, v2, "unsupported_schema")
    # Schema first: a wrong version with a malformed payload is still unsupported_schema.
    malformed = {k: v for k, v in withdraw.items() if k != "role"}
    v2_malformed = _signed(gent, malformed, stream=stream, schema="hrc.review.action/2")
    _refused(gent, secretariat, rid, v2_malformed, "unsupported_schema")
    # With the right schema the malformed payload is refused as such, the right one decided.
    v1_malformed = _signed(gent, malformed, stream=stream)
    _refused(gent, secretariat, rid, v1_malformed, "invalid_payload")
    assert post(gent, secretariat, _signed(gent, withdraw, stream=stream)).status_code == 202
    assert view(secretariat, rid)["state"] == "withdrawn"
