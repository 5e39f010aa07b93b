"""Small-order (weak) Ed25519 keys are refused wherever a key enters a node: a twinning request
or membership application, discovery of a partner, the secretariat's rekey, and the directory.
Each refusal is a problem+json with the code ``weak_public_key``, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify

from federation.canonical import canonical_bytes
from federation.envelope import OldVerifyKey, build_key_document, make_envelope, sign_envelope
from federation.keys import SMALL_ORDER_ENCODINGS, b64encode_unpadded
from tests.federation.conftest import SECRETARIAT, Node
from tests.federation.test_inbox_refusals import expect, post, stored
from tests.federation.test_secretariat import join

ZERO = bytes(32)
IDENTITY = bytes([1]) + bytes(31)
NON_CANONICAL_ZERO = (2**255 - 19).to_bytes(32, "little")  # y = p, i.e. 0 mod p


def _ms(node: Node) -> int:
    return int(node.clock().timestamp() * 1000)


def _weak_key_document(node: Node, weak: bytes) -> dict[str, Any]:
    """The node's real key document, plus a weak key listed as an old one."""
    return build_key_document(
        node.city_id,
        node.key,
        [OldVerifyKey("ed25519:weak", weak, _ms(node) + 60_000)],
        now_ms=_ms(node),
        seq=1,
    )


def _node_info(node: Node) -> dict[str, Any]:
    return {
        "city_id": node.city_id,
        "name": node.city_id,
        "country": "BE",
        "region": "europe-west",
        "role": "city",
        "base_url": node.base_url,
    }


def _weak_request(sender: Node, to: str, weak: bytes) -> bytes:
    """A twinning request (or membership application) whose key document lists ``weak``."""
    request = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        sender.city_id,
        "twinning",
        1,
        _ms(sender),
        sender.key.key_id,
        [to],
        {
            "node": _node_info(sender),
            "themes": None,
            "key_document": _weak_key_document(sender, weak),
        },
    )
    return canonical_bytes(sign_envelope(request, sender.city_id, sender.key))


@pytest.mark.parametrize("weak", [ZERO, IDENTITY, NON_CANONICAL_ZERO])
def test_twinning_request_with_a_weak_key_is_refused(network, weak: bytes) -> None:
    gent, padova = network("be-gent", "it-padova")
    response = post(gent, padova, _weak_request(gent, padova.city_id, weak))
    expect(response, 422, "weak_public_key")
    assert "small order" in response.get_json()["detail"]
    assert stored(padova) == 0
    assert padova.api("GET", "/peers").get_json()["items"] == []


def test_application_to_the_secretariat_with_a_weak_key_is_refused(network) -> None:
    secretariat, gent = network(SECRETARIAT, "be-gent")
    response = post(gent, secretariat, _weak_request(gent, SECRETARIAT, ZERO))
    expect(response, 422, "weak_public_key")
    assert secretariat.api("GET", "/members").get_json()["items"] == []


def test_discovering_a_partner_with_a_weak_key_is_refused(network) -> None:
    (gent,) = network("be-gent")
    # A node whose key document lists a small-order key beside its real one.
    impostor = Flask("impostor")
    base = "http://127.0.0.1:5999"

    @impostor.get("/.well-known/hrcnet")
    def well_known() -> Any:
        return jsonify({"city_id": "xx-impostor", "name": "Impostor", "base_url": base})

    @impostor.get("/federation/v1/keys")
    def keys() -> Any:
        document = build_key_document(
            "xx-impostor",
            gent.key,  # any real key signs it; the weak one is what matters
            [OldVerifyKey("ed25519:weak", IDENTITY, _ms(gent) + 60_000)],
            now_ms=_ms(gent),
        )
        return jsonify(document)

    gent.router.apps["127.0.0.1:5999"] = impostor
    # Discovery is queued and done by the job; its refusal is recorded on the queued request.
    discovery = gent.request_twin({"url": base})
    assert (discovery["state"], discovery["code"]) == ("failed", "weak_public_key")
    assert "small order" in discovery["reason"]
    assert gent.api("GET", "/peers").get_json()["items"] == []


@pytest.mark.parametrize("weak", sorted(SMALL_ORDER_ENCODINGS)[:4] + [ZERO, IDENTITY])
def test_rekey_with_a_weak_key_is_refused(network, weak: bytes) -> None:
    secretariat, lyon = network(SECRETARIAT, "fr-lyon")
    join(secretariat, [lyon])
    before = secretariat.api("GET", "/directory").get_json()["items"]
    response = secretariat.api("POST", "/members/fr-lyon/rekey", {"key": b64encode_unpadded(weak)})
    expect(response, 422, "weak_public_key")
    assert "fr-lyon" in response.get_json()["detail"]
    assert secretariat.api("GET", "/directory").get_json()["items"] == before


def test_directory_listing_a_weak_key_is_refused(network) -> None:
    secretariat, gent, lyon = network(SECRETARIAT, "be-gent", "fr-lyon")
    join(secretariat, [gent, lyon])
    before = gent.api("GET", "/directory").get_json()["items"]
    members = [dict(m) for m in before]
    lyon_entry = next(m for m in members if m["city_id"] == "fr-lyon")
    lyon_entry["keys"] = [
        {"key_id": "ed25519:weak", "key": b64encode_unpadded(ZERO), "state": "current"}
    ]
    key = secretariat.key
    directory = make_envelope(
        "hrc.directory",
        "hrc.directory/1",
        SECRETARIAT,
        "directory",
        10_000,
        _ms(secretariat),
        key.key_id,
        [gent.city_id],
        {"members": members, "valid_until_ts": _ms(secretariat) + 86_400_000},
    )
    body = canonical_bytes(sign_envelope(directory, SECRETARIAT, key))
    held = stored(gent)
    expect(post(secretariat, gent, body), 422, "weak_public_key")
    assert stored(gent) == held
    assert gent.api("GET", "/directory").get_json()["items"] == before
