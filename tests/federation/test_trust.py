"""Trust anchored, never self-declared (issue 10): the secretariat a city trusts is the one it
joined (pinned), not a twin that says it is one; a directory never replaces a twin's key
without an official's confirmation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from federation.keys import SigningKey, fingerprint, fingerprint_display, generate_signing_key
from node.db import session_scope
from node.network import keyring
from node.network.models import (
    DirectoryEntry,
    InEnvelope,
    KeyChange,
    OutboxItem,
    Peer,
    ReceivedSummary,
)
from node.secretariat.models import CatalogueRelease, ReceivedBenchmark
from tests.federation.conftest import OTHER_SECRETARIAT, SECRETARIAT, Node, twin
from tests.federation.test_inbox_refusals import envelope as summary_envelope
from tests.federation.test_inbox_refusals import post
from tests.federation.test_secretariat import join
from tests.fingerprint_support import shows_fingerprint

ATTACKER = "at-graz"


def ms(node: Node) -> int:
    return int(node.clock().timestamp() * 1000)


def twin_as_self_declared_secretariat(attacker: Node, victim: Node) -> None:
    """The attacker asks the victim to twin, saying in its request that it is the secretariat;
    an official of the victim accepts (it is, after all, a city asking to twin)."""
    with session_scope(attacker.runtime.sessions) as session:
        keydoc = keyring.own_key_document(session, attacker.runtime.config, attacker.clock())
    node = {
        "city_id": attacker.city_id,
        "name": "Network Secretariat",
        "country": "AT",
        "region": "network",
        "role": "secretariat",
        "base_url": attacker.base_url,
    }
    request = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        attacker.city_id,
        "twinning",
        1,
        ms(attacker),
        attacker.key.key_id,
        [victim.city_id],
        {"node": node, "themes": None, "key_document": keydoc},
    )
    response = post(
        attacker, victim, canonical_bytes(sign_envelope(request, attacker.city_id, attacker.key))
    )
    assert response.status_code == 202, response.get_json()
    accepted = victim.api("POST", f"/peers/{attacker.city_id}/accept")
    assert accepted.status_code == 200, accepted.get_json()
    # The declared role is not kept: the attacker is a city, and not this node's secretariat.
    assert accepted.get_json()["role"] == "city"
    assert accepted.get_json()["secretariat"] is None


def signed(
    sender: Node, to: Node, type_: str, stream: str, seq: int, payload: dict[str, Any]
) -> bytes:
    env = make_envelope(
        type_, f"{type_}/1", sender.city_id, stream, seq, ms(sender), sender.key.key_id,
        [to.city_id], payload,
    )  # fmt: skip
    return canonical_bytes(sign_envelope(env, sender.city_id, sender.key))


def snapshot(node: Node) -> dict[str, Any]:
    """Everything an accepted secretariat document could have changed."""
    with session_scope(node.runtime.sessions) as session:
        return {
            "keys": sorted(
                (p.city_id, k.key_id, k.state, k.source)
                for p in session.scalars(select(Peer))
                for k in p.keys
            ),
            "directory": sorted(
                (d.city_id, json.dumps(d.keys, sort_keys=True), d.directory_seq)
                for d in session.scalars(select(DirectoryEntry))
            ),
            "in_envelopes": session.scalar(select(func.count()).select_from(InEnvelope)),
            "summaries": session.scalar(select(func.count()).select_from(ReceivedSummary)),
            "releases": session.scalar(select(func.count()).select_from(CatalogueRelease)),
            "benchmarks": session.scalar(select(func.count()).select_from(ReceivedBenchmark)),
            "key_changes": session.scalar(select(func.count()).select_from(KeyChange)),
            "roles": sorted((p.city_id, p.role) for p in session.scalars(select(Peer))),
        }


def forged_directory(attacker: Node, victim: Node, lyon: Node, stolen: SigningKey) -> bytes:
    member = {
        "city_id": lyon.city_id,
        "name": "Lyon",
        "region": "europe-west",
        "country": "FR",
        "base_url": lyon.base_url,
        "state": "active",
        "keys": [
            {
                "key_id": stolen.key_id,
                "key": stolen.public_b64,
                "state": "current",
                "expired_ts": None,
            }
        ],
    }
    payload = {"members": [member], "valid_until_ts": ms(attacker) + 86_400_000}
    return signed(attacker, victim, "hrc.directory", "directory", 2**52, payload)


@pytest.fixture
def hostile_twin(network):  # type: ignore[no-untyped-def]
    """Gent joined the real secretariat and twins with Lyon and with Graz, a city that told
    Gent it is the secretariat."""
    secretariat, gent, lyon, graz = network(SECRETARIAT, "be-gent", "fr-lyon", ATTACKER)
    join(secretariat, [gent, lyon])
    twin(gent, lyon)
    twin_as_self_declared_secretariat(graz, gent)
    return secretariat, gent, lyon, graz


def test_a_twin_calling_itself_the_secretariat_cannot_replace_keys(hostile_twin) -> None:
    secretariat, gent, lyon, graz = hostile_twin
    before = snapshot(gent)
    attacker_key = generate_signing_key()
    response = post(graz, gent, forged_directory(graz, gent, lyon, attacker_key))
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "not_secretariat"
    assert snapshot(gent) == before  # keys, directory, envelopes: nothing changed

    # A summary forged in Lyon's name with the attacker's key is refused...
    forged = summary_envelope(lyon, gent, 2**52, key=attacker_key)
    refused = post(lyon, gent, canonical_bytes(forged), key=attacker_key)
    assert refused.status_code == 401 and refused.get_json()["code"] == "unknown_key"
    # ...and Lyon's genuine summaries keep arriving (no forged seq made them "rollbacks").
    genuine = summary_envelope(lyon, gent, 7)
    assert post(lyon, gent, canonical_bytes(genuine)).status_code == 202
    [received] = gent.api("GET", "/peers/fr-lyon/summaries").get_json()["items"]
    assert received["seq"] == 7 and received["verified"] is True


@pytest.mark.parametrize("kind", ["catalogue", "benchmark"])
def test_releases_and_benchmarks_only_from_the_pinned_secretariat(
    hostile_twin, shared_dir, kind: str
) -> None:
    _secretariat, gent, _lyon, graz = hostile_twin
    if kind == "catalogue":
        document = json.loads((shared_dir / "data" / "indicator_catalogue.json").read_text())
        document["version"] = "9.0.0"
        body = signed(graz, gent, "hrc.catalogue", "catalogue", 1,
                      {"version": "9.0.0", "document": document, "notes": "trust me"})  # fmt: skip
    else:
        body = signed(graz, gent, "hrc.benchmark", "benchmarks", 1,
                      {"min_cities": 1, "catalogue_version": "0.1.0", "groups": []})  # fmt: skip
    before = snapshot(gent)
    response = post(graz, gent, body)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["code"] == "not_secretariat"
    assert snapshot(gent) == before


def test_a_self_declared_secretariat_is_no_review_home_and_gets_no_network_copy(
    network,
) -> None:
    """Without a pinned secretariat, a twin claiming to be one is not the default review home
    and does not get the network's copy of summaries; with the real one pinned, it is."""
    from peer_review.reviews.services import drafting

    secretariat, gent, graz = network(SECRETARIAT, "be-gent", ATTACKER)
    twin_as_self_declared_secretariat(graz, gent)
    with session_scope(gent.runtime.sessions) as session:
        with pytest.raises(Exception) as refused:
            drafting.default_home(session, gent.runtime.config)
        assert getattr(refused.value, "code", None) == "no_home_node"
    join(secretariat, [gent])
    with session_scope(gent.runtime.sessions) as session:
        assert drafting.default_home(session, gent.runtime.config) == SECRETARIAT
    from tests.federation.conftest import record

    record(gent, "2025", {"HRC-HOU-01": "3"})
    published = gent.api("POST", "/summaries", {"period": "2025"}).get_json()["items"]
    audiences = sorted(tuple(e["audience"]) for e in published)
    assert audiences == [(ATTACKER,), ("network",)]  # Graz gets a twin's copy, not the network's
    with session_scope(gent.runtime.sessions) as session:
        destinations = {i.destination for i in session.scalars(select(OutboxItem))}
    assert SECRETARIAT in destinations


def test_applying_to_a_second_secretariat_is_refused(network) -> None:
    secretariat, other, gent = network(SECRETARIAT, OTHER_SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    before = snapshot(gent)
    # The application is queued (no network call in the request); the discovery job refuses it.
    refused = gent.request_twin({"url": other.base_url})
    assert refused["state"] == "failed", refused
    assert refused["code"] == "secretariat_already_pinned"
    assert "hrcnet secretariat unpin" in refused["reason"]
    assert snapshot(gent) == before
    with session_scope(gent.runtime.sessions) as session:
        assert session.get(Peer, OTHER_SECRETARIAT) is None
    assert gent.api("GET", "/trust").get_json()["secretariat"]["city_id"] == SECRETARIAT


def test_an_accept_from_a_node_we_did_not_apply_to_pins_nothing(network) -> None:
    """Graz (a city) asks Gent to twin, Gent accepts; Graz's own accept of Gent's request
    (both asked) makes no one the secretariat."""
    gent, graz = network("be-gent", ATTACKER)
    twin(gent, graz)
    assert gent.api("GET", "/trust").get_json()["secretariat"] is None
    assert {p["role"] for p in gent.api("GET", "/peers").get_json()["items"]} == {"city"}


def _directory_with_new_key(secretariat: Node, lyon_key: SigningKey) -> None:
    rekeyed = secretariat.api("POST", "/members/fr-lyon/rekey", {"key": lyon_key.public_b64})
    assert rekeyed.status_code == 200, rekeyed.get_json()
    secretariat.deliver()


def test_a_rejected_key_change_changes_nothing_and_is_not_asked_again(network) -> None:
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    twin(gent, lyon)
    new_key = generate_signing_key()
    _directory_with_new_key(secretariat, new_key)
    [change] = gent.api("GET", "/peers/fr-lyon/key-changes").get_json()["items"]
    before = snapshot(gent)
    rejected = gent.api("POST", f"/peers/fr-lyon/key-changes/{change['id']}/reject")
    assert rejected.status_code == 200 and rejected.get_json()["state"] == "rejected"
    after = snapshot(gent)
    assert after["keys"] == before["keys"]
    # The next directory (any roster change re-sends it) lists the same key: not asked again.
    assert secretariat.api("POST", "/members/be-gent/suspend", {}).status_code == 200
    assert secretariat.api("POST", "/members/be-gent/reinstate", {}).status_code == 200
    secretariat.deliver()
    states = [c["state"] for c in gent.api("GET", "/peers/fr-lyon/key-changes").get_json()["items"]]
    assert states == ["rejected"]
    refused = post(
        lyon, gent, canonical_bytes(summary_envelope(lyon, gent, 9, key=new_key)), key=new_key
    )
    assert refused.status_code == 401 and refused.get_json()["code"] == "unknown_key"
    assert post(lyon, gent, canonical_bytes(summary_envelope(lyon, gent, 10))).status_code == 202


def test_a_key_change_is_shown_and_confirmed_on_the_twins_page(network) -> None:
    from tests.web.test_pages import csrf_token

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    twin(gent, lyon)
    new_key = generate_signing_key()
    _directory_with_new_key(secretariat, new_key)
    web = _logged_in(gent)
    assert "key change to confirm" in web.get("/peers").get_data(as_text=True)
    [told] = gent.api("GET", "/notifications").get_json()["items"]
    assert told["kind"] == "key_change" and told["link"] == "/peers/fr-lyon#key-changes"
    assert fingerprint_display(new_key.public_raw) in told["body"]
    answer = web.get("/peers/fr-lyon")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert shows_fingerprint(page, new_key.public_raw) and 'id="key-changes"' in page
    [change] = gent.api("GET", "/peers/fr-lyon/key-changes").get_json()["items"]
    token = csrf_token(web, "/peers/fr-lyon")
    done = web.post(
        f"/peers/fr-lyon/key-changes/{change['id']}/confirm", data={"csrf_token": token}
    )
    assert done.status_code == 302
    listed = gent.api("GET", "/peers").get_json()["items"]
    lyon_entry = next(p for p in listed if p["city_id"] == "fr-lyon")
    keys = {k["key_id"]: k["state"] for k in lyon_entry["keys"]}
    assert keys == {new_key.key_id: "current", lyon.key.key_id: "revoked"}


def _logged_in(node: Node) -> Any:
    node.app.config["WTF_CSRF_ENABLED"] = True
    web = node.app.test_client()
    from tests.web.test_pages import csrf_token

    token = csrf_token(web, "/login")
    response = web.post(
        "/login",
        data={
            "email": f"official@{node.city_id}.example",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return web


def _make_admin(node: Node) -> None:
    from node.models import User

    with session_scope(node.runtime.sessions) as session:
        user = session.scalar(select(User).where(User.email == f"official@{node.city_id}.example"))
        assert user is not None
        user.role = "admin"


def test_pin_and_unpin_on_the_admin_page(network) -> None:
    from tests.web.test_pages import csrf_token

    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    web = _logged_in(gent)
    assert web.get("/network/secretariat").status_code == 403  # officials may not change it
    _make_admin(gent)
    page = web.get("/network/secretariat").get_data(as_text=True)
    assert shows_fingerprint(page, secretariat.key.public_raw) and "unpin-form" in page
    token = csrf_token(web, "/network/secretariat")
    no_confirm = web.post(
        "/network/secretariat", data={"csrf_token": token, "unpin_city_id": SECRETARIAT}
    )
    assert no_confirm.status_code == 422
    assert gent.api("GET", "/trust").get_json()["secretariat"]["state"] == "pinned"
    unpinned = web.post(
        "/network/secretariat",
        data={"csrf_token": token, "unpin_city_id": SECRETARIAT, "unpin_confirm": "y"},
    )
    assert unpinned.status_code == 302
    assert gent.api("GET", "/trust").get_json()["secretariat"] is None
    before = snapshot(gent)
    wrong = web.post(
        "/network/secretariat",
        data={
            "csrf_token": token,
            "city_id": SECRETARIAT,
            "fingerprint": fingerprint(generate_signing_key().public_raw),
            "confirm": "y",
        },
    )
    assert wrong.status_code == 422 and "nothing was changed" in wrong.get_data(as_text=True)
    assert snapshot(gent) == before and gent.api("GET", "/trust").get_json()["secretariat"] is None
    pinned = web.post(
        "/network/secretariat",
        data={
            "csrf_token": token,
            "city_id": SECRETARIAT,
            "fingerprint": fingerprint_display(secretariat.key.public_raw).upper(),
            "confirm": "y",
        },
    )
    assert pinned.status_code == 302
    trusted = gent.api("GET", "/trust").get_json()["secretariat"]
    assert trusted["state"] == "pinned" and trusted["how"] == "operator"
    assert trusted["by"] == "official@be-gent.example"
    # Without the CSRF token nothing happens.
    no_csrf = {"unpin_city_id": SECRETARIAT, "unpin_confirm": "y"}
    assert web.post("/network/secretariat", data=no_csrf).status_code == 400
    assert gent.api("GET", "/trust").get_json()["secretariat"] is not None


def test_documents_follow_the_pin(network) -> None:
    """Unpinned, even the real secretariat's directory is refused (403, nothing stored); pinned
    again by the operator, its next directory is accepted."""
    from click.testing import CliRunner

    from node.cli import main

    secretariat, gent = network(SECRETARIAT, "be-gent")
    join(secretariat, [gent])
    cli = CliRunner()
    shown = cli.invoke(main, ["secretariat", "show", str(gent.data_dir)])
    assert shown.exit_code == 0 and fingerprint_display(secretariat.key.public_raw) in shown.output
    wrong_city = cli.invoke(main, ["secretariat", "unpin", str(gent.data_dir), "--city-id", "be-x"])
    assert wrong_city.exit_code == 1 and "nothing was changed" in wrong_city.output
    unpinned = cli.invoke(
        main, ["secretariat", "unpin", str(gent.data_dir), "--city-id", SECRETARIAT]
    )
    assert unpinned.exit_code == 0, unpinned.output
    assert gent.api("GET", "/directory").get_json()["items"] == []  # its statements go with it

    before = snapshot(gent)
    assert secretariat.api("POST", "/members/be-gent/suspend", {}).status_code == 200
    report = secretariat.deliver()
    # Refused and kept in the secretariat's outbox (403 is retried): nothing is lost.
    assert report.delivered == 0 and "not_secretariat" in report.failed_destinations["be-gent"]
    assert snapshot(gent) == before

    bad = cli.invoke(main, ["secretariat", "pin", str(gent.data_dir), "--city-id", SECRETARIAT,
                            "--fingerprint", "00" * 32])  # fmt: skip
    assert bad.exit_code == 1 and "nothing was changed" in bad.output
    stranger = cli.invoke(main, ["secretariat", "pin", str(gent.data_dir), "--city-id", "fr-lyon",
                                 "--fingerprint", "00" * 32])  # fmt: skip
    assert stranger.exit_code == 1 and "not an active twin" in stranger.output
    assert snapshot(gent) == before
    typed = fingerprint_display(secretariat.key.public_raw)
    good = cli.invoke(main, ["secretariat", "pin", str(gent.data_dir), "--city-id", SECRETARIAT,
                             "--fingerprint", typed])  # fmt: skip
    assert good.exit_code == 0, good.output
    assert "pinned, by operator" in good.output
    assert secretariat.api("POST", "/members/be-gent/reinstate", {}).status_code == 200
    assert secretariat.deliver().delivered == 2  # the held directory, then the new one
    directory = {
        m["city_id"]: m["state"] for m in gent.api("GET", "/directory").get_json()["items"]
    }
    assert directory == {"be-gent": "active"}


def test_someone_re_requesting_as_the_secretariat_with_another_key_inherits_nothing(
    network,
) -> None:
    """The twinning with the secretariat ended; a request arrives in its name with another key
    (a first contact, which re-pins). Even once an official accepts it, that key is not the one
    pinned at membership: the anchor is dropped and its directories are refused."""
    from federation.envelope import build_key_document

    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    twin(gent, lyon)
    assert gent.api("POST", f"/peers/{SECRETARIAT}/end").status_code == 200
    impostor = generate_signing_key()
    node = {
        "city_id": SECRETARIAT,
        "name": "HRC Network Secretariat",
        "country": "AT",
        "region": "network",
        "role": "secretariat",
        "base_url": secretariat.base_url,
    }
    keydoc = build_key_document(SECRETARIAT, impostor, now_ms=ms(gent), seq=ms(gent))
    request = make_envelope(
        "hrc.twinning.request", "hrc.twinning.request/1", SECRETARIAT, "twinning", 10**9,
        ms(gent), impostor.key_id, [gent.city_id],
        {"node": node, "themes": None, "key_document": keydoc},
    )  # fmt: skip
    body = canonical_bytes(sign_envelope(request, SECRETARIAT, impostor))
    response = post(secretariat, gent, body, key=impostor)
    assert response.status_code == 202, response.get_json()
    assert gent.api("GET", "/trust").get_json()["secretariat"] is None
    assert gent.api("POST", f"/peers/{SECRETARIAT}/accept").status_code == 200
    before = snapshot(gent)
    directory = make_envelope(
        "hrc.directory", "hrc.directory/1", SECRETARIAT, "directory", 2**52, ms(gent),
        impostor.key_id, [gent.city_id], {"members": [], "valid_until_ts": ms(gent) + 10**8},
    )  # fmt: skip
    forged = canonical_bytes(sign_envelope(directory, SECRETARIAT, impostor))
    refused = post(secretariat, gent, forged, key=impostor)
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_secretariat"
    assert snapshot(gent) == before
