"""No outbound call inside a request; delivery isolated per destination; strangers bounded.

In-process nodes (the federation fixture) plus real hostile HTTP servers on 127.0.0.1 for the
addresses a stranger or an official chose. The expected answers come from the rules of the
issue: an unknown key id gets 401 ``unknown_key`` at once and a job fetches; the twinning form
queues (202) and a job discovers; non-public addresses are refused by default with the same
words as a closed port; a slow twin never delays the others; pending strangers are capped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from federation import httpsig
from federation.canonical import canonical_bytes
from federation.keys import SigningKey, generate_signing_key
from node.db import session_scope
from node.network import client, keyring
from node.network.client import PolicyAdapter
from node.network.models import InEnvelope, KeyFetch, OutboxItem, Peer, PeerKey
from tests.federation.conftest import Node, Router, record, twin
from tests.federation.test_inbox_refusals import envelope, expect
from tests.hostile import (
    HostileServer,
    drip,
    hold,
    hostile,
    huge,
    json_document,
    redirect,
    stranger_twinning_request,
)

QUICK_S = 1.0  # "answers at once": generous for a loaded 2-core machine, far below any drip


# --- helpers ----------------------------------------------------------------------------------


def signed_post(to: Node, origin: str, key: SigningKey, body: bytes) -> Any:
    url = f"{to.base_url}/federation/v1/inbox"
    headers = {"Content-Type": "application/json"}
    headers.update(
        httpsig.sign_request("POST", url, headers, body, origin, key, int(to.clock().timestamp()))
    )
    return to.app.test_client().post("/federation/v1/inbox", data=body, headers=headers)


def stranger_request(to: Node, city_id: str, base_url: str, key: SigningKey) -> bytes:
    """A twinning request from a node nobody knows, whose key server is ``base_url``."""
    ms = int(to.clock().timestamp() * 1000)
    return stranger_twinning_request(city_id, base_url, key, to.city_id, ms)


def route_also_to(node: Node, *servers: HostileServer, allow_private: bool = True) -> None:
    """The node's peer calls: in-process apps through the Router, the given real servers
    through the production policy adapter (real sockets)."""
    router: Router = node.router

    def make() -> requests.Session:
        http = requests.Session()
        http.trust_env = False
        http.mount("http://", router)
        for server in servers:
            http.mount(f"{server.url}/", PolicyAdapter(allow_private))
        return http

    node.runtime.http_session = make


def count(node: Node, model: Any, *where: Any) -> int:
    with session_scope(node.runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(client, "FETCH_DEADLINE_S", 3.0)
    monkeypatch.setattr(client, "CALL_DEADLINE_S", 3.0)
    yield


# --- unknown key ids: refused at once, fetched by the job -------------------------------------

HOSTILE_KEY_SERVERS = {
    "drip": lambda: drip(2.0),
    "huge": lambda: huge(300 << 20),
    "redirect": lambda: redirect("http://127.0.0.1:9/federation/v1/keys"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_KEY_SERVERS))
def test_unknown_key_is_refused_at_once_while_the_key_server_is_hostile(
    network, short_deadlines, kind: str
) -> None:
    [gent] = network("be-gent")
    with hostile(HOSTILE_KEY_SERVERS[kind]()) as server:
        first_key = generate_signing_key()
        asked = signed_post(
            gent,
            "fr-stranger",
            first_key,
            stranger_request(gent, "fr-stranger", server.url, first_key),
        )
        assert asked.status_code == 202, asked.get_json()  # a pending stranger: fetchable
        # Now a request signed with a key id gent has never seen.
        other_key = generate_signing_key()
        body = canonical_bytes({"anything": True})
        response, elapsed = timed(lambda: signed_post(gent, "fr-stranger", other_key, body))
        expect(response, 401, "unknown_key")
        assert elapsed < QUICK_S, elapsed
        time.sleep(0.2)
        assert server.connections == 0  # the request thread did not call out at all
        assert count(gent, KeyFetch, KeyFetch.origin == "fr-stranger") == 1

        # The job does the fetch, bounded by its own deadline, and records the failure.
        route_also_to(gent, server)
        summary, took = timed(lambda: gent.sync()[1])
        assert took < client.FETCH_DEADLINE_S + 2.0, (took, summary)
        assert "1 failed" in summary
        assert server.connections == 1
        if kind == "huge":
            assert server.sent < 32 << 20  # stopped at the cap, never read 300 MB
    with session_scope(gent.runtime.sessions) as session:
        row = session.get(KeyFetch, "fr-stranger")
        assert row is not None and row.attempts == 1 and row.last_error
        keys = {k.key_id for k in session.scalars(select(PeerKey))}
    assert keys == {first_key.key_id}  # nothing learnt from the hostile server


def test_after_the_job_fetched_the_key_the_retry_is_accepted(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "10"})
    with session_scope(gent.runtime.sessions) as session:
        keyring.rotate(session, gent.runtime.config, gent.clock())
    gent.clock.advance(minutes=1)
    new_key = gent.key
    body = canonical_bytes(envelope(gent, padova, 100, key=new_key))
    before = count(padova, InEnvelope)

    refused, elapsed = timed(lambda: signed_post(padova, gent.city_id, new_key, body))
    expect(refused, 401, "unknown_key")
    assert elapsed < QUICK_S
    assert count(padova, InEnvelope) == before  # nothing stored
    assert count(padova, KeyFetch) == 1
    # Again before the job ran: still one queued fetch (deduplicated per origin).
    expect(signed_post(padova, gent.city_id, new_key, body), 401, "unknown_key")
    assert count(padova, KeyFetch) == 1

    assert padova.sync()[1].startswith("1 key documents applied")
    assert count(padova, KeyFetch) == 0
    retried = signed_post(padova, gent.city_id, new_key, body)
    assert retried.status_code == 202, retried.get_json()
    assert count(padova, InEnvelope) == before + 1


def test_no_fetch_is_queued_for_a_party_we_do_not_know(network) -> None:
    gent, padova = network("be-gent", "it-padova")  # not twinned
    body = canonical_bytes(envelope(gent, padova, 1))
    stranger_key = generate_signing_key()
    expect(signed_post(padova, gent.city_id, stranger_key, body), 401, "unknown_key")
    assert count(padova, KeyFetch) == 0 and count(padova, Peer) == 0


# --- the twinning form: queued, discovered by the job -----------------------------------------


def test_twinning_request_is_queued_and_answered_at_once(network, short_deadlines) -> None:
    [gent] = network("be-gent")
    with hostile(drip(2.0)) as server:
        response, elapsed = timed(lambda: gent.api("POST", "/peers", {"url": server.url}))
        assert elapsed < QUICK_S, elapsed
        assert response.status_code == 202, response.get_json()
        queued = response.get_json()
        assert (queued["url"], queued["state"], queued["city_id"]) == (server.url, "queued", None)
        assert response.headers["Location"].endswith(f"/api/v1/peer-discoveries/{queued['id']}")
        time.sleep(0.2)
        assert server.connections == 0
        listed = gent.api("GET", "/peer-discoveries").get_json()["items"]
        assert [d["id"] for d in listed] == [queued["id"]]
        # The same address again while queued: the same request, not a second one.
        again = gent.api("POST", "/peers", {"url": server.url + "/"})
        assert again.status_code == 202 and again.get_json()["id"] == queued["id"]

        route_also_to(gent, server)
        summary, took = timed(lambda: gent.sync()[0])
        assert took < client.FETCH_DEADLINE_S + 2.0, (took, summary)
    done = gent.api("GET", f"/peer-discoveries/{queued['id']}").get_json()
    assert (done["state"], done["code"]) == ("failed", "peer_unreachable")
    assert (
        done["reason"] == f"{server.url}/.well-known/hrcnet could not be reached as an hrcnet node."
    )
    assert gent.api("GET", "/peers").get_json()["items"] == []


def test_discovery_pins_the_key_of_a_real_partner(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    discovery = gent.request_twin({"url": padova.base_url})
    assert (discovery["state"], discovery["city_id"]) == ("requested", "it-padova")
    assert [k["key_id"] for k in discovery["keys"]] == [padova.key.key_id]
    assert gent.deliver().delivered == 1
    assert padova.api("GET", "/peers").get_json()["items"][0]["state"] == "pending"


def test_queued_discoveries_are_bounded(network, monkeypatch: pytest.MonkeyPatch) -> None:
    from node.network import peers

    monkeypatch.setattr(peers, "MAX_QUEUED_DISCOVERIES", 3)
    [gent] = network("be-gent")
    for n in range(3):
        assert (
            gent.api("POST", "/peers", {"url": f"http://127.0.0.1:{7000 + n}"}).status_code == 202
        )
    refused = gent.api("POST", "/peers", {"url": "http://127.0.0.1:7999"})
    expect(refused, 429, "too_many_requests")
    assert len(gent.api("GET", "/peer-discoveries").get_json()["items"]) == 3


# (IPv6 forms of loopback: tests/outbound/test_outbound_client.py; the form's URL check
# refuses IPv6 literals before anything is queued.)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_discovery_of_a_private_address_is_refused_by_default(network, host: str) -> None:
    [gent] = network("be-gent")
    with hostile(json_document({"city_id": "fr-lyon"}), read_request=False) as server:
        # The production policy session, setting off (the default).
        gent.runtime.http_session = client.session_factory(False)
        url = f"http://{host}:{server.port}"
        queued = gent.api("POST", "/peers", {"url": url}).get_json()
        gent.sync()
        time.sleep(0.2)
        assert server.connections == 0
    done = gent.api("GET", f"/peer-discoveries/{queued['id']}").get_json()
    assert done["state"] == "failed"
    assert done["reason"] == f"{url}/.well-known/hrcnet could not be reached as an hrcnet node."


def test_discovery_of_a_private_address_is_allowed_with_the_setting(network) -> None:
    [gent] = network("be-gent")
    with hostile(json_document({"city_id": "fr-lyon"})) as server:
        gent.runtime.http_session = client.session_factory(True)
        queued = gent.api("POST", "/peers", {"url": server.url}).get_json()
        gent.sync()
        assert server.connections >= 1  # reached: the setting allows loopback peers
    done = gent.api("GET", f"/peer-discoveries/{queued['id']}").get_json()
    # It connected and got an answer (this fake has no key document: a different failure).
    assert done["state"] == "failed" and "could not be reached" not in done["reason"]


def test_a_strangers_private_base_url_is_not_fetched_by_default(network) -> None:
    [gent] = network("be-gent")
    with hostile(json_document({}), read_request=False) as server:
        key = generate_signing_key()
        signed_post(
            gent, "fr-stranger", key, stranger_request(gent, "fr-stranger", server.url, key)
        )
        signed_post(gent, "fr-stranger", generate_signing_key(), b"{}")
        gent.runtime.http_session = client.session_factory(False)
        assert "1 failed" in gent.sync()[1]
        time.sleep(0.2)
        assert server.connections == 0


# --- strangers: pending requests bounded ------------------------------------------------------


def test_pending_requests_from_strangers_are_capped(network) -> None:
    [gent] = network("be-gent")
    gent.runtime.config.values["max_pending_twinning_requests"] = 3

    def ask(n: int) -> Any:
        key = generate_signing_key()
        city = f"fr-stranger-{n}"
        return signed_post(gent, city, key, stranger_request(gent, city, "http://127.0.0.1:9", key))

    for n in (1, 2, 3):  # up to the cap (the third arrives with 2 waiting: cap - 1)
        assert ask(n).status_code == 202
    stored = count(gent, InEnvelope)
    expect(ask(4), 429, "too_many_requests")  # cap + 1
    assert count(gent, Peer) == 3 and count(gent, InEnvelope) == stored  # nothing written
    # An official answers one: room for one more.
    assert gent.api("POST", "/peers/fr-stranger-1/decline").status_code == 200
    assert ask(5).status_code == 202
    expect(ask(6), 429, "too_many_requests")


# --- delivery isolated per destination --------------------------------------------------------


def test_a_slow_twin_does_not_delay_delivery_to_the_others(network, short_deadlines) -> None:
    gent, graz, padova = network("be-gent", "at-graz", "it-padova")
    twin(gent, graz)
    twin(gent, padova)
    release = threading.Event()
    with hostile(hold(release)) as slow:
        # Graz (first in destination order) now answers from a server that never replies.
        with session_scope(gent.runtime.sessions) as session:
            peer = session.get(Peer, "at-graz")
            assert peer is not None
            peer.base_url = slow.url
        route_also_to(gent, slow)
        record(gent, "2025", {"HRC-HOU-01": "10"})
        assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201

        reports: list[Any] = []
        worker = threading.Thread(target=lambda: reports.append(gent.deliver()))
        worker.start()
        try:
            deadline = time.monotonic() + 5.0
            received: list[Any] = []
            while time.monotonic() < deadline and not received:
                received = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
                time.sleep(0.05)
            held = slow.connections >= 1 and worker.is_alive()
        finally:
            release.set()
            worker.join(timeout=60)
    assert held, "the slow twin should still hold its request while Padova was served"
    assert [s["period"] for s in received] == ["2025"]
    assert not worker.is_alive()
    (report,) = reports
    assert report.delivered == 1 and "at-graz" in report.failed_destinations
    with session_scope(gent.runtime.sessions) as session:
        pending = list(
            session.scalars(select(OutboxItem.destination).where(OutboxItem.state == "pending"))
        )
    assert pending == ["at-graz"]  # not delivered: still queued, for the next run


def test_an_envelope_key_we_lack_is_queued_too(network) -> None:
    # The request is signed with a key padova knows, the envelope with one it does not.
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    unknown = generate_signing_key()
    body = canonical_bytes(envelope(gent, padova, 100, key=unknown))
    refused, elapsed = timed(lambda: signed_post(padova, gent.city_id, gent.key, body))
    expect(refused, 401, "unknown_key")
    assert elapsed < QUICK_S
    with session_scope(padova.runtime.sessions) as session:
        row = session.get(KeyFetch, gent.city_id)
        assert row is not None and row.key_id == unknown.key_id


@pytest.mark.parametrize("ident", [0, 2**31, 231936531283537])
def test_unknown_discovery_ids_are_404(network, ident: int) -> None:
    [gent] = network("be-gent")
    expect(gent.api("GET", f"/peer-discoveries/{ident}"), 404, "not_found")
