"""Key rotation end to end: old summaries still verify, new ones use the new key, revoked keys
verify nothing."""

from __future__ import annotations

import json

from federation.canonical import canonical_bytes
from node.db import session_scope
from node.network import keyring
from tests.federation.conftest import Node, record, twin
from tests.federation.test_inbox_refusals import envelope, post


def rotate(node: Node) -> tuple[str, str]:
    with session_scope(node.runtime.sessions) as session:
        return keyring.rotate(session, node.runtime.config, node.clock())


def revoke(node: Node, key_id: str) -> None:
    with session_scope(node.runtime.sessions) as session:
        keyring.revoke(session, node.runtime.config, key_id, node.clock())


def summaries(node: Node, origin: str) -> list[dict]:
    return node.api("GET", f"/peers/{origin}/summaries").get_json()["items"]


def test_rotation_then_revocation(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    old_key = gent.key
    record(gent, "2025", {"HRC-HOU-01": "10"})
    gent.api("POST", "/summaries", {"period": "2025"})
    gent.deliver()

    old_id, new_id = rotate(gent)
    assert old_id == old_key.key_id and gent.key.key_id == new_id != old_id
    keydoc = gent.app.test_client().get("/federation/v1/keys").get_json()
    assert set(keydoc["payload"]["verify_keys"]) == {new_id}
    assert old_id in keydoc["payload"]["old_verify_keys"]
    assert set(keydoc["signatures"]["be-gent"]) == {old_id, new_id}  # co-signed in the overlap

    gent.clock.advance(minutes=5)
    record(gent, "2025", {"HRC-HOU-01": "11"})
    gent.api("POST", "/summaries", {"period": "2025"})
    # Padova does not know the new key: 401 unknown_key at once, no fetch in its inbox request;
    # its fetch_peer_keys job reads Gent's key document; Gent's retry then goes through.
    first = gent.deliver()
    assert first.delivered == 0 and "unknown_key" in first.failed_destinations["it-padova"]
    padova.sync()
    assert gent.deliver().delivered == 1  # Padova fetched the new key, trusted via the old one
    items = summaries(padova, "be-gent")
    assert [json.loads(i["envelope"])["key_id"] for i in items] == [old_id, new_id]
    assert all(i["verified"] for i in items)
    assert set(json.loads(items[1]["envelope"])["signatures"]["be-gent"]) == {old_id, new_id}

    # After the overlap the old key is revoked: what it signed no longer verifies at Padova.
    gent.clock.advance(days=8)
    revoke(gent, old_id)
    assert padova.pull()["be-gent"][1] is None  # the pull refreshes Gent's key document
    items = summaries(padova, "be-gent")
    # rev 1 (old key only) no longer verifies; rev 2 still does through the new key.
    assert [i["verified"] for i in items] == [False, True]
    # A new document signed with the revoked key is refused.
    forged = envelope(gent, padova, 9_000, key=old_key)
    response = post(gent, padova, canonical_bytes(forged))
    assert response.status_code == 401


def test_revoking_the_current_key_is_refused(network) -> None:
    [gent] = network("be-gent")
    import pytest

    from node.errors import ConflictError

    with pytest.raises(ConflictError):
        revoke(gent, gent.key.key_id)


def test_a_jobs_key_gate_fetches_an_unknown_key_at_once(network, caplog) -> None:  # type: ignore[no-untyped-def]
    """The key gate's third layer (§4.6): with an HTTP session (a job, e.g. the pull), a key
    Padova does not hold is fetched from the origin's key document at once and verifies the
    document; at most one fetch per origin per minute; an origin that is no peer is not
    called at all."""
    from node.network.keygate import KeyGate

    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    _old_id, new_id = rotate(gent)
    created = int(gent.clock().timestamp() * 1000)
    runtime = padova.runtime
    with session_scope(runtime.sessions) as session:
        before = KeyGate(session, padova.clock())  # a request's gate: no HTTP, only noted
        assert before.document_key("be-gent", new_id, created) is None
        assert before.missing == [("be-gent", new_id)]
    with session_scope(runtime.sessions) as session:
        gate = KeyGate(session, padova.clock(), http=runtime.http_session)
        assert gate.document_key("be-gent", new_id, created) == gent.key.public_raw  # fetched
        assert gate.document_key("at-graz", new_id, created) is None  # no peer: no call
        assert gate.missing == []
    # Gent rotates again within the minute: the gate does not fetch again yet ...
    _, newest_id = rotate(gent)
    with session_scope(runtime.sessions) as session:
        gate = KeyGate(session, padova.clock(), http=runtime.http_session)
        assert gate.document_key("be-gent", newest_id, created) is None
    keyring.FETCH_GATE._last.clear()  # ... a minute later it does
    with session_scope(runtime.sessions) as session:
        gate = KeyGate(session, padova.clock(), http=runtime.http_session)
        assert gate.document_key("be-gent", newest_id, created) == gent.key.public_raw
        assert gate.missing == []
    # Gent unreachable: nothing fetched, and the log says whose key document failed and why.
    _, unreachable_id = rotate(gent)
    gent.set_down(True)
    keyring.FETCH_GATE._last.clear()
    logs = caplog.at_level("WARNING", logger="node.network.keygate")
    with logs, session_scope(runtime.sessions) as session:
        gate = KeyGate(session, padova.clock(), http=runtime.http_session)
        assert gate.document_key("be-gent", unreachable_id, created) is None
    [record] = [r for r in caplog.records if r.name == "node.network.keygate"]
    message = record.getMessage()
    assert message.startswith("key document of be-gent not usable: ")
    assert message != "key document of be-gent not usable: None"
