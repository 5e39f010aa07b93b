"""Ed25519 signing keys: generation, PKCS8 storage, key ids, fingerprints and base64 helpers.

Key id scheme: ``"ed25519:" + hex(sha256(raw public key))[:8]`` (first 4 bytes, lowercase hex).
Key ids only need to be unique per origin; the full fingerprint (:func:`fingerprint`) is what
officials compare out of band when twinning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ED25519_PUBLIC_KEY_LENGTH",
    "ED25519_SIGNATURE_LENGTH",
    "KEY_ID_PATTERN",
    "SMALL_ORDER_ENCODINGS",
    "Base64DecodeError",
    "KeyFileError",
    "KeyFormatError",
    "SigningKey",
    "WeakPublicKeyError",
    "b64decode_unpadded",
    "b64encode_unpadded",
    "check_public_key",
    "fingerprint",
    "fingerprint_display",
    "fingerprint_lines",
    "generate_signing_key",
    "is_valid_key_id",
    "is_weak_public_key",
    "key_id_for",
    "load_signing_key",
    "public_key_from_raw",
    "raw_public_key",
    "save_private_key",
    "verify_ed25519",
]

ED25519_PUBLIC_KEY_LENGTH = 32
ED25519_SIGNATURE_LENGTH = 64

# Key ids travel inside JSON member names and inside the RFC 9421 keyid parameter
# ("<origin> <key_id>"): a closed alphabet keeps them free of spaces, quotes and separators.
KEY_ID_PATTERN = r"^ed25519:[A-Za-z0-9_]{1,32}$"
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)

_B64_ALPHABET_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class KeyFormatError(ValueError):
    """A key, key id or encoded key is malformed. ``code`` is machine readable."""

    def __init__(self, message: str, code: str = "invalid_key") -> None:
        super().__init__(message)
        self.code = code


class Base64DecodeError(KeyFormatError):
    """Input is not valid (canonical) standard base64."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="invalid_base64")


class WeakPublicKeyError(KeyFormatError):
    """A public key is a point of small order (all-zero, identity, ...): it proves nothing."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "not a usable Ed25519 public key: it encodes a point of small order (such as "
            "the all-zero or identity key), under which forged signatures can verify",
            code="weak_public_key",
        )


class KeyFileError(OSError):
    """A key file cannot be written or read safely (exists, wrong permissions, wrong type)."""


def b64encode_unpadded(data: bytes) -> str:
    """Encode bytes as standard (``+/``) base64 without ``=`` padding (Matrix style)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode_unpadded(text: str, *, canonical: bool = True) -> bytes:
    """Decode standard base64, padded or unpadded; raise :class:`Base64DecodeError` if invalid.

    No whitespace and no URL-safe alphabet are accepted. With ``canonical`` (the default)
    the unused trailing bits must also be zero: otherwise one signature or key would have
    several textual forms, and documents carrying them several hashes. Pass
    ``canonical=False`` only to import foreign material (e.g. the Matrix spec's example seed
    ``...XA1`` has non-zero trailing bits).
    """
    if not isinstance(text, str):
        raise Base64DecodeError(f"expected base64 text, got {type(text).__name__}")
    if not _B64_ALPHABET_RE.fullmatch(text):
        raise Base64DecodeError("not standard base64 (allowed: A-Z a-z 0-9 + / and = padding)")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise Base64DecodeError("impossible base64 length")
    if text != stripped and len(text) % 4 != 0:
        raise Base64DecodeError("incorrect base64 padding")
    try:
        decoded = base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Base64DecodeError(f"invalid base64: {exc}") from None
    if canonical and b64encode_unpadded(decoded) != stripped:
        raise Base64DecodeError("non-canonical base64 (non-zero trailing bits)")
    return decoded


# --- weak (small-order) public keys -----------------------------------------------------------
#
# Why: edwards25519 has a torsion subgroup of 8 points of small order (order 1, 2, 4 or 8).
# Under a public key A of small order, [k]A takes at most 8 values whatever the message's hash
# k, so anyone can make a signature without any private key: with A the identity, R the
# identity and S = 0, the check [S]B = R + [k]A holds for *every* message (OpenSSL, and thus
# ``cryptography``, accepts exactly that; tests/unit/federation/test_fed_keys.py shows it), and
# for the other small-order keys it holds for about one message in eight. RFC 8032's
# verification does not exclude these keys, so "the signature verifies" would mean nothing for
# them. A key generated honestly is never of small order (the chance is nil), so refusing them
# costs nothing legitimate. They are refused wherever a key enters: key documents, the
# secretariat's directory and rekey, twinning requests (membership applications), and — in
# case one was stored before this check existed — at verification time too.
#
# The y-coordinates (mod p) of the 8 small-order points: 0 (order 4, x = ±sqrt(-1)), 1 (the
# identity), p - 1 (order 2) and the two of the order-8 points. An encoding is 255 bits of y
# plus one sign bit of x; both sign bits are refused (with x = 0 the "negative" one is not
# even a valid encoding), and so are the non-canonical encodings y + p of 0 and 1 (the only
# ones below 2^255), since lax decoders reduce y mod p. That makes 14 encodings, those of
# libsodium's blocklist with the sign bit either way.

_P = 2**255 - 19
_SMALL_ORDER_Y = frozenset(
    {
        0,
        1,
        _P - 1,
        0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
    }
)
_Y_MASK = (1 << 255) - 1


def _small_order_encodings() -> frozenset[bytes]:
    encodings = set()
    for y in _SMALL_ORDER_Y:
        for representative in (y, y + _P):
            if representative <= _Y_MASK:  # only 0 and 1 have a second, non-canonical form
                for sign in (0, 1 << 255):
                    encodings.add((representative | sign).to_bytes(32, "little"))
    return frozenset(encodings)


SMALL_ORDER_ENCODINGS: frozenset[bytes] = _small_order_encodings()
"""Every 32-byte encoding :func:`is_weak_public_key` refuses (14 of them)."""


def is_weak_public_key(raw: bytes) -> bool:
    """Return True if the 32 bytes ``raw`` encode an Ed25519 point of small order.

    That covers the all-zero key, the identity (``01 00 .. 00``), the order-2, order-4 and
    order-8 points, with either sign bit, and the non-canonical encodings (y >= p) of them.
    Such a key lets anyone forge signatures that verify (see the comment above). Raises
    :class:`KeyFormatError` when ``raw`` is not 32 bytes. Pure: no key object is built.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != ED25519_PUBLIC_KEY_LENGTH:
        raise KeyFormatError("an Ed25519 public key is exactly 32 bytes", code="invalid_public_key")
    return (int.from_bytes(raw, "little") & _Y_MASK) % _P in _SMALL_ORDER_Y


def check_public_key(raw: bytes) -> bytes:
    """Return ``raw`` if it can serve as a peer's Ed25519 public key, else raise.

    :class:`WeakPublicKeyError` (code ``weak_public_key``) for a small-order point,
    :class:`KeyFormatError` (code ``invalid_public_key``) for a wrong length.
    """
    if is_weak_public_key(raw):
        raise WeakPublicKeyError()
    return bytes(raw)


def is_valid_key_id(key_id: object) -> bool:
    """Return True if ``key_id`` matches :data:`KEY_ID_PATTERN` (e.g. ``ed25519:a1b2c3d4``)."""
    return isinstance(key_id, str) and _KEY_ID_RE.fullmatch(key_id) is not None


def raw_public_key(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """Return the raw 32-byte public key for a public or private key object."""
    if isinstance(public_key, Ed25519PrivateKey):
        public_key = public_key.public_key()
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(public_raw: bytes) -> Ed25519PublicKey:
    """Build a public key object from 32 raw bytes; raise :class:`KeyFormatError` otherwise.

    Small-order keys are refused (:class:`WeakPublicKeyError`): every verification goes
    through here, so a weak key that got stored somehow still verifies nothing.
    """
    check_public_key(public_raw)
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(public_raw))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(
            f"invalid Ed25519 public key: {exc}", code="invalid_public_key"
        ) from None


def _as_raw(public: bytes | Ed25519PublicKey) -> bytes:
    if isinstance(public, Ed25519PublicKey):
        return raw_public_key(public)
    if isinstance(public, (bytes, bytearray)) and len(public) == ED25519_PUBLIC_KEY_LENGTH:
        return bytes(public)
    raise KeyFormatError("an Ed25519 public key is exactly 32 bytes", code="invalid_public_key")


def key_id_for(public: bytes | Ed25519PublicKey) -> str:
    """Derive the key id ``ed25519:<8 hex chars>`` from a public key (first 4 bytes of sha256)."""
    return "ed25519:" + hashlib.sha256(_as_raw(public)).hexdigest()[:8]


def fingerprint(public: bytes | Ed25519PublicKey) -> str:
    """Full sha256 of the raw public key as 64 lowercase hex characters (for pinning)."""
    return hashlib.sha256(_as_raw(public)).hexdigest()


def fingerprint_display(public: bytes | Ed25519PublicKey) -> str:
    """The fingerprint in space-separated groups of 4 hex characters, for humans to compare."""
    digest = fingerprint(public)
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


# How a fingerprint is shown for two people to read aloud to each other (on the phone, in
# person), chosen over a word list (PGP words, BIP-39) because:
# - both sides see the SAME characters: the CLI prints them (``hrcnet keys show``), the pin form
#   and ``hrcnet secretariat pin`` take them (``node.network.trust.normalise_fingerprint``
#   ignores the spaces and line breaks); a word list would need a second encoding and a decoder
#   on the typing side, in six languages;
# - the WHOLE 256-bit digest, never a prefix: a short prefix (even 64 bits) can be ground by an
#   attacker making keys until one matches, which is exactly what comparing is meant to stop;
# - groups of 4 in 4 numbered lines of 4: a group is said in one breath, a line is a checkpoint
#   ("line 3 matches"), and 16 characters fit a 390 px screen without breaking a group. The
#   first two groups are the key id (``ed25519:<8 hex>``), which people already recognise.
FINGERPRINT_GROUP = 4
FINGERPRINT_GROUPS_PER_LINE = 4


def fingerprint_lines(text: str) -> list[str]:
    """A fingerprint (64 hex digits, any spacing or case) as 4 lines of 4 groups of 4 digits.

    Faithful: joining the lines and removing the spaces gives back the 64 digits, in order.
    Anything else than a full sha256 fingerprint is refused (ValueError) rather than shown cut
    or padded: a page must never show a shortened fingerprint as if it were the whole one.
    """
    digits = re.sub(r"[\s:]", "", str(text)).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError("a key fingerprint is 64 hexadecimal digits")
    groups = [digits[i : i + FINGERPRINT_GROUP] for i in range(0, len(digits), FINGERPRINT_GROUP)]
    per_line = FINGERPRINT_GROUPS_PER_LINE
    return [" ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]


def verify_ed25519(public_raw: bytes, signature: bytes, message: bytes) -> bool:
    """Return True iff ``signature`` is a valid Ed25519 signature of ``message`` by the key.

    Never raises for malformed keys or signatures: they simply do not verify. The check is
    done by ``cryptography`` (OpenSSL), which rejects non-canonical S (malleability) and
    wrong lengths, matching every Wycheproof vector. Keys of small order verify nothing
    (:func:`is_weak_public_key`); none of the vectors uses one.
    """
    if not isinstance(signature, (bytes, bytearray)) or len(signature) != ED25519_SIGNATURE_LENGTH:
        return False
    try:
        public_key = public_key_from_raw(public_raw)
    except KeyFormatError:
        return False
    try:
        # No constant-time comparison is needed here: verification involves no secret, and
        # the library performs the whole check; we only learn valid/invalid.
        public_key.verify(bytes(signature), bytes(message))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, repr=False, eq=False)
class SigningKey:
    """An Ed25519 signing key with its key id and raw public key.

    Build with :func:`generate_signing_key`, :meth:`from_seed`, :meth:`from_private_key` or
    :func:`load_signing_key`.
    """

    key_id: str
    private_key: Ed25519PrivateKey
    public_raw: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_id(self.key_id):
            raise KeyFormatError(f"invalid key id {self.key_id!r}", code="invalid_key_id")
        # Refuse a mismatched pair: signatures would be published under the wrong public key.
        if raw_public_key(self.private_key) != self.public_raw:
            raise KeyFormatError("public key does not match private key")

    @classmethod
    def from_private_key(
        cls, private_key: Ed25519PrivateKey, key_id: str | None = None
    ) -> SigningKey:
        """Wrap a private key; ``key_id`` defaults to :func:`key_id_for` of its public key."""
        public_raw = raw_public_key(private_key)
        return cls(key_id or key_id_for(public_raw), private_key, public_raw)

    @classmethod
    def from_seed(cls, seed: bytes, key_id: str | None = None) -> SigningKey:
        """Build from a 32-byte Ed25519 seed (RFC 8032 secret key)."""
        if not isinstance(seed, (bytes, bytearray)) or len(seed) != 32:
            raise KeyFormatError("an Ed25519 seed is exactly 32 bytes", code="invalid_private_key")
        return cls.from_private_key(Ed25519PrivateKey.from_private_bytes(bytes(seed)), key_id)

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public key object."""
        return self.private_key.public_key()

    @property
    def public_b64(self) -> str:
        """The raw public key as unpadded standard base64 (as published in key documents)."""
        return b64encode_unpadded(self.public_raw)

    @property
    def fingerprint(self) -> str:
        """Full sha256 hex fingerprint of the public key."""
        return fingerprint(self.public_raw)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)

    def __repr__(self) -> str:
        # Only public data: reprs end up in logs, tracebacks and debugger output, and a
        # leaked private key lets anyone impersonate the city to the whole network.
        return f"SigningKey(key_id={self.key_id!r}, fingerprint={fingerprint(self.public_raw)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        # Refuse pickling so private material is never serialised by accident (caches, queues).
        raise TypeError("SigningKey cannot be pickled; store it with save_private_key()")

    def __copy__(self) -> SigningKey:
        return self  # immutable: copies may share it (and must not go through __reduce__)

    def __deepcopy__(self, memo: dict[int, object]) -> SigningKey:
        return self


def generate_signing_key(key_id: str | None = None) -> SigningKey:
    """Generate a fresh Ed25519 key (OS CSPRNG via OpenSSL)."""
    return SigningKey.from_private_key(Ed25519PrivateKey.generate(), key_id)


def save_private_key(
    key: SigningKey | Ed25519PrivateKey,
    path: str | os.PathLike[str],
    *,
    password: bytes | None = None,
) -> None:
    """Write the private key as PKCS8 PEM to ``path`` with mode 0600; never overwrite.

    Raises :class:`KeyFileError` if the path already exists (including a dangling symlink).
    With ``password`` the PEM is encrypted (best available PKCS8 encryption).
    """
    private_key = key.private_key if isinstance(key, SigningKey) else key
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    # O_CREAT|O_EXCL: refuse to overwrite an existing key and to follow a planted symlink;
    # mode 0o600 at creation: the file is never group/world readable, not even briefly.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(os.fspath(path), flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"refusing to overwrite existing key file {os.fspath(path)}") from None
    try:
        # The umask can only remove bits; fchmod pins the mode to exactly 0600.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            fd = -1  # ownership moved to the file object, which closes it
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        if fd != -1:
            os.close(fd)
        # Do not leave a truncated key behind: a later load would fail confusingly.
        Path(path).unlink(missing_ok=True)
        raise


def load_signing_key(
    path: str | os.PathLike[str],
    key_id: str | None = None,
    *,
    password: bytes | None = None,
    require_private_mode: bool = True,
) -> SigningKey:
    """Load a PKCS8 PEM Ed25519 private key written by :func:`save_private_key`.

    With ``require_private_mode`` (default) refuse a file readable or writable by group or
    others, like OpenSSH does: such a key must be presumed compromised.
    """
    file_path = Path(path)
    try:
        mode = file_path.stat().st_mode
        data = file_path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {file_path}: {exc.strerror}") from None
    if require_private_mode and os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise KeyFileError(
            f"key file {file_path} has mode {stat.S_IMODE(mode):04o}; expected 0600 (chmod 600)"
        )
    try:
        private_key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(
            f"cannot load private key: {exc}", code="invalid_private_key"
        ) from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise KeyFormatError("key file does not hold an Ed25519 key", code="invalid_private_key")
    return SigningKey.from_private_key(private_key, key_id)
