"""Federation between real ``hrcnet serve`` processes on 127.0.0.1.

Each node is a gunicorn arbiter + worker + its one scheduler (``deliver_outbox`` every 5 s,
``pull_peers`` every 300 s). What crosses between nodes crosses over real HTTP, signed; outages
are real stopped processes; ``hrcnet sync`` is the operator's "run the jobs once now".

Every wait is a poll with a deadline (the harness's ``wait_until``), never a bare sleep. After a
failed delivery a node backs off for at least 48 s (60 s × jitter 0.8), so whenever a test needs
the queued envelopes to move sooner it runs ``hrcnet sync``, which ignores backoff.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from federation import httpsig
from federation.canonical import canonical_bytes
from federation.envelope import envelope_sha256, make_envelope, sign_envelope
from federation.keys import SigningKey, load_signing_key
from tests.multinode.harness import NodeFactory, StaffClient, official_token, wait_until

pytestmark = pytest.mark.multinode

PERIOD = "2025"
HOUSING = "HRC-HOU-01"
EDUCATION = "HRC-EDU-01"
CITIES = {
    "be-gent": ("Gent", "BE"),
    "it-padova": ("Padova", "IT"),
    "at-graz": ("Graz", "AT"),
}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# --- a node with an official's token ---------------------------------------------------------


class City(StaffClient):
    api_prefix = ""

    def record(self, values: dict[str, str]) -> None:
        # A correction of a validated figure says why (issue 15); jumps are confirmed.
        figures = [
            {
                "indicator": code,
                "period": PERIOD,
                "value": value,
                "status": "validated",
                "reason": "correction",
                "confirm_outlier": True,
            }
            for code, value in values.items()
        ]
        self.call("POST", "/api/v1/results", json=figures, expect=201)

    def publish(self) -> dict[str, Any]:
        [summary] = self.call("POST", "/api/v1/summaries", json={"period": PERIOD}, expect=201)[
            "items"
        ]
        return dict(summary)

    def correct_and_publish(self, value: str) -> dict[str, Any]:
        """A correction: a new validated value, then a new revision of the period's summary."""
        self.record({HOUSING: value})
        return self.publish()

    def own_summaries(self) -> list[dict[str, Any]]:
        return self.items("/api/v1/summaries")

    def received_from(self, other: City) -> list[dict[str, Any]]:
        return self.items(f"/api/v1/peers/{other.city_id}/summaries")

    def peer_states(self) -> dict[str, str]:
        return {p["city_id"]: p["state"] for p in self.items("/api/v1/peers")}

    def status(self) -> dict[str, Any]:
        return dict(self.call("GET", "/api/v1/federation/status"))

    def status_for(self, other: City) -> dict[str, Any]:
        for item in self.status()["items"]:
            if item["city_id"] == other.city_id:
                return dict(item)
        raise self.node.fail(f"federation status has no entry for {other.city_id}")

    def sync(self) -> str:
        return self.node.run_cli("sync", self.node.data_dir).stdout


def cities(node_factory: NodeFactory, *city_ids: str, backend: str = "sqlite") -> list[City]:
    """Nodes made by the factory (which owns their teardown), each with an official, started.

    Each node is set up in its own thread: init, official and start are mostly interpreter
    start-up and imports, which overlap well. For PostgreSQL the ``backend`` fixture has already
    resolved the server fixture, so no thread asks pytest for a fixture it has not cached.
    """

    def ready(city_id: str) -> City:
        name, country = CITIES[city_id]
        [node] = node_factory(city_id, start=False, backend=backend, name=name, country=country)
        token = official_token(node)
        node.start()
        return City(node, token)

    with ThreadPoolExecutor(max_workers=len(city_ids)) as pool:
        return list(pool.map(ready, city_ids))


def discard(*made: City) -> None:
    """End of a passed scenario: nothing left to check, so no graceful stop (1-2 s per node of
    gunicorn shutting down; graceful stops are exercised mid-scenario and by the smoke tests).
    The factory's teardown still closes what remains."""
    for city in made:
        city.node.kill()


def twin(asker: City, partner: City, *, sync: bool) -> None:
    """The handshake through the API. Both messages travel through the outboxes: by the nodes'
    schedulers, or sooner by ``hrcnet sync`` (which simply finds nothing when the scheduler got
    there first)."""
    # Queued (202): the discover_peers job (scheduler, or ``hrcnet sync``) discovers the partner.
    asked = asker.call("POST", "/api/v1/peers", json={"url": partner.base_url}, expect=202)
    assert (asked["url"], asked["state"]) == (partner.base_url, "queued")
    if sync:
        asker.sync()
    wait_until(
        f"{asker.city_id} discovered {partner.city_id}",
        lambda: (
            asker.call("GET", f"/api/v1/peer-discoveries/{asked['id']}")["state"] == "requested"
        ),
        asker,
    )
    wait_until(
        f"{partner.city_id} sees the request of {asker.city_id}",
        lambda: partner.peer_states().get(asker.city_id) == "pending",
        asker,
        partner,
    )
    accepted = partner.call("POST", f"/api/v1/peers/{asker.city_id}/accept", json={})
    assert accepted["state"] == "active"
    if sync:
        partner.sync()
    wait_until(
        f"{asker.city_id} sees {partner.city_id} as active",
        lambda: asker.peer_states().get(partner.city_id) == "active",
        asker,
        partner,
    )


def wait_for_failed_delivery(sender: City, partner: City, queued: int) -> dict[str, Any]:
    """The sender's scheduler has tried the stopped partner (tick ≤ 5 s + quick retries ≤ 5 s)
    and is now backing off, with every envelope still queued."""

    def probe() -> dict[str, Any] | None:
        status = sender.status_for(partner)
        return status if status["queue_length"] == queued and status["failures"] >= 1 else None

    return wait_until(
        f"{sender.city_id} reports a failed delivery to {partner.city_id}, {queued} queued",
        probe,
        sender,
    )


def wait_for_summaries(receiver: City, sender: City, count: int) -> list[dict[str, Any]]:
    """Poll until ``receiver`` lists at least ``count`` summaries received from ``sender``."""

    def probe() -> list[dict[str, Any]] | None:
        items = receiver.received_from(sender)
        return items if len(items) >= count else None

    return wait_until(
        f"{receiver.city_id} has {count} summaries from {sender.city_id}",
        probe,
        sender,
        receiver,
    )


def housing_value(received: dict[str, Any]) -> str:
    [indicator] = [
        i for i in json.loads(received["envelope"])["payload"]["indicators"] if i["code"] == HOUSING
    ]
    [figure] = indicator["results"]
    return str(figure["value"])


def assert_revisions_once(received: list[dict[str, Any]], sender: City, values: list[str]) -> None:
    """Revisions 1..n, each exactly once, only the newest current, bytes as the sender signed."""
    revisions = [(item["period"], item["revision"], item["current"]) for item in received]
    expected = [(PERIOD, n, n == len(values)) for n in range(1, len(values) + 1)]
    assert revisions == expected, sender.node.fail(f"received {revisions}, expected {expected}")
    assert len({item["seq"] for item in received}) == len(values)
    assert all(item["verified"] for item in received)
    assert [housing_value(item) for item in received] == values
    own = {s["revision"]: s["envelope_sha256"] for s in sender.own_summaries()}
    for item in received:
        assert (
            item["envelope_sha256"]
            == own[item["revision"]]
            == envelope_sha256(json.loads(item["envelope"]))
        )


# --- a node that is nobody's twin ------------------------------------------------------------


def graz_summary(audience: str, *, origin: str, key: SigningKey) -> bytes:
    """A well-formed hrc.summary/1 envelope about Graz, signed with ``key`` as ``origin``."""
    payload = {
        "city": {"city_id": origin, "name": "Graz", "country": "AT", "region": "europe-west"},
        "period": PERIOD,
        "revision": 1,
        "supersedes": None,
        "catalogue_version": "0.1.0",
        "themes": None,
        "suppressed_cells": 0,
        "small_cell_threshold": 5,
        "indicators": [
            {
                "code": HOUSING,
                "name": "Evictions",
                "right": "Adequate housing",
                "type": "outcome",
                "value_type": "number",
                "unit": {"code": "PER_10K_HH", "label": "per 10,000 households"},
                "direction": "good_down",
                "core": True,
                "maps_to": None,
                "results": [{"disaggregation": {}, "value": "99.9", "status": "validated"}],
                "baseline": None,
                "target": None,
            }
        ],
    }
    envelope = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        origin,
        "summaries",
        1,
        int(time.time() * 1000),
        key.key_id,
        [audience],
        payload,
    )
    return canonical_bytes(sign_envelope(envelope, origin, key))


def signed_call(
    target: City, method: str, path: str, body: bytes | None, *, origin: str, key: SigningKey
) -> Any:
    """A node-to-node request as ``origin`` would send it, RFC 9421-signed with ``key``."""
    url = f"{target.base_url}{path}"
    headers = {"Content-Type": "application/json"} if body is not None else {}
    headers.update(httpsig.sign_request(method, url, headers, body, origin, key, int(time.time())))
    # The target node's own loopback session (no proxy from the environment).
    return target.node.http.request(method, url, data=body, headers=headers, timeout=10)


def assert_refused(response: Any, target: City, attempt: str) -> str:
    status = response.status_code
    assert status in (401, 403), target.node.fail(f"{attempt}: HTTP {status} {response.text}")
    assert response.headers["Content-Type"].startswith("application/problem+json"), attempt
    problem = response.json()
    assert problem["status"] == status and problem["code"], problem
    return str(problem["code"])


# --- scenarios -------------------------------------------------------------------------------


def test_summary_reaches_the_twin_only_and_a_stranger_is_refused(
    node_factory: NodeFactory,
) -> None:
    gent, padova, graz = cities(node_factory, "be-gent", "it-padova", "at-graz")
    twin(gent, padova, sync=False)  # both messages carried by the schedulers
    assert padova.peer_states() == {"be-gent": "active"}

    gent.record({HOUSING: "12.50", EDUCATION: "3.1"})
    published = gent.publish()
    assert (published["revision"], published["audience"]) == (1, ["it-padova"])
    # Carried by Gent's deliver_outbox job (every 5 s); nobody runs `hrcnet sync` here.
    [item] = wait_for_summaries(padova, gent, 1)
    [own] = gent.own_summaries()
    assert own["envelope_sha256"] == published["envelope_sha256"]
    assert item["verified"] is True and item["current"] is True
    assert (item["period"], item["revision"], item["seq"]) == (PERIOD, 1, own["seq"])
    assert (
        item["envelope_sha256"]
        == own["envelope_sha256"]
        == envelope_sha256(json.loads(item["envelope"]))
    )
    values = {
        i["code"]: i["results"][0]["value"]
        for i in json.loads(item["envelope"])["payload"]["indicators"]
    }
    assert values == {HOUSING: "12.50", EDUCATION: "3.1"}
    wait_until(
        "Gent records the delivery",
        lambda: [d["state"] for d in gent.own_summaries()[0]["deliveries"]] == ["delivered"],
        gent,
    )

    # Graz is nobody's twin: nothing reached it, nothing was even sent to it.
    assert graz.items("/api/v1/peers") == []
    assert "/federation/v1/inbox" not in graz.node.log_path.read_text(errors="replace")
    graz.call("GET", "/api/v1/peers/be-gent/summaries", expect=404)

    # Graz posts to the twins anyway, signed with its own real key.
    graz_key = load_signing_key(graz.node.data_dir / "signing_key.pem")
    assert graz_key.key_id == graz.status()["key_id"]  # the key the node itself signs with
    before = padova.received_from(gent)
    codes = []
    for target in (padova, gent):
        body = graz_summary(target.city_id, origin="at-graz", key=graz_key)
        response = signed_call(
            target, "POST", "/federation/v1/inbox", body, origin="at-graz", key=graz_key
        )
        codes.append(assert_refused(response, target, f"Graz → {target.city_id} inbox"))
    # Graz pretending to be Gent: Gent's key id, Graz's private key.
    gent_key_id = gent.status()["key_id"]
    forger = SigningKey.from_private_key(graz_key.private_key, gent_key_id)
    body = graz_summary("it-padova", origin="be-gent", key=forger)
    response = signed_call(
        padova, "POST", "/federation/v1/inbox", body, origin="be-gent", key=forger
    )
    codes.append(assert_refused(response, padova, "Graz as Gent → Padova inbox"))
    # Nor may Graz read what Gent addressed to its twins.
    response = signed_call(
        gent, "GET", "/federation/v1/outbox?since=0", None, origin="at-graz", key=graz_key
    )
    codes.append(assert_refused(response, gent, "Graz reads Gent's outbox"))
    assert all(codes), codes

    padova.call("GET", "/api/v1/peers/at-graz/summaries", expect=404)
    gent.call("GET", "/api/v1/peers/at-graz/summaries", expect=404)
    assert padova.received_from(gent) == before
    assert padova.peer_states() == {"be-gent": "active"}
    assert gent.peer_states() == {"it-padova": "active"}
    discard(gent, padova, graz)


def test_outage_three_revisions_arrive_once_each_after_sync(node_factory: NodeFactory) -> None:
    gent, padova = cities(node_factory, "be-gent", "it-padova")
    twin(gent, padova, sync=True)
    padova.node.stop()

    values = ["10", "11", "12"]
    for value in values:
        gent.correct_and_publish(value)
    status = wait_for_failed_delivery(gent, padova, queued=3)
    assert status["next_attempt_at"] is not None and status["last_error"], status
    assert status["unavailable"] is False  # a short outage: every revision will still go

    padova.node.start()
    out = gent.sync()  # the scheduler would wait out its backoff (≥ 48 s)
    assert "delivered 3" in out, gent.node.fail(f"hrcnet sync printed:\n{out}")
    received = wait_for_summaries(padova, gent, 3)
    assert_revisions_once(received, gent, values)
    after = gent.status_for(padova)
    assert (after["queue_length"], after["failures"], after["last_error"]) == (0, 0, None)
    discard(gent, padova)


def test_sender_restarted_with_a_queue_delivers_it_once(node_factory: NodeFactory) -> None:
    gent, padova = cities(node_factory, "be-gent", "it-padova")
    twin(gent, padova, sync=True)
    padova.node.stop()
    values = ["20", "21"]
    for value in values:
        gent.correct_and_publish(value)
    # Stopped while idle, not in the middle of a delivery run: the queue is what must survive.
    wait_for_failed_delivery(gent, padova, queued=2)
    gent.node.stop()

    padova.node.start()
    gent.node.start()
    restarted = gent.status_for(padova)  # queue and backoff are in the database
    assert restarted["queue_length"] == 2 and restarted["failures"] >= 1, restarted
    out = gent.sync()  # its scheduler is still backing off: this is what sends them
    assert "delivered 2" in out, gent.node.fail(f"hrcnet sync printed:\n{out}")
    received = wait_for_summaries(padova, gent, 2)
    assert_revisions_once(received, gent, values)
    assert gent.status_for(padova)["queue_length"] == 0
    discard(gent, padova)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite, and PostgreSQL when the suite has a server (skipped otherwise, before any node
    exists). Resolving the server fixture here keeps it out of ``cities``' threads."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres")
    return str(request.param)


def test_pull_then_push_converge_without_duplicates(
    node_factory: NodeFactory, backend: str
) -> None:
    gent, padova = cities(node_factory, "be-gent", "it-padova", backend=backend)
    twin(gent, padova, sync=True)
    padova.node.stop()
    values = ["30", "31"]
    for value in values:
        gent.correct_and_publish(value)
    # Gent's scheduler has failed once and backs off (≥ 48 s): it will not push meanwhile.
    wait_for_failed_delivery(gent, padova, queued=2)
    padova.node.start()

    pulled = padova.sync()  # Padova catches up by pulling Gent's outbox
    assert "pull be-gent: 2 new" in pulled, padova.node.fail(f"hrcnet sync printed:\n{pulled}")
    received = padova.received_from(gent)
    assert [item["via"] for item in received] == ["pull", "pull"]
    assert_revisions_once(received, gent, values)

    pushed = gent.sync()  # Gent's queue drains: duplicates, accepted as harmless
    assert "delivered 2" in pushed, gent.node.fail(f"hrcnet sync printed:\n{pushed}")
    assert padova.received_from(gent) == received
    after = gent.status_for(padova)
    assert (after["queue_length"], after["dead_letters"], after["failures"]) == (0, 0, 0)
    discard(gent, padova)
