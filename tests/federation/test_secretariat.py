"""The secretariat: admission, signed directory, summaries in, signed benchmarks back,
suspension, forged directories, core catalogue releases."""

from __future__ import annotations

import statistics
from decimal import Decimal

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from tests.federation.conftest import SECRETARIAT, Node, record
from tests.federation.test_inbox_refusals import post

CITY_IDS = ("be-gent", "fr-lyon", "nl-utrecht", "it-padova", "es-madrid")
VALUES = {
    "be-gent": "12.5",
    "fr-lyon": "20",
    "nl-utrecht": "7.25",
    "it-padova": "15",
    "es-madrid": "30",
}


def join(secretariat: Node, cities: list[Node]) -> None:
    for city in cities:
        asked = city.request_twin({"url": secretariat.base_url})
        assert asked["state"] == "requested", asked
        listed = {p["city_id"]: p for p in city.api("GET", "/peers").get_json()["items"]}
        # An application, not yet trust: the secretariat is pinned when it admits the city.
        assert listed[secretariat.city_id]["secretariat"] == "applied"
        assert listed[secretariat.city_id]["role"] == "city"
        city.deliver()
    pending = {
        m["city_id"]: m["state"] for m in secretariat.api("GET", "/members").get_json()["items"]
    }
    assert pending == {c.city_id: "pending" for c in cities}
    for city in cities:
        admitted = secretariat.api("POST", f"/members/{city.city_id}/admit", {})
        assert admitted.status_code == 200, admitted.get_json()
    secretariat.deliver()
    for city in cities:
        trusted = city.api("GET", "/trust").get_json()["secretariat"]
        assert trusted["city_id"] == secretariat.city_id and trusted["state"] == "pinned"
        assert trusted["how"] == "membership" and trusted["key_id"] == secretariat.key.key_id


def test_network_of_five(network) -> None:
    secretariat, *cities = network(SECRETARIAT, *CITY_IDS)
    join(secretariat, cities)
    gent = cities[0]
    # Every member has the secretariat as an active peer and the latest signed directory.
    states = {p["city_id"]: p["state"] for p in gent.api("GET", "/peers").get_json()["items"]}
    assert states == {SECRETARIAT: "active"}
    directory = gent.api("GET", "/directory").get_json()["items"]
    assert {m["city_id"] for m in directory} == set(CITY_IDS)
    lyon = next(m for m in directory if m["city_id"] == "fr-lyon")
    assert lyon["keys"][0]["key_id"] == cities[1].key.key_id and lyon["region"] == "europe-west"

    # Summaries flow in (addressed to "network"), benchmarks are computed and flow back.
    for city in cities:
        record(city, "2025", {"HRC-HOU-01": VALUES[city.city_id]})
        published = city.api("POST", "/summaries", {"period": "2025"}).get_json()["items"]
        assert [e["audience"] for e in published] == [["network"]]
        assert city.deliver().delivered == 1
    secretariat_view = secretariat.api("GET", "/benchmarks?indicator=HRC-HOU-01").get_json()
    scopes = {g["scope"]: g for g in secretariat_view["items"]}
    assert set(scopes) == {"network"}  # regions have fewer than 5 cities: suppressed
    values = [float(v) for v in VALUES.values()]
    stats = scopes["network"]["stats"]
    assert Decimal(stats["median"]) == Decimal(str(statistics.median(values)))
    assert Decimal(stats["min"]) == Decimal("7.25") and Decimal(stats["max"]) == Decimal("30")
    assert scopes["network"]["n"] == 5 and len(scopes["network"]["sources"]) == 5
    assert scopes["network"]["position"] is None  # the secretariat names no city

    from node.jobs import publish_benchmarks

    assert "5 members" in publish_benchmarks(secretariat.runtime)
    secretariat.deliver()
    [group] = gent.api("GET", "/benchmarks?indicator=HRC-HOU-01").get_json()["items"]
    assert group["scope"] == "network" and group["n"] == 5
    # HRC-HOU-01 is good_down: Utrecht's 7.25 is best, Gent's 12.5 second.
    assert group["position"]["value"] == "12.5" and group["position"]["rank"] == 2
    assert sorted(group["sources"]) == sorted(scopes["network"]["sources"])
    madrid = cities[4].api("GET", "/benchmarks").get_json()["items"][0]
    assert madrid["position"]["rank"] == 5 and madrid["position"]["quartile"] == 4

    # The city's pages show where it stands, with server-rendered SVG charts.
    page = gent.app.test_client().get("/benchmarks").get_data(as_text=True)
    assert "HRC-HOU-01" in page and "2 / 5" in page
    detail = gent.app.test_client().get("/benchmarks/HRC-HOU-01").get_data(as_text=True)
    assert detail.count("<svg") == 2 and ">you<" in detail
    import xml.etree.ElementTree as ElementTree

    svg = detail[detail.index("<svg") : detail.index("</svg>") + 6]
    ElementTree.fromstring(svg)  # well-formed

    # A suspended city's summaries are refused.
    assert secretariat.api("POST", "/members/be-gent/suspend", {}).status_code == 200
    secretariat.deliver()
    directory = {
        m["city_id"]: m["state"] for m in gent.api("GET", "/directory").get_json()["items"]
    }
    assert directory["be-gent"] == "suspended"  # Gent learns it was suspended
    record(gent, "2025", {"HRC-HOU-01": "1"})
    gent.api("POST", "/summaries", {"period": "2025"})
    report = gent.deliver()
    assert report.delivered == 0  # nothing is queued for the network while suspended
    again = secretariat.api("GET", "/benchmarks?indicator=HRC-HOU-01").get_json()["items"]
    assert again[0]["stats"]["min"] == "7.25"  # Gent's new figure did not count


def test_forged_directory_is_refused(network) -> None:
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    before = gent.api("GET", "/directory").get_json()["items"]
    # Lyon (a member, not the secretariat) tries to push a directory to Gent: Gent is not even
    # twinned with Lyon; and claiming to be the secretariat fails the signature.
    forged = make_envelope(
        "hrc.directory",
        "hrc.directory/1",
        SECRETARIAT,
        "directory",
        999,
        int(lyon.clock().timestamp() * 1000),
        lyon.key.key_id,
        ["be-gent"],
        {"members": [], "valid_until_ts": 9_999_999_999_999},
    )
    forged = sign_envelope(forged, SECRETARIAT, lyon.key)
    response = post(lyon, gent, canonical_bytes(forged))
    assert response.status_code in (401, 403)
    assert gent.api("GET", "/directory").get_json()["items"] == before


def test_catalogue_release_and_adoption(network, shared_dir) -> None:
    import json

    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
    document["version"] = "0.2.0"
    document["indicators"][1]["name"] = "Forced evictions without alternative accommodation"
    new = dict(document["indicators"][2], code="HRC-HOU-09", name="Housing first places")
    document["indicators"].append(new)
    published = secretariat.api(
        "POST", "/catalogue/releases", {"document": document, "notes": "two changes"}
    )
    assert published.status_code == 201, published.get_json()
    again = secretariat.api("POST", "/catalogue/releases", {"document": document})
    assert again.status_code == 409
    secretariat.deliver()
    [release] = gent.api("GET", "/catalogue/releases").get_json()["items"]
    assert release["version"] == "0.2.0" and release["adopted_at"] is None
    assert release["changes"] == {
        "added": ["HRC-HOU-09"],
        "removed": [],
        "changed": [document["indicators"][1]["code"]],
    }
    assert gent.api("GET", "/indicators/HRC-HOU-09").status_code == 404
    adopted = gent.api("POST", "/catalogue/releases/0.2.0/adopt")
    assert adopted.status_code == 200 and adopted.get_json()["adopted_at"]
    indicator = gent.api("GET", "/indicators/HRC-HOU-09").get_json()
    assert indicator["catalogue_version"] == "0.2.0"
    assert gent.api("POST", "/catalogue/releases/0.2.0/adopt").status_code == 409
    # A city official cannot publish network releases.
    refused = gent.api("POST", "/catalogue/releases", {"document": document})
    assert (refused.status_code, refused.get_json()["code"]) == (403, "role_not_allowed")


def test_lost_key_recovery_through_the_secretariat(network) -> None:
    from federation.keys import generate_signing_key
    from tests.federation.conftest import twin

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    twin(gent, lyon)
    # Lyon lost its key. Its officials give the secretariat the new public key out of band;
    # the secretariat vouches for it in a new signed directory.
    new_key = generate_signing_key()
    rekeyed = secretariat.api("POST", "/members/fr-lyon/rekey", {"key": new_key.public_b64})
    assert rekeyed.status_code == 200, rekeyed.get_json()
    secretariat.deliver()

    def lyon_keys() -> dict[str, dict]:
        listed = gent.api("GET", "/peers").get_json()["items"]
        return {
            k["key_id"]: k for k in next(p for p in listed if p["city_id"] == "fr-lyon")["keys"]
        }

    # The directory's replacement is recorded and waits: Lyon's pinned key stays as it is.
    assert set(lyon_keys()) == {lyon.key.key_id}
    assert lyon_keys()[lyon.key.key_id]["state"] == "current"
    [change] = gent.api("GET", "/peers/fr-lyon/key-changes").get_json()["items"]
    assert change["state"] == "pending" and change["directory_origin"] == SECRETARIAT
    assert [k["key_id"] for k in change["old_keys"]] == [lyon.key.key_id]
    assert [k["key_id"] for k in change["new_keys"]] == [new_key.key_id]
    from federation.keys import fingerprint_display

    assert change["new_keys"][0]["fingerprint"] == fingerprint_display(new_key.public_raw)
    from tests.federation.test_inbox_refusals import envelope as make_summary

    early = make_summary(lyon, gent, 500, key=new_key)
    refused = post(lyon, gent, canonical_bytes(early), key=new_key)
    assert refused.status_code == 401 and refused.get_json()["code"] == "unknown_key"

    # An official compares the fingerprint with Lyon by phone, then confirms.
    confirmed = gent.api("POST", f"/peers/fr-lyon/key-changes/{change['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.get_json()["state"] == "confirmed"
    keys = lyon_keys()
    assert keys[new_key.key_id]["state"] == "current" and keys[new_key.key_id]["source"] == "notary"
    assert keys[lyon.key.key_id]["state"] == "revoked"
    # A summary signed with the new key is accepted by Gent (the sender's retry); one with the
    # lost key is not.
    assert post(lyon, gent, canonical_bytes(early), key=new_key).status_code == 202
    stolen = make_summary(lyon, gent, 501)
    assert post(lyon, gent, canonical_bytes(stolen)).status_code == 401
    again = gent.api("POST", f"/peers/fr-lyon/key-changes/{change['id']}/confirm")
    assert again.status_code == 409 and again.get_json()["code"] == "key_change_decided"
    bad = secretariat.api("POST", "/members/fr-lyon/rekey", {"key": "!" * 43})
    assert (bad.status_code, bad.get_json()["code"]) == (422, "validation_failed")


def test_a_release_that_drops_an_indicator_retires_it(network, shared_dir) -> None:
    from sqlalchemy import select

    from node.db import session_scope
    from node.secretariat.models import BenchmarkInput
    from tests.unit.core.test_catalogue_retirement import release

    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    record(gent, "2025", {"HRC-HOU-01": "12.5", "HRC-EDU-01": "91"}, status="published")
    for version in ("0.2.0", "0.3.0"):
        document = release(shared_dir, version, drop=("HRC-HOU-01",))
        published = secretariat.api("POST", "/catalogue/releases", {"document": document})
        assert published.status_code == 201, published.get_json()
    secretariat.deliver()
    pending = gent.api("GET", "/catalogue/releases").get_json()["items"]
    assert [r["changes"] for r in pending] == [
        {"added": [], "removed": ["HRC-HOU-01"], "changed": []}
    ] * 2
    assert gent.api("POST", "/catalogue/releases/0.3.0/adopt").status_code == 200

    # The indicator is the city's own now, with its figures; it is no longer core.
    indicator = gent.api("GET", "/indicators/HRC-HOU-01").get_json()
    assert indicator["core"] is False and indicator["retired_in"] == "0.3.0"
    assert indicator["catalogue_version"] == "0.1.0"
    core = {i["code"] for i in gent.api("GET", "/indicators?core=true").get_json()["items"]}
    assert "HRC-HOU-01" not in core and "HRC-EDU-01" in core
    figures = gent.api("GET", "/results?indicator=HRC-HOU-01").get_json()["items"]
    assert [f["value"] for f in figures] == ["12.5"]
    web = gent.app.test_client()
    assert "local · retired from core in 0.3.0" in web.get("/catalogue").get_data(as_text=True)
    page = web.get("/catalogue/HRC-HOU-01").get_data(as_text=True)
    assert 'id="retired"' in page and "12.5" in page

    # Going back is refused, on the city and on the secretariat.
    outdated = gent.api("POST", "/catalogue/releases/0.2.0/adopt")
    assert outdated.status_code == 409 and outdated.get_json()["code"] == "release_outdated"
    older = secretariat.api(
        "POST", "/catalogue/releases", {"document": release(shared_dir, "0.1.5")}
    )
    assert older.status_code == 409 and older.get_json()["code"] == "release_outdated"

    # The network's copy of the summary no longer carries it: the secretariat compares the
    # other indicator only.
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    gent.deliver()
    with session_scope(secretariat.runtime.sessions) as session:
        inputs = session.scalars(select(BenchmarkInput))
        assert {(i.indicator, i.catalogue_version) for i in inputs} == {("HRC-EDU-01", "0.3.0")}
