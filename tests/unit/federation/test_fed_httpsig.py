"""RFC 9421 request signatures between nodes (federation.httpsig)."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.httpsig import (
    BareItem,
    RequestSignatureError,
    SfInnerList,
    SfItem,
    StructuredFieldError,
    Token,
    compute_signature_base,
    content_digest,
    parse_dictionary,
    serialize_inner_list,
    sign_components,
    sign_request,
    verify_request,
)
from federation.keys import SigningKey
from tests.support import examples

NOW_S = 1_767_225_600
ORIGIN = "be-gent"
KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(range(1, 33)))
INBOX = "https://padova.example/federation/v1/inbox"
OUTBOX = "https://padova.example/federation/v1/outbox?since=41"
BODY = b'{"v": 1, "type": "hrc.summary"}'


def _lookup(origin: str, key_id: str) -> bytes | None:
    return KEY.public_raw if (origin, key_id) == (ORIGIN, KEY.key_id) else None


def _signed_post(body: bytes = BODY, url: str = INBOX, now_s: int = NOW_S) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request("POST", url, headers, body, ORIGIN, KEY, now_s))
    return headers


def _verify(
    headers: Any,
    method: str = "POST",
    url: str = INBOX,
    body: bytes | None = BODY,
    now_s: int = NOW_S,
) -> tuple[str, str]:
    return verify_request(method, url, headers, body, _lookup, now_s)


def _code(headers: Any, **kwargs: Any) -> str:
    with pytest.raises(RequestSignatureError) as info:
        _verify(headers, **kwargs)
    return info.value.code


def _replace_params(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    assert old in headers["Signature-Input"]
    return {**headers, "Signature-Input": headers["Signature-Input"].replace(old, new)}


# --- happy paths -------------------------------------------------------------------------------


def test_content_digest_matches_rfc9530_example() -> None:
    assert content_digest(b'{"hello": "world"}') == (
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    )


def test_signed_post_headers_follow_the_profile() -> None:
    headers = _signed_post()
    assert headers["Content-Digest"] == content_digest(BODY)
    assert headers["Signature-Input"] == (
        'hrc=("@method" "@target-uri" "content-digest");'
        f'created={NOW_S};keyid="be-gent {KEY.key_id}";alg="ed25519"'
    )
    assert headers["Signature"].startswith("hrc=:") and headers["Signature"].endswith(":")


def test_post_round_trip() -> None:
    assert _verify(_signed_post()) == (ORIGIN, KEY.key_id)


def test_get_without_body_round_trip() -> None:
    headers = sign_request("GET", OUTBOX, {}, None, ORIGIN, KEY, NOW_S)
    assert "Content-Digest" not in headers
    assert '("@method" "@target-uri")' in headers["Signature-Input"]
    assert _verify(headers, method="GET", url=OUTBOX, body=None) == (ORIGIN, KEY.key_id)
    assert _verify(headers, method="GET", url=OUTBOX, body=b"") == (ORIGIN, KEY.key_id)


def test_empty_body_is_digested_when_given() -> None:
    headers = _signed_post(body=b"")
    assert headers["Content-Digest"] == content_digest(b"")
    assert _verify(headers, body=b"") == (ORIGIN, KEY.key_id)


def test_header_names_are_case_insensitive_and_pairs_accepted() -> None:
    headers = _signed_post()
    lowered = {name.lower(): value for name, value in headers.items()}
    upper = {name.upper(): value for name, value in headers.items()}
    pairs = [(name, value) for name, value in headers.items()] + [("X-Other", "1")]
    for variant in (lowered, upper, pairs):
        assert _verify(variant) == (ORIGIN, KEY.key_id)


def test_other_signature_labels_are_ignored() -> None:
    headers = _signed_post()
    headers["Signature-Input"] = 'proxy=("@method");created=1, ' + headers["Signature-Input"]
    headers["Signature"] = "proxy=:AAAA:, " + headers["Signature"]
    assert _verify(headers) == (ORIGIN, KEY.key_id)


def test_created_window_boundaries() -> None:
    headers = _signed_post()
    assert _verify(headers, now_s=NOW_S + 300)
    assert _verify(headers, now_s=NOW_S - 300)


# --- one test per error code ---------------------------------------------------------------------


def test_missing_signature() -> None:
    assert _code({"Content-Type": "application/json"}) == "missing_signature"
    headers = _signed_post()
    del headers["Signature"]
    assert _code(headers) == "missing_signature"
    headers = _signed_post()
    headers["Signature"] = headers["Signature"].replace("hrc=", "other=")
    assert _code(headers) == "missing_signature"


@pytest.mark.parametrize(
    "value",
    [
        "garbage(",
        "hrc=",
        'hrc=("@method" "@target-uri"',
        'hrc=("@method");created=1;created=2',
        'hrc=("@method"), hrc=("@method")',
        "hrc=x",
        'hrc=(@method);created=1;keyid="a b";alg="ed25519"',
        f'hrc=("@method" "@method" "@target-uri" "content-digest");created={NOW_S};'
        'keyid="be-gent ed25519:1";alg="ed25519"',
        '\u00e9=("@method")',
        "x" * 9000,
    ],
)
def test_malformed_signature_input(value: str) -> None:
    headers = {**_signed_post(), "Signature-Input": value}
    assert _code(headers) == "malformed_signature_input"


def test_component_parameters_are_refused() -> None:
    headers = _replace_params(_signed_post(), '"content-digest"', '"content-digest";sf')
    assert _code(headers) == "malformed_signature_input"


def test_created_must_be_an_integer() -> None:
    headers = _replace_params(_signed_post(), f"created={NOW_S}", 'created="now"')
    assert _code(headers) == "malformed_signature_input"
    headers = _replace_params(_signed_post(), f"created={NOW_S};", "")
    assert _code(headers) == "malformed_signature_input"


@pytest.mark.parametrize("value", ["hrc=:not base64!:", "hrc=:AAAA:", 'hrc="text"', "hrc=("])
def test_malformed_signature(value: str) -> None:
    headers = {**_signed_post(), "Signature": value}
    assert _code(headers) == "malformed_signature"


def test_wrong_label() -> None:
    headers = _signed_post()
    headers = {
        **headers,
        "Signature-Input": headers["Signature-Input"].replace("hrc=", "sig1="),
        "Signature": headers["Signature"].replace("hrc=", "sig1="),
    }
    assert _code(headers) == "wrong_label"


@pytest.mark.parametrize(
    "replacement", ['alg="rsa-pss-sha512"', "alg=ed25519", 'alg="ED25519"', ""]
)
def test_wrong_alg(replacement: str) -> None:
    headers = _replace_params(
        _signed_post(), ';alg="ed25519"', f";{replacement}" if replacement else ""
    )
    assert _code(headers) == "wrong_alg"


def test_missing_components() -> None:
    params: list[tuple[str, BareItem]] = [
        ("created", NOW_S),
        ("keyid", f"be-gent {KEY.key_id}"),
        ("alg", "ed25519"),
    ]
    for components in (["@method"], ["@target-uri"], ["@method", "@target-uri"]):
        headers = {"Content-Digest": content_digest(BODY)}
        _, signature_headers = sign_components(
            "hrc", "POST", INBOX, headers, components, params, KEY
        )
        headers.update(signature_headers)
        assert _code(headers) == "missing_component"  # body present: digest must be covered


def test_created_too_old_and_in_future() -> None:
    headers = _signed_post()
    assert _code(headers, now_s=NOW_S + 301) == "created_too_old"
    assert _code(headers, now_s=NOW_S - 301) == "created_in_future"


def test_expired_signature() -> None:
    headers = _replace_params(
        _signed_post(), ';alg="ed25519"', f';alg="ed25519";expires={NOW_S - 1}'
    )
    assert _code(headers) == "signature_expired"


@pytest.mark.parametrize(
    "keyid",
    ["be-gent", f"be-gent  {KEY.key_id}", f"Be-Gent {KEY.key_id}", "be-gent rsa:1", "a b c", ""],
)
def test_malformed_keyid(keyid: str) -> None:
    headers = _replace_params(_signed_post(), f'keyid="be-gent {KEY.key_id}"', f'keyid="{keyid}"')
    assert _code(headers) == "malformed_keyid"


def test_keyid_must_be_a_string() -> None:
    headers = _replace_params(_signed_post(), f'keyid="be-gent {KEY.key_id}"', "keyid=42")
    assert _code(headers) == "malformed_keyid"


def test_digest_missing() -> None:
    headers = _signed_post()
    del headers["Content-Digest"]
    assert _code(headers) in {"digest_missing"}
    headers = {**_signed_post(), "Content-Digest": "sha-512=:" + "A" * 88 + ":"}
    assert _code(headers) == "digest_missing"


def test_digest_mismatch() -> None:
    assert _code(_signed_post(), body=BODY + b" ") == "digest_mismatch"
    headers = {**_signed_post(), "Content-Digest": content_digest(b"other")}
    assert _code(headers) == "digest_mismatch"


def test_malformed_digest() -> None:
    headers = {**_signed_post(), "Content-Digest": "sha-256=abc"}
    assert _code(headers) == "malformed_digest"
    headers = {**_signed_post(), "Content-Digest": "sha-256=:::"}
    assert _code(headers) == "malformed_digest"


def test_unknown_key() -> None:
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request("POST", INBOX, headers, BODY, ORIGIN, OTHER, NOW_S))
    assert _code(headers) == "unknown_key"


def test_bad_signature() -> None:
    headers = _signed_post()
    signature = headers["Signature"]
    flipped = signature[:6] + ("B" if signature[6] == "A" else "A") + signature[7:]
    assert _code({**headers, "Signature": flipped}) == "bad_signature"
    # Signed POST replayed as another method.
    assert _code(_signed_post(), method="PUT") == "bad_signature"
    # A different path is not a "nearby" URL: plainly a bad signature.
    assert _code(_signed_post(), url=INBOX.replace("inbox", "outbox")) == "bad_signature"
    # Signed by the right key id but a different private key.
    forged = SigningKey.from_private_key(OTHER.private_key, key_id=KEY.key_id)
    headers = {"Content-Type": "application/json"}
    headers.update(sign_request("POST", INBOX, headers, BODY, ORIGIN, forged, NOW_S))
    assert _code(headers) == "bad_signature"


def test_wrong_target_uri() -> None:
    # Behind a proxy the receiver rebuilt http://... while the sender signed https://...
    assert _code(_signed_post(), url=INBOX.replace("https://", "http://")) == "wrong_target_uri"
    # Replayed to another node: the Host header still names the original target.
    headers = {**_signed_post(), "Host": "padova.example"}
    other_node = "https://gent.example/federation/v1/inbox"
    assert _code(headers, url=other_node) == "wrong_target_uri"


def test_line_injection_in_covered_values_is_refused() -> None:
    headers = {**_signed_post(), "Content-Digest": content_digest(BODY) + '\n"@method": GET'}
    assert _code(headers) in {"malformed_digest", "invalid_request"}
    with pytest.raises(RequestSignatureError) as info:
        compute_signature_base("POST", INBOX + "\n", {}, ["@target-uri"], [])
    assert info.value.code == "invalid_request"
    with pytest.raises(RequestSignatureError) as info:
        compute_signature_base("POST", INBOX, {"X-A": "a\r\nb"}, ["x-a"], [])
    assert info.value.code == "invalid_request"


def test_covered_header_must_be_present() -> None:
    with pytest.raises(RequestSignatureError) as info:
        compute_signature_base("POST", INBOX, {}, ["date"], [])
    assert info.value.code == "missing_covered_header"


@pytest.mark.parametrize("headers", [None, 7, ["x"], [("a", 1)], {"a": None}, {1: "x"}])
def test_unreadable_headers(headers: Any) -> None:
    assert _code(headers) in {"invalid_request", "missing_signature"}


# --- structured fields ---------------------------------------------------------------------------


def test_structured_field_parsing() -> None:
    parsed = parse_dictionary(
        'a=("x" "y";p=1);created=12;keyid="k \\"q\\"", b=:AQID:, c, d=?0, e=tok/1, f=-1.5'
    )
    a = parsed["a"]
    assert isinstance(a, SfInnerList)
    assert [item.value for item in a.items] == ["x", "y"]
    assert a.items[1].params == {"p": 1}
    assert a.params == {"created": 12, "keyid": 'k "q"'}
    assert parsed["b"] == SfItem(b"\x01\x02\x03")
    assert parsed["c"] == SfItem(True)
    assert parsed["d"] == SfItem(False)
    assert parsed["e"] == SfItem(Token("tok/1"))
    assert isinstance(parsed["e"], SfItem) and isinstance(parsed["e"].value, Token)
    assert parsed["f"] == SfItem(Decimal("-1.5"))
    assert parse_dictionary("") == {}


@pytest.mark.parametrize(
    "text",
    [
        "a=",
        "a=(",
        "a=1,",
        "A=1",
        "a=1 b=2",
        'a="\\x"',
        'a="\u00e9"',
        "a=1234567890123456",
        "a=1.1234",
        "a=?2",
        "a=:abc",
        "a=(1)x",
        "a=1;",
    ],
)
def test_structured_field_errors(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


_sf_fragments = st.sampled_from(
    [
        "hrc",
        "=",
        "(",
        ")",
        '"@method"',
        '"@target-uri"',
        '"content-digest"',
        " ",
        ";",
        "created",
        "=1767225600",
        "keyid",
        '"be-gent ed25519:1"',
        "alg",
        '"ed25519"',
        ",",
        ":",
        "AAAA",
        "?1",
        "-",
        "1.5",
        '"',
        "\\",
        "*",
        "\t",
        "\u00e9",
        "\n",
        "sig",
        "expires",
    ]
)


@settings(max_examples=examples(400), deadline=None)
@given(
    st.lists(_sf_fragments, max_size=30), st.lists(_sf_fragments, max_size=10), st.text(max_size=40)
)
def test_garbage_headers_only_raise_request_signature_errors(
    input_parts: list[str], signature_parts: list[str], digest: str
) -> None:
    headers = {
        "Signature-Input": "".join(input_parts),
        "Signature": "".join(signature_parts),
        "Content-Digest": digest,
    }
    with contextlib.suppress(RequestSignatureError):
        _verify(headers)


@settings(max_examples=examples(400), deadline=None)
@given(st.text(max_size=80))
def test_parse_dictionary_only_raises_structured_field_errors(text: str) -> None:
    with contextlib.suppress(StructuredFieldError):
        parse_dictionary(text)


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(
        st.sampled_from(["@method", "@target-uri", "content-digest", "date", "@path"]),
        unique=True,
        max_size=5,
    ),
    st.integers(0, 999_999_999_999_999),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
def test_signature_params_serialization_round_trips(
    components: list[str], created: int, keyid: str
) -> None:
    serialized = serialize_inner_list(components, [("created", created), ("keyid", keyid)])
    member = parse_dictionary(f"hrc={serialized}")["hrc"]
    assert isinstance(member, SfInnerList)
    assert [item.value for item in member.items] == components
    assert member.params == {"created": created, "keyid": keyid}
    assert serialize_inner_list([str(i.value) for i in member.items], member.params) == serialized
