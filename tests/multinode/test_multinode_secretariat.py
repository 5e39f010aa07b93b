"""A secretariat and five member cities as real ``hrcnet serve`` processes on 127.0.0.1.

The network is built once for the module (six nodes are the expensive part): five cities apply
to the secretariat, are admitted and receive its signed directory. The tests then check the
directory against each city's own key, refuse a forged directory, and run the whole benchmark
cycle: core catalogue release 0.2.0 → adoption → summaries addressed to "network" → signed
benchmarks back to every member → a suspended member learns it, stops sending, and what it
posts anyway is refused.

Every node runs its own scheduler (``deliver_outbox`` every 5 s, ``publish_benchmarks`` every
10 s on the secretariat). Waits are polls with a deadline, never bare sleeps; where the brief
asks for it (or a delivery failed and the node backs off for ≥ 48 s) ``hrcnet sync`` runs the
jobs once at once.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from federation import httpsig
from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from federation.keys import SigningKey, fingerprint_display, load_signing_key
from tests.multinode.harness import Member as StaffMember
from tests.multinode.harness import NodeFactory, official_token, wait_until

pytestmark = pytest.mark.multinode

PERIOD = "2025"
HOUSING = "HRC-HOU-01"  # direction good_down: lower is better
RELEASE = "0.2.0"
SECRETARIAT = "hrc-secretariat"
# city_id: (name, country, region, value of HRC-HOU-01 for 2025)
MEMBERS = {
    "be-gent": ("Gent", "BE", "europe-west", "12.5"),
    "fr-lyon": ("Lyon", "FR", "europe-west", "20"),
    "nl-utrecht": ("Utrecht", "NL", "europe-west", "7.25"),
    "it-padova": ("Padova", "IT", "europe-south", "15"),
    "es-madrid": ("Madrid", "ES", "europe-south", "30"),
}
SUSPENDED = "es-madrid"
SUSPENDED_NEW_VALUE = "1"  # would be the best of the network, if it counted

T = TypeVar("T")


# --- nodes with a staff token ----------------------------------------------------------------


class Member(StaffMember):
    """A member of the network with the secretariat's views of it."""

    def status_for(self, city_id: str) -> dict[str, Any]:
        for item in self.call("GET", "/federation/status")["items"]:
            if item["city_id"] == city_id:
                return dict(item)
        raise self.node.fail(f"federation status has no entry for {city_id}")

    def network_groups(self, period: str = PERIOD) -> list[dict[str, Any]]:
        return self.items(f"/benchmarks?indicator={HOUSING}&period={period}")

    def sync(self) -> str:
        return self.node.run_cli("sync", self.node.data_dir).stdout

    def key(self) -> SigningKey:
        return load_signing_key(self.node.data_dir / "signing_key.pem")


@dataclass
class Network:
    secretariat: Member
    cities: dict[str, Member]

    def all(self) -> list[Member]:
        return [self.secretariat, *self.cities.values()]


def in_parallel(func: Callable[[Member], T], members: list[Member]) -> list[T]:
    """The same step on several nodes at once (CLI runs are mostly interpreter start-up)."""
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        return list(pool.map(func, members))


# --- the network, built once -------------------------------------------------------------------


def _start(factory: NodeFactory) -> Network:
    def secretariat() -> Member:
        [node] = factory(
            SECRETARIAT,
            start=False,
            name="HRC Network Secretariat",
            country="AT",
            region="europe",
            role="secretariat",
        )
        # The secretariat's staff user goes through the real CLI (its own role).
        token = node.create_user("staff@secretariat.example", role="secretariat")
        node.start()
        return Member(node, token)

    def city(city_id: str) -> Member:
        name, country, region, _value = MEMBERS[city_id]
        [node] = factory(
            city_id, start=False, name=name, country=country, region=region, role="city"
        )
        token = official_token(node)
        node.start()
        return Member(node, token)

    with ThreadPoolExecutor(max_workers=1 + len(MEMBERS)) as pool:
        staff = pool.submit(secretariat)
        cities = dict(zip(MEMBERS, pool.map(city, MEMBERS), strict=True))
        return Network(staff.result(), cities)


def _join(network: Network) -> None:
    """Every city applies; the secretariat admits all five (the south with an explicit region,
    the west with an empty body, keeping the region the city declared)."""
    sec = network.secretariat
    for city in network.cities.values():
        asked = city.call("POST", "/peers", {"url": sec.node.base_url}, expect=202)
        assert asked["state"] == "queued", asked  # discovered by the city's scheduler
    # Carried by the cities' schedulers (deliver_outbox every 5 s).
    applications = wait_until(
        "the secretariat lists five applications",
        lambda: (
            len(states := {m["city_id"]: m["state"] for m in sec.items("/members")}) == 5 and states
        ),
        *network.all(),
    )
    assert applications == {city_id: "pending" for city_id in MEMBERS}
    for city_id, (_name, _country, region, _value) in MEMBERS.items():
        body = {"region": region} if region == "europe-south" else {}
        admitted = sec.call("POST", f"/members/{city_id}/admit", body)
        assert (admitted["state"], admitted["region"]) == ("active", region), admitted
    for city in network.cities.values():
        wait_until(
            f"{city.city_id} holds the directory of all five members",
            lambda city=city: (
                city.peer_states() == {SECRETARIAT: "active"}
                and {e["city_id"] for e in city.items("/directory")} == set(MEMBERS)
            ),
            sec,
            city,
        )


@pytest.fixture(scope="module")
def network(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Network]:
    factory = NodeFactory(request, tmp_path_factory.mktemp("secretariat-net") / "nodes")
    try:
        built = _start(factory)
        _join(built)
        yield built
    finally:
        problems = factory.teardown()
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))


# --- scenarios ---------------------------------------------------------------------------------


def test_directory_lists_every_member_with_its_own_key(network: Network) -> None:
    sec = network.secretariat
    keys = {city_id: city.key() for city_id, city in network.cities.items()}
    # The secretariat's roster: every member active, pinned with the key the city holds.
    roster = {m["city_id"]: m for m in sec.items("/members")}
    for city_id, key in keys.items():
        entry = roster[city_id]
        assert (entry["state"], entry["region"]) == ("active", MEMBERS[city_id][2]), entry
        current = [k for k in entry["keys"] if k["state"] == "current"]
        assert [(k["key_id"], k["fingerprint"]) for k in current] == [
            (key.key_id, fingerprint_display(key.public_raw))
        ], entry
    # Every city holds the same signed directory, listing each member's own key.
    for city in network.cities.values():
        directory = {e["city_id"]: e for e in city.items("/directory")}
        assert set(directory) == set(MEMBERS), city.node.fail(f"directory: {sorted(directory)}")
        for city_id, key in keys.items():
            entry = directory[city_id]
            name, country, region, _value = MEMBERS[city_id]
            assert (entry["name"], entry["country"], entry["region"], entry["state"]) == (
                name,
                country,
                region,
                "active",
            ), entry
            assert entry["base_url"] == network.cities[city_id].node.base_url
            listed = [(k["key_id"], k["key"]) for k in entry["keys"] if k["state"] == "current"]
            assert listed == [(key.key_id, key.public_b64)], (city.city_id, entry)
        # The city knows only the secretariat as a peer, pinned with the secretariat's key.
        [peer] = city.items("/peers")
        sec_key = sec.key()
        assert (peer["city_id"], peer["role"], peer["secretariat"], peer["state"]) == (
            SECRETARIAT,
            "secretariat",
            "pinned",
            "active",
        )
        assert sec_key.key_id in {k["key_id"] for k in peer["keys"]}, peer


def _signed_post(target: Member, body: bytes, *, origin: str, key: SigningKey) -> Any:
    """``POST /federation/v1/inbox`` RFC 9421-signed as ``origin`` with ``key``."""
    url = f"{target.node.base_url}/federation/v1/inbox"
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, origin, key, int(time.time())))
    return target.node.http.post(url, data=body, headers=headers, timeout=10)


def test_forged_directory_is_refused(network: Network) -> None:
    lyon, gent = network.cities["fr-lyon"], network.cities["be-gent"]
    lyon_key = lyon.key()
    before_directory = gent.items("/directory")
    before_peers = gent.peer_states()
    # Lyon claims to be the secretariat and publishes an empty directory to Gent.
    forged = make_envelope(
        "hrc.directory",
        "hrc.directory/1",
        SECRETARIAT,
        "directory",
        999,
        int(time.time() * 1000),
        lyon_key.key_id,
        [gent.city_id],
        {"members": [], "valid_until_ts": 9_999_999_999_999},
    )
    body = canonical_bytes(sign_envelope(forged, SECRETARIAT, lyon_key))
    attempts = {
        "request signed as Lyon": _signed_post(gent, body, origin="fr-lyon", key=lyon_key),
        "request signed as the secretariat with Lyon's key": _signed_post(
            gent, body, origin=SECRETARIAT, key=lyon_key
        ),
    }
    for attempt, response in attempts.items():
        assert 400 <= response.status_code < 500, gent.node.fail(
            f"{attempt}: HTTP {response.status_code} {response.text}"
        )
        assert response.headers["Content-Type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == response.status_code and problem["code"], problem
    assert gent.items("/directory") == before_directory
    assert gent.peer_states() == before_peers == {SECRETARIAT: "active"}


def _release_document(shared_dir: Path) -> tuple[dict[str, Any], str]:
    document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    assert document["version"] != RELEASE
    document["version"] = RELEASE
    renamed = document["indicators"][1]
    renamed["name"] = "Households evicted without alternative accommodation (revised)"
    return document, str(renamed["code"])


def _own_network_copy(city: Member, revision: int) -> dict[str, Any]:
    [own] = [
        s
        for s in city.items("/summaries")
        if s["audience"] == ["network"] and s["revision"] == revision
    ]
    return dict(own)


def test_release_benchmarks_and_suspension(network: Network, shared_dir: Path) -> None:
    sec, cities = network.secretariat, network.cities

    # 1. A core catalogue release, signed by the secretariat, reaches every member.
    document, renamed = _release_document(shared_dir)
    published = sec.call(
        "POST", "/catalogue/releases", {"document": document, "notes": "renamed"}, expect=201
    )
    assert published["version"] == RELEASE
    for city in cities.values():
        [release] = wait_until(
            f"{city.city_id} receives catalogue {RELEASE}",
            lambda city=city: city.items("/catalogue/releases"),
            sec,
            city,
        )
        assert (release["version"], release["adopted_at"]) == (RELEASE, None), release
        assert release["changes"] == {"added": [], "removed": [], "changed": [renamed]}
        adopted = city.call("POST", f"/catalogue/releases/{RELEASE}/adopt")
        assert adopted["adopted_at"], adopted
        indicator = city.call("GET", f"/indicators/{renamed}")
        assert (indicator["catalogue_version"], indicator["name"]) == (
            RELEASE,
            document["indicators"][1]["name"],
        )

    # 2. Every city records a validated figure and publishes; the network copy goes to the
    # secretariat (carried by the cities' schedulers).
    for city_id, city in cities.items():
        value = MEMBERS[city_id][3]
        city.call(
            "POST",
            "/results",
            [{"indicator": HOUSING, "period": PERIOD, "value": value, "status": "validated"}],
            expect=201,
        )
        out = city.call("POST", "/summaries", {"period": PERIOD}, expect=201)["items"]
        assert [e["audience"] for e in out] == [["network"]], out
    sources = {
        city_id: _own_network_copy(city, 1)["envelope_sha256"] for city_id, city in cities.items()
    }

    def secretariat_group() -> dict[str, Any] | None:
        groups = {g["scope"]: g for g in sec.network_groups()}
        network_group = groups.get("network")
        return network_group if network_group and network_group["n"] == 5 else None

    group = wait_until("the secretariat benchmarks five cities", secretariat_group, *network.all())
    values = {city_id: Decimal(spec[3]) for city_id, spec in MEMBERS.items()}
    median = statistics.median(values.values())
    assert {g["scope"] for g in sec.network_groups()} == {"network"}  # regions < 5: suppressed
    assert Decimal(group["stats"]["median"]) == median, group
    assert Decimal(group["stats"]["min"]) == min(values.values())
    assert Decimal(group["stats"]["max"]) == max(values.values())
    assert sorted(group["sources"]) == sorted(sources.values()), group
    assert group["position"] is None  # the secretariat names no city
    for city_id in MEMBERS:
        received = sec.items(f"/peers/{city_id}/summaries")
        assert [(s["revision"], s["envelope_sha256"]) for s in received] == [(1, sources[city_id])]

    # 3. The secretariat's publish_benchmarks job (+ delivery), run once now.
    out = sec.sync()
    assert "benchmarks:" in out, out
    ranking = sorted(values, key=values.__getitem__)  # good_down: the lowest value ranks first
    for city_id, city in cities.items():
        [mine] = wait_until(
            f"{city_id} receives its benchmark",
            lambda city=city: (
                len(groups := city.network_groups()) == 1 and groups[0]["n"] == 5 and groups
            ),
            sec,
            city,
        )
        assert (mine["scope"], mine["direction"]) == ("network", "good_down"), mine
        assert Decimal(mine["stats"]["median"]) == median, mine
        assert sorted(mine["sources"]) == sorted(sources.values()), mine
        assert sorted(Decimal(v) for v in mine["distribution"]) == sorted(values.values())
        position = mine["position"]
        assert Decimal(position["value"]) == values[city_id], mine
        assert position["rank"] == ranking.index(city_id) + 1, (city_id, position)
        # Stored because it verified against the secretariat's key, from an active peer.
        assert city.peer_states() == {SECRETARIAT: "active"}
        assert city.status_for(SECRETARIAT)["dead_letters"] == 0

    # 4. The secretariat suspends Madrid. Madrid learns it from the signed directory and stops
    #    sending the network its summaries; anything it posts anyway is refused.
    suspended = sec.call("POST", f"/members/{SUSPENDED}/suspend", {})
    assert suspended["state"] == "suspended"
    madrid = cities[SUSPENDED]
    sec.sync()
    wait_until(
        "Madrid's directory shows Madrid suspended",
        lambda: (
            {e["city_id"]: e["state"] for e in madrid.items("/directory")}.get(SUSPENDED)
            == "suspended"
        ),
        sec,
        madrid,
    )
    madrid.call(
        "POST",
        "/results",
        [
            {
                "indicator": HOUSING,
                "period": PERIOD,
                "value": SUSPENDED_NEW_VALUE,
                "status": "validated",
                # It corrects the validated figure recorded above: a reason (issue 15).
                "reason": "late returns",
                "confirm_outlier": True,
            }
        ],
        expect=201,
    )
    out = madrid.call("POST", "/summaries", {"period": PERIOD}, expect=201)["items"]
    assert [(e["audience"], e["revision"]) for e in out] == [([], 2)], out  # kept, not sent
    assert madrid.status_for(SECRETARIAT)["queue_length"] == 0
    # Posting a summary to the secretariat directly is refused: Madrid is not an active member.
    madrid_key = madrid.key()
    direct = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        SUSPENDED,
        "summaries",
        10**9,
        int(time.time() * 1000),
        madrid_key.key_id,
        ["network"],
        {"period": PERIOD},
    )
    body = canonical_bytes(sign_envelope(direct, SUSPENDED, madrid_key))
    response = _signed_post(sec, body, origin=SUSPENDED, key=madrid_key)
    assert response.status_code == 403, sec.node.fail(
        f"HTTP {response.status_code} {response.text}"
    )
    assert response.json()["code"] == "not_twinned"

    out = sec.sync()
    assert "benchmarks: benchmarks queued for 0 members" in out, out
    assert [(s["revision"], s["current"]) for s in sec.items(f"/peers/{SUSPENDED}/summaries")] == [
        (1, True)
    ]
    [after] = [g for g in sec.network_groups() if g["scope"] == "network"]
    assert after["n"] == 5 and after["stats"] == group["stats"], after
    assert Decimal(after["stats"]["min"]) == min(values.values())  # not Madrid's "1"
    assert sorted(after["sources"]) == sorted(sources.values())
    states = {m["city_id"]: m["state"] for m in sec.items("/members")}
    assert states == {c: ("suspended" if c == SUSPENDED else "active") for c in MEMBERS}
    # The active members get the new directory; it still lists Madrid, as suspended.
    gent = cities["be-gent"]
    wait_until(
        "Gent's directory shows Madrid suspended",
        lambda: (
            {e["city_id"]: e["state"] for e in gent.items("/directory")}.get(SUSPENDED)
            == "suspended"
        ),
        sec,
        gent,
    )
