"""A hostile twin that calls itself the secretariat, against real ``hrcnet serve`` processes.

Three nodes on 127.0.0.1: Gent and Lyon, twinned; and Graz, a node initialised with
``--role secretariat`` that Gent never joined. Graz asks Gent to twin (its well-known and its
twinning request say "secretariat"), Gent's official accepts, and Graz then sends Gent a signed
``hrc.directory`` listing Lyon with Graz's own key and a huge ``seq``. Gent must refuse it
(403 ``not_secretariat``) and change nothing: a summary forged in Lyon's name with Graz's key is
refused, Lyon's genuine summary still arrives and shows verified.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from federation.canonical import canonical_bytes
from federation.envelope import make_envelope, sign_envelope
from tests.multinode.harness import NodeFactory, official_token
from tests.multinode.test_multinode_secretariat import Member, _signed_post, wait_until

pytestmark = pytest.mark.multinode

ATTACKER = "at-graz"


@pytest.fixture
def trio(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Member, Member, Member]]:
    factory = NodeFactory(request, tmp_path_factory.mktemp("trust-net") / "nodes")
    try:
        members = []
        for city_id, role in (("be-gent", "city"), ("fr-lyon", "city"), (ATTACKER, "secretariat")):
            [node] = factory(
                city_id,
                start=False,
                name=city_id.split("-")[1].title(),
                country=city_id[:2].upper(),
                region="europe-west",
                role=role,
            )
            token = official_token(node)
            node.start()
            members.append(Member(node, token))
        yield members[0], members[1], members[2]
    finally:
        problems = factory.teardown()
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))


def _lyon_keys(gent: Member) -> list[tuple[str, str, str]]:
    [lyon] = [p for p in gent.items("/peers") if p["city_id"] == "fr-lyon"]
    return sorted((k["key_id"], k["state"], k["source"]) for k in lyon["keys"])


def test_a_self_declared_secretariat_cannot_take_over_a_twins_key(trio: Any) -> None:
    gent, lyon, graz = trio
    gent.call("POST", "/peers", {"url": lyon.base_url}, expect=202)  # queued for discovery
    wait_until(
        "Lyon sees Gent's request",
        lambda: lyon.peer_states().get("be-gent") == "pending",
        gent,
        lyon,
    )
    lyon.call("POST", "/peers/be-gent/accept")
    wait_until(
        "Gent and Lyon are twins", lambda: gent.peer_states().get("fr-lyon") == "active", gent, lyon
    )

    # Graz (a node calling itself the secretariat) asks Gent to twin; Gent's official accepts.
    asked = graz.call("POST", "/peers", {"url": gent.base_url}, expect=202)
    assert asked["state"] == "queued", asked  # Graz's scheduler discovers Gent and sends it
    wait_until(
        "Gent sees Graz's request",
        lambda: gent.peer_states().get(ATTACKER) == "pending",
        gent,
        graz,
    )
    accepted = gent.call("POST", f"/peers/{ATTACKER}/accept")
    assert (accepted["role"], accepted["secretariat"]) == ("city", None), accepted
    assert gent.call("GET", "/trust")["secretariat"] is None

    keys_before, directory_before = _lyon_keys(gent), gent.items("/directory")
    graz_key = graz.key()
    member = {
        "city_id": "fr-lyon",
        "name": "Lyon",
        "region": "europe-west",
        "country": "FR",
        "base_url": lyon.base_url,
        "state": "active",
        "keys": [
            {
                "key_id": graz_key.key_id,
                "key": graz_key.public_b64,
                "state": "current",
                "expired_ts": None,
            }
        ],
    }
    now_ms = int(time.time() * 1000)
    directory = make_envelope(
        "hrc.directory",
        "hrc.directory/1",
        ATTACKER,
        "directory",
        2**52,
        now_ms,
        graz_key.key_id,
        ["be-gent"],
        {"members": [member], "valid_until_ts": now_ms + 86_400_000},
    )
    body = canonical_bytes(sign_envelope(directory, ATTACKER, graz_key))
    started = time.monotonic()
    refused = _signed_post(gent, body, origin=ATTACKER, key=graz_key)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "not_secretariat"
    assert time.monotonic() - started < 5  # answered at once (no key fetch for a refusal)
    assert _lyon_keys(gent) == keys_before and gent.items("/directory") == directory_before

    # A summary forged in Lyon's name with Graz's key: refused.
    forged_summary = make_envelope(
        "hrc.summary",
        "hrc.summary/1",
        "fr-lyon",
        "summaries",
        2**52,
        now_ms,
        graz_key.key_id,
        ["be-gent"],
        {"city": {"city_id": "fr-lyon"}},
    )
    body = canonical_bytes(sign_envelope(forged_summary, "fr-lyon", graz_key))
    forged = _signed_post(gent, body, origin="fr-lyon", key=graz_key)
    assert forged.status_code == 401, forged.text
    assert gent.items("/peers/fr-lyon/summaries") == []

    # Lyon's genuine summary arrives (carried by Lyon's scheduler) and shows verified.
    lyon.call(
        "POST",
        "/results",
        [{"indicator": "HRC-HOU-01", "period": "2025", "value": "20", "status": "validated"}],
        expect=201,
    )
    lyon.call("POST", "/summaries", {"period": "2025"}, expect=201)
    [received] = wait_until(
        "Gent holds Lyon's genuine summary",
        lambda: gent.items("/peers/fr-lyon/summaries"),
        gent,
        lyon,
    )
    assert (
        received["verified"] is True
        and json.loads(received["envelope"])["key_id"] == lyon.key().key_id
    )
