"""Ed25519 key handling (federation.keys)."""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import pickle
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.keys import (
    Base64DecodeError,
    KeyFileError,
    KeyFormatError,
    SigningKey,
    b64decode_unpadded,
    b64encode_unpadded,
    fingerprint,
    fingerprint_display,
    generate_signing_key,
    is_valid_key_id,
    key_id_for,
    load_signing_key,
    public_key_from_raw,
    save_private_key,
    verify_ed25519,
)
from tests.support import examples

RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def test_key_id_and_fingerprints() -> None:
    key = SigningKey.from_seed(RFC8032_SEED)
    digest = hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    assert key.public_raw == RFC8032_PUBLIC
    assert key.key_id == key_id_for(RFC8032_PUBLIC) == "ed25519:" + digest[:8]
    assert re.fullmatch(r"ed25519:[0-9a-f]{8}", key.key_id)
    assert fingerprint(RFC8032_PUBLIC) == fingerprint(key.public_key) == digest
    display = fingerprint_display(RFC8032_PUBLIC)
    assert display.replace(" ", "") == digest
    assert [len(group) for group in display.split(" ")] == [4] * 16
    assert key.public_b64 == b64encode_unpadded(RFC8032_PUBLIC)


def test_generated_keys_differ_and_sign() -> None:
    first, second = generate_signing_key(), generate_signing_key()
    assert first.public_raw != second.public_raw
    signature = first.sign(b"message")
    assert verify_ed25519(first.public_raw, signature, b"message")
    assert not verify_ed25519(second.public_raw, signature, b"message")


@pytest.mark.parametrize("key_id", ["ed25519:1", "ed25519:a1b2c3", "ed25519:ABC_def"])
def test_valid_key_ids(key_id: str) -> None:
    assert is_valid_key_id(key_id)
    assert SigningKey.from_seed(RFC8032_SEED, key_id).key_id == key_id


@pytest.mark.parametrize(
    "key_id", ["", "ed25519:", "rsa:1", "ed25519:a b", 'ed25519:"x"', "ed25519:" + "a" * 33, 7]
)
def test_invalid_key_ids(key_id: object) -> None:
    assert not is_valid_key_id(key_id)


def test_signing_key_refuses_mismatched_pair() -> None:
    other = generate_signing_key()
    with pytest.raises(KeyFormatError):
        SigningKey("ed25519:x", other.private_key, RFC8032_PUBLIC)
    with pytest.raises(KeyFormatError):
        SigningKey.from_seed(b"short")


def test_repr_never_shows_private_material() -> None:
    key = SigningKey.from_seed(RFC8032_SEED)
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    secret_forms = [
        RFC8032_SEED.hex(),
        base64.b64encode(RFC8032_SEED).decode().rstrip("="),
        pem.splitlines()[1],
    ]
    for rendered in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
        assert key.key_id in rendered
        for secret in secret_forms:
            assert secret not in rendered
    with pytest.raises(TypeError):
        pickle.dumps(key)
    # Copying (e.g. of a config dict holding the key) still works and shares the object.
    assert copy.deepcopy({"key": key})["key"] is key
    assert copy.copy(key) is key


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "signing.pem"
    save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8
    loaded = load_signing_key(path)
    assert loaded.public_raw == key.public_raw
    assert loaded.key_id == key.key_id
    assert load_signing_key(path, key_id="ed25519:custom").key_id == "ed25519:custom"


def test_save_is_0600_even_with_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        path = tmp_path / "k.pem"
        save_private_key(generate_signing_key(), path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    save_private_key(generate_signing_key(), path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="overwrite"):
        save_private_key(generate_signing_key(), path)
    assert path.read_bytes() == before


def test_save_refuses_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.pem"
    link = tmp_path / "k.pem"
    link.symlink_to(target)  # dangling: an attacker hoping we create "elsewhere.pem"
    with pytest.raises(KeyFileError):
        save_private_key(generate_signing_key(), link)
    assert not target.exists()


def test_encrypted_key_round_trip(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "k.pem"
    save_private_key(key, path, password=b"correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    assert load_signing_key(path, password=b"correct horse").public_raw == key.public_raw
    with pytest.raises(KeyFormatError):
        load_signing_key(path, password=b"wrong")


def test_load_refuses_group_or_world_readable_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    save_private_key(generate_signing_key(), path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="0644"):
        load_signing_key(path)
    assert load_signing_key(path, require_private_mode=False).key_id


def test_load_rejects_missing_garbage_and_other_algorithms(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_signing_key(tmp_path / "absent.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(KeyFormatError):
        load_signing_key(garbage)
    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ec_path.chmod(0o600)
    with pytest.raises(KeyFormatError, match="Ed25519"):
        load_signing_key(ec_path)


# --- base64 ------------------------------------------------------------------------------------


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=100))
def test_base64_round_trip(data: bytes) -> None:
    encoded = b64encode_unpadded(data)
    assert "=" not in encoded
    assert b64decode_unpadded(encoded) == data
    assert b64decode_unpadded(base64.b64encode(data).decode()) == data  # padded accepted


@pytest.mark.parametrize(
    "text",
    [
        "YQ=",  # wrong padding
        "YWJ==",
        "Y",  # impossible length
        "YW Jj",  # whitespace
        "YWJj\n",
        "_-8",  # URL-safe alphabet
        "YQ==YQ==",  # padding in the middle
        "YR",  # non-canonical: non-zero unused bits
        "é",
    ],
)
def test_base64_rejects_invalid(text: str) -> None:
    with pytest.raises(Base64DecodeError) as info:
        b64decode_unpadded(text)
    assert info.value.code == "invalid_base64"
    assert isinstance(info.value, ValueError)


def test_base64_lenient_mode_only_relaxes_trailing_bits() -> None:
    assert b64decode_unpadded("YR", canonical=False) == b"a"
    with pytest.raises(Base64DecodeError):
        b64decode_unpadded("Y", canonical=False)
    with pytest.raises(Base64DecodeError):
        b64decode_unpadded(b"YQ", canonical=False)  # type: ignore[arg-type]


def test_public_key_from_raw_and_verify_never_raise_on_garbage() -> None:
    with pytest.raises(KeyFormatError):
        public_key_from_raw(b"\x00" * 31)
    assert public_key_from_raw(RFC8032_PUBLIC)
    key = SigningKey.from_seed(RFC8032_SEED)
    signature = key.sign(b"m")
    assert not verify_ed25519(b"\x00" * 31, signature, b"m")
    assert not verify_ed25519(RFC8032_PUBLIC, signature[:63], b"m")
    assert not verify_ed25519(RFC8032_PUBLIC, signature + b"\x00", b"m")
    assert not verify_ed25519(RFC8032_PUBLIC, "x" * 64, b"m")  # type: ignore[arg-type]
