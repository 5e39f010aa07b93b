"""Published test vectors: JCS (RFC 8785), Matrix canonical JSON + signing, RFC 8032,
Wycheproof Ed25519 and RFC 9421 Appendix B.2.6. They must all pass byte for byte."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fed_vectors import VECTORS_DIR, load_vector_json, vector_path

from federation.canonical import canonical_bytes, loads_strict
from federation.envelope import envelope_signing_bytes
from federation.httpsig import BareItem, compute_signature_base, sign_components
from federation.keys import SigningKey, b64decode_unpadded, b64encode_unpadded, verify_ed25519

JCS_CASES = ["arrays", "french", "structures", "unicode", "values", "weird"]
MATRIX = load_vector_json("matrix", "canonical_and_signing.json")
RFC8032 = load_vector_json("ed25519", "rfc8032.json")["vectors"]
WYCHEPROOF = load_vector_json("ed25519", "wycheproof_ed25519_test.json")
WYCHEPROOF_CASES = [
    (group["publicKey"]["pk"], test)
    for group in WYCHEPROOF["testGroups"]
    for test in group["tests"]
]
B26 = load_vector_json("rfc9421", "b26_ed25519.json")


def test_vectors_folder_is_present() -> None:
    assert VECTORS_DIR.is_dir(), f"missing {VECTORS_DIR}"
    assert len(MATRIX["canonical_json_examples"]) == 10
    assert len(MATRIX["signing"]["cases"]) == 2
    assert len(RFC8032) == 5
    assert len(WYCHEPROOF_CASES) == WYCHEPROOF["numberOfTests"] == 151


@pytest.mark.parametrize("name", JCS_CASES)
def test_jcs_vector(name: str) -> None:
    source = vector_path("jcs", "input", f"{name}.json").read_bytes()
    expected = vector_path("jcs", "output", f"{name}.json").read_bytes()
    expected_hex = vector_path("jcs", "outhex", f"{name}.txt").read_text().split()
    produced = canonical_bytes(loads_strict(source))
    assert produced == expected
    assert produced == bytes(int(octet, 16) for octet in expected_hex)


@pytest.mark.parametrize(
    "example", MATRIX["canonical_json_examples"], ids=lambda e: e["canonical"][:30]
)
def test_matrix_canonical_json(example: dict[str, str]) -> None:
    produced = canonical_bytes(loads_strict(example["input"]))
    assert produced == example["canonical"].encode("utf-8")


@pytest.mark.parametrize("case", MATRIX["signing"]["cases"], ids=["empty", "one-two"])
def test_matrix_signing(case: dict[str, object]) -> None:
    signing = MATRIX["signing"]
    # The spec's seed ends in "A1": non-zero unused bits, so it needs the lenient decoder.
    seed = b64decode_unpadded(signing["signing_key_seed_unpadded_base64"], canonical=False)
    key = SigningKey.from_seed(seed, key_id=signing["key_id"])
    assert key.key_id == "ed25519:1"
    # Matrix signs the canonical JSON of the object minus "signatures" and "unsigned",
    # which is exactly our envelope signing rule.
    message = envelope_signing_bytes(case["input"])  # type: ignore[arg-type]
    signature = key.sign(message)
    assert b64encode_unpadded(signature) == case["expected_signature"]
    assert verify_ed25519(key.public_raw, signature, message)


@pytest.mark.parametrize("vector", RFC8032, ids=lambda v: v["name"])
def test_rfc8032(vector: dict[str, str]) -> None:
    key = SigningKey.from_seed(bytes.fromhex(vector["secret_key"]))
    message = bytes.fromhex(vector["message"])
    assert key.public_raw.hex() == vector["public_key"]
    signature = key.sign(message)
    assert signature.hex() == vector["signature"]  # Ed25519 is deterministic
    assert verify_ed25519(key.public_raw, signature, message)
    assert not verify_ed25519(key.public_raw, signature, message + b"\x00")


@pytest.mark.parametrize(
    ("public_hex", "test"),
    WYCHEPROOF_CASES,
    ids=[f"tc{test['tcId']}-{test['result']}" for _, test in WYCHEPROOF_CASES],
)
def test_wycheproof(public_hex: str, test: dict[str, object]) -> None:
    accepted = verify_ed25519(
        bytes.fromhex(public_hex),
        bytes.fromhex(str(test["sig"])),
        bytes.fromhex(str(test["msg"])),
    )
    assert test["result"] in ("valid", "invalid")
    assert accepted is (test["result"] == "valid"), test["flags"]


B26_COMPONENTS = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
B26_PARAMS: list[tuple[str, BareItem]] = [("created", 1618884473), ("keyid", "test-key-ed25519")]


def _b26_private_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(B26["private_key_pem"].encode("ascii"), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_rfc9421_b26_signature_base() -> None:
    request = B26["request"]
    base = compute_signature_base(
        request["method"], request["target_uri"], request["headers"], B26_COMPONENTS, B26_PARAMS
    )
    assert base == B26["signature_base"]


def test_rfc9421_b26_signature_headers() -> None:
    request = B26["request"]
    base, headers = sign_components(
        "sig-b26",
        request["method"],
        request["target_uri"],
        request["headers"],
        B26_COMPONENTS,
        B26_PARAMS,
        _b26_private_key(),
    )
    assert base == B26["signature_base"]
    assert headers == B26["expected_headers"]
    public = serialization.load_pem_public_key(B26["public_key_pem"].encode("ascii"))
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = b64decode_unpadded(headers["Signature"].split("=:", 1)[1].rstrip(":"))
    assert verify_ed25519(raw, signature, base.encode("ascii"))
