"""RFC 9421 HTTP message signatures for node-to-node requests (contract.md "Request signatures").

Profile: label ``hrc``, ``alg="ed25519"``, ``keyid="<origin city_id> <key_id>"``, ``created``
(integer seconds) within ±300 s of the receiver's clock, covering ``"@method" "@target-uri"``
and, when there is a body, ``"content-digest"`` (RFC 9530, ``sha-256``).

The signature base (RFC 9421 section 2.5) and the Structured Field parsing/serialisation it
needs (RFC 8941 dictionaries, inner lists, parameters) are implemented here so that every
byte of the signed text is under our control; :func:`compute_signature_base` is generic
enough to reproduce the RFC 9421 Appendix B.2.6 example byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.envelope import is_valid_origin
from federation.keys import SigningKey, is_valid_key_id, verify_ed25519

__all__ = [
    "ALGORITHM",
    "LABEL",
    "BareItem",
    "MAX_SKEW_S",
    "RequestSignatureError",
    "SfInnerList",
    "SfItem",
    "StructuredFieldError",
    "Token",
    "compute_signature_base",
    "content_digest",
    "parse_dictionary",
    "serialize_inner_list",
    "sign_components",
    "sign_request",
    "verify_request",
]

LABEL = "hrc"
ALGORITHM = "ed25519"
MAX_SKEW_S = 300
# Generous for real signatures (a few hundred bytes) yet bounds work done on hostile input.
MAX_SIGNATURE_HEADER_LENGTH = 8192

_SUPPORTED_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)
_FIELD_NAME_RE = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
# Printable ASCII plus HTAB/SP. CR/LF would let a value forge extra lines in the signature
# base ("line injection"), so such values are refused outright.
_SAFE_VALUE_RE = re.compile(r"^[\t\x20-\x7e]*$")


class RequestSignatureError(ValueError):
    """A request signature is missing or invalid; ``code`` says why (answer 401)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# --- RFC 8941 structured fields (the subset RFC 9421 needs) ---------------------------------


class StructuredFieldError(ValueError):
    """Text is not a valid RFC 8941 structured field (or a value cannot be serialised)."""


class Token(str):
    """An RFC 8941 Token (serialised bare, unlike a String which is quoted)."""

    __slots__ = ()


BareItem = int | Decimal | str | Token | bytes | bool


@dataclass(frozen=True)
class SfItem:
    """A structured-field Item: a bare value with ordered parameters."""

    value: BareItem
    params: dict[str, BareItem] = field(default_factory=dict)


@dataclass(frozen=True)
class SfInnerList:
    """A structured-field Inner List: items with ordered parameters of the list itself."""

    items: list[SfItem]
    params: dict[str, BareItem] = field(default_factory=dict)


_LCALPHA = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_ALPHA = _LCALPHA + _LCALPHA.upper()
_KEY_FIRST = _LCALPHA + "*"
_KEY_CHARS = _LCALPHA + _DIGITS + "_-.*"
_TCHAR = _ALPHA + _DIGITS + "!#$%&'*+-.^_`|~"
_TOKEN_CHARS = _TCHAR + ":/"
_B64_CHARS = _ALPHA + _DIGITS + "+/="


class _SfParser:
    """Parser following RFC 8941 section 4.2; inner lists cannot nest, so depth is bounded."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def fail(self, message: str) -> StructuredFieldError:
        return StructuredFieldError(f"{message} at offset {self.pos}")

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def skip_ows(self) -> None:
        while not self.at_end() and self.peek() in (" ", "\t"):
            self.pos += 1

    def parse_dictionary(self) -> dict[str, SfItem | SfInnerList]:
        result: dict[str, SfItem | SfInnerList] = {}
        self.skip_sp()
        if self.at_end():
            return result
        while True:
            key = self.parse_key()
            if key in result:
                # RFC 8941 says "last wins"; we refuse instead, for the same reason as JSON
                # duplicate keys: a proxy and the verifier could pick different members.
                raise self.fail(f"duplicate dictionary key {key!r}")
            if self.peek() == "=":
                self.pos += 1
                result[key] = self.parse_item_or_inner_list()
            else:
                result[key] = SfItem(True, self.parse_params())
            self.skip_ows()
            if self.at_end():
                return result
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip_ows()
            if self.at_end():
                raise self.fail("trailing comma")

    def parse_item_or_inner_list(self) -> SfItem | SfInnerList:
        if self.peek() == "(":
            return self.parse_inner_list()
        return self.parse_item()

    def parse_inner_list(self) -> SfInnerList:
        self.pos += 1  # "("
        items: list[SfItem] = []
        while not self.at_end():
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return SfInnerList(items, self.parse_params())
            items.append(self.parse_item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")
        raise self.fail("unterminated inner list")

    def parse_item(self) -> SfItem:
        value = self.parse_bare_item()
        return SfItem(value, self.parse_params())

    def parse_params(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            key = self.parse_key()
            if key in params:
                # Strict for the same reason as dictionary keys (e.g. two "created").
                raise self.fail(f"duplicate parameter {key!r}")
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.parse_bare_item()
            params[key] = value
        return params

    def parse_key(self) -> str:
        char = self.peek()
        if not char or char not in _KEY_FIRST:
            raise self.fail("expected a key")
        start = self.pos
        while self.peek() and self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def parse_bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or (char and char in _DIGITS):
            return self.parse_number()
        if char == '"':
            return self.parse_string()
        if char == ":":
            return self.parse_byte_sequence()
        if char == "?":
            return self.parse_boolean()
        if char and (char in _ALPHA or char == "*"):
            return self.parse_token()
        raise self.fail("expected a bare item")

    def parse_number(self) -> int | Decimal:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        digits_start = self.pos
        while self.peek() and self.peek() in _DIGITS:
            self.pos += 1
        integer_digits = self.pos - digits_start
        if integer_digits == 0:
            raise self.fail("expected a digit")
        if self.peek() != ".":
            if integer_digits > 15:
                raise self.fail("integer longer than 15 digits")
            return int(self.text[start : self.pos])
        if integer_digits > 12:
            raise self.fail("decimal integer part longer than 12 digits")
        self.pos += 1
        fraction_start = self.pos
        while self.peek() and self.peek() in _DIGITS:
            self.pos += 1
        if not 1 <= self.pos - fraction_start <= 3:
            raise self.fail("decimal needs 1 to 3 fractional digits")
        return Decimal(self.text[start : self.pos])

    def parse_string(self) -> str:
        self.pos += 1  # opening quote
        chars: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if not escaped or escaped not in ('"', "\\"):
                    raise self.fail("invalid escape in string")
                chars.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(chars)
            elif not " " <= char <= "~":
                raise self.fail("invalid character in string")
            else:
                chars.append(char)
        raise self.fail("unterminated string")

    def parse_token(self) -> Token:
        start = self.pos
        self.pos += 1
        while self.peek() and self.peek() in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def parse_byte_sequence(self) -> bytes:
        self.pos += 1  # opening colon
        end = self.text.find(":", self.pos)
        if end == -1:
            raise self.fail("unterminated byte sequence")
        encoded = self.text[self.pos : end]
        if any(char not in _B64_CHARS for char in encoded):
            raise self.fail("invalid base64 in byte sequence")
        self.pos = end + 1
        stripped = encoded.rstrip("=")
        if "=" in stripped or len(stripped) % 4 == 1:
            raise self.fail("invalid base64 in byte sequence")
        try:
            # RFC 8941: parsers SHOULD NOT fail on missing "=" padding, so re-pad.
            return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("invalid base64 in byte sequence") from None

    def parse_boolean(self) -> bool:
        self.pos += 1
        char = self.peek()
        if not char or char not in ("0", "1"):
            raise self.fail("invalid boolean")
        self.pos += 1
        return char == "1"


def parse_dictionary(text: str) -> dict[str, SfItem | SfInnerList]:
    """Parse an RFC 8941 Dictionary (e.g. ``Signature-Input``); raise StructuredFieldError.

    Stricter than RFC 8941 on one point: duplicate keys are an error, not "last wins".
    """
    if not isinstance(text, str):
        raise StructuredFieldError("structured field value must be text")
    return _SfParser(text.strip(" \t")).parse_dictionary()


def _serialize_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise StructuredFieldError("decimal must be finite")
    try:
        quantized = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise StructuredFieldError("decimal out of structured-field range") from None
    integer, _, fraction = format(quantized, "f").partition(".")
    if len(integer.lstrip("-")) > 12:
        raise StructuredFieldError("decimal out of structured-field range")
    return f"{integer}.{fraction.rstrip('0') or '0'}"


def _serialize_bare_item(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise StructuredFieldError("integer out of structured-field range")
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, Token):
        if not value or value[0] not in _ALPHA + "*" or any(c not in _TOKEN_CHARS for c in value):
            raise StructuredFieldError(f"invalid token {value!r}")
        return str(value)
    if isinstance(value, str):
        if not _SAFE_VALUE_RE.fullmatch(value) or "\t" in value:
            raise StructuredFieldError("strings must be printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialise {type(value).__name__}")


def _serialize_params(params: Mapping[str, BareItem]) -> str:
    parts = []
    for key, value in params.items():
        if not key or key[0] not in _KEY_FIRST or any(c not in _KEY_CHARS for c in key):
            raise StructuredFieldError(f"invalid parameter key {key!r}")
        parts.append(f";{key}" if value is True else f";{key}={_serialize_bare_item(value)}")
    return "".join(parts)


def serialize_inner_list(
    components: Sequence[str], params: Mapping[str, BareItem] | Sequence[tuple[str, BareItem]]
) -> str:
    """Serialise ``("c1" "c2");p1=v1;...`` — the ``@signature-params`` value (RFC 9421 2.3)."""
    ordered = dict(params)
    inner = " ".join(_serialize_bare_item(str(name)) for name in components)
    return f"({inner}){_serialize_params(ordered)}"


# --- signature base --------------------------------------------------------------------------


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` value for ``body``: ``sha-256=:<base64>:``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _normalize_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> dict[str, str]:
    """Lower-case names; combine repeated fields with ", " (RFC 9421 section 2.1)."""
    if headers is None:
        return {}
    combined: dict[str, list[str]] = {}
    try:
        # Mappings (dict, werkzeug Headers: items() yields repeated fields) or (name, value) pairs.
        pairs: Iterable[tuple[object, object]] = (
            headers.items() if hasattr(headers, "items") else headers
        )
        for name, value in pairs:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if not isinstance(name, str) or not isinstance(value, str):
                raise RequestSignatureError(
                    "header names and values must be text", "invalid_request"
                )
            # RFC 9421 2.1: strip leading and trailing whitespace from each field line value.
            combined.setdefault(name.lower(), []).append(value.strip(" \t"))
    except RequestSignatureError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise RequestSignatureError(f"unreadable headers: {exc}", "invalid_request") from None
    return {name: ", ".join(values) for name, values in combined.items()}


def _derived_component(name: str, method: str, target_uri: str) -> str:
    if name == "@method":
        return method
    if name == "@target-uri":
        return target_uri
    try:
        parts = urlsplit(target_uri)
        port = parts.port
    except ValueError as exc:
        raise RequestSignatureError(f"invalid target URI: {exc}", "invalid_request") from None
    scheme = parts.scheme.lower()
    if name == "@scheme":
        return scheme
    if name == "@authority":
        host = (parts.hostname or "").lower()
        if ":" in host:
            host = f"[{host}]"
        # RFC 9421 2.2.3: authority normalised per HTTP; default ports are omitted.
        default_port = {"http": 80, "https": 443}.get(scheme)
        return host if port is None or port == default_port else f"{host}:{port}"
    path = parts.path or "/"
    if name == "@path":
        return path
    if name == "@query":
        return "?" + parts.query
    if name == "@request-target":
        return path + ("?" + parts.query if parts.query else "")
    raise RequestSignatureError(f"unsupported derived component {name!r}", "unsupported_component")


def compute_signature_base(
    method: str,
    target_uri: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    components: Sequence[str],
    params: Mapping[str, BareItem] | Sequence[tuple[str, BareItem]],
) -> str:
    """Build the RFC 9421 section 2.5 signature base for a request.

    ``components`` are component identifiers without parameters (derived ``@method``,
    ``@target-uri``, ``@authority``, ``@scheme``, ``@request-target``, ``@path``, ``@query``
    or lower-case header field names); ``params`` are the signature parameters in order
    (e.g. ``[("created", 1618884473), ("keyid", "test-key-ed25519")]``). Raises
    :class:`RequestSignatureError` (``invalid_request``, ``unsupported_component``,
    ``missing_covered_header``) on anything it cannot represent unambiguously.
    """
    fields = _normalize_headers(headers)
    for value, what in ((method, "method"), (target_uri, "target URI")):
        # Line-injection guard for the derived values, which come from the request line.
        if not isinstance(value, str) or not value or not _SAFE_VALUE_RE.fullmatch(value):
            raise RequestSignatureError(f"{what} must be printable ASCII", "invalid_request")
    if len(set(components)) != len(components):
        raise RequestSignatureError("a component is covered twice", "malformed_signature_input")
    lines = []
    for name in components:
        if name.startswith("@"):
            if name not in _SUPPORTED_DERIVED:
                raise RequestSignatureError(
                    f"unsupported derived component {name!r}", "unsupported_component"
                )
            value = _derived_component(name, method, target_uri)
        else:
            if not _FIELD_NAME_RE.fullmatch(name):
                raise RequestSignatureError(
                    f"invalid component identifier {name!r}", "unsupported_component"
                )
            if name not in fields:
                raise RequestSignatureError(
                    f"covered header {name!r} is absent", "missing_covered_header"
                )
            value = fields[name]
        if not _SAFE_VALUE_RE.fullmatch(value):
            raise RequestSignatureError(
                f"component {name!r} has a non-ASCII or control character", "invalid_request"
            )
        lines.append(f'"{name}": {value}')
    try:
        signature_params = serialize_inner_list(components, params)
    except StructuredFieldError as exc:
        raise RequestSignatureError(str(exc), "malformed_signature_input") from None
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines)


def sign_components(
    label: str,
    method: str,
    target_uri: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    components: Sequence[str],
    params: Mapping[str, BareItem] | Sequence[tuple[str, BareItem]],
    private_key: Ed25519PrivateKey | SigningKey,
) -> tuple[str, dict[str, str]]:
    """Sign any component list with Ed25519; return ``(signature_base, headers)``.

    ``headers`` holds ``Signature-Input`` and ``Signature`` for ``label``. Generic building
    block behind :func:`sign_request` (and used to reproduce RFC 9421 Appendix B.2.6).
    """
    base = compute_signature_base(method, target_uri, headers, components, params)
    signature = private_key.sign(base.encode("ascii"))
    return base, {
        "Signature-Input": f"{label}={serialize_inner_list(components, params)}",
        "Signature": f"{label}={_serialize_bare_item(signature)}",
    }


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    origin: str,
    key: SigningKey,
    now_s: int,
) -> dict[str, str]:
    """Sign a node-to-node request; return the headers to add to it.

    Returns ``Signature-Input`` and ``Signature`` (label ``hrc``) and, when ``body`` is not
    None, ``Content-Digest`` (which replaces any digest already in ``headers``). ``url`` must
    be the exact absolute URL the request is sent to (it is covered as ``@target-uri``).
    """
    if not is_valid_origin(origin):
        raise RequestSignatureError(f"invalid origin {origin!r}", "invalid_request")
    added: dict[str, str] = {}
    components = ["@method", "@target-uri"]
    if body is not None:
        added["Content-Digest"] = content_digest(body)
        components.append("content-digest")
    params: list[tuple[str, BareItem]] = [
        ("created", int(now_s)),
        ("keyid", f"{origin} {key.key_id}"),
        ("alg", ALGORITHM),
    ]
    base_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-digest"}
    base_headers.update(added)
    _, signature_headers = sign_components(
        LABEL, method, url, base_headers, components, params, key
    )
    added.update(signature_headers)
    return added


# --- verification ----------------------------------------------------------------------------


def _target_uri_variants(url: str, fields: Mapping[str, str]) -> list[str]:
    """Plausible URLs a sender may have signed instead of ``url`` (proxy scheme/host drift)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    schemes = {parts.scheme, "https" if parts.scheme == "http" else "http"}
    netlocs = {parts.netloc}
    for name in ("host", "x-forwarded-host"):
        value = fields.get(name, "").split(",")[0].strip()
        if value and _SAFE_VALUE_RE.fullmatch(value):
            netlocs.add(value)
    variants = []
    for scheme in sorted(schemes):
        for netloc in sorted(netlocs):
            candidate = parts._replace(scheme=scheme, netloc=netloc).geturl()
            if candidate != url:
                variants.append(candidate)
    return variants[:8]


def _check_digest(fields: Mapping[str, str], body: bytes) -> None:
    header = fields.get("content-digest")
    if header is None:
        raise RequestSignatureError("Content-Digest header missing", "digest_missing")
    try:
        digests = parse_dictionary(header)
    except StructuredFieldError as exc:
        raise RequestSignatureError(
            f"malformed Content-Digest: {exc}", "malformed_digest"
        ) from None
    member = digests.get("sha-256")
    if member is None:
        raise RequestSignatureError("Content-Digest has no sha-256 value", "digest_missing")
    if not isinstance(member, SfItem) or not isinstance(member.value, bytes):
        raise RequestSignatureError("sha-256 digest must be a byte sequence", "malformed_digest")
    # Plain comparison is fine: the digest is public, there is no secret to leak by timing.
    if member.value != hashlib.sha256(body).digest():
        raise RequestSignatureError("Content-Digest does not match the body", "digest_mismatch")


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | None,
    lookup_key: Callable[[str, str], bytes | None],
    now_s: int,
    max_skew_s: int = MAX_SKEW_S,
) -> tuple[str, str]:
    """Verify the ``hrc`` signature of an incoming request; return ``(origin, key_id)``.

    ``url`` is the target URI as the *receiver* knows it (its public base URL + path + query,
    not a Host header it cannot trust). ``lookup_key(origin, key_id)`` returns the raw public
    key or None. Raises :class:`RequestSignatureError` with code: ``missing_signature``,
    ``malformed_signature_input``, ``malformed_signature``, ``wrong_label``, ``wrong_alg``,
    ``missing_component``, ``unsupported_component``, ``missing_covered_header``,
    ``created_too_old``, ``created_in_future``, ``signature_expired``, ``malformed_keyid``,
    ``digest_missing``, ``malformed_digest``, ``digest_mismatch``, ``unknown_key``,
    ``wrong_target_uri``, ``bad_signature`` or ``invalid_request``. Never raises anything else
    for any header content.
    """
    fields = _normalize_headers(headers)
    input_header = fields.get("signature-input")
    signature_header = fields.get("signature")
    if input_header is None or signature_header is None:
        raise RequestSignatureError("request is not signed", "missing_signature")
    if max(len(input_header), len(signature_header)) > MAX_SIGNATURE_HEADER_LENGTH:
        raise RequestSignatureError("signature headers too long", "malformed_signature_input")
    try:
        inputs = parse_dictionary(input_header)
    except StructuredFieldError as exc:
        raise RequestSignatureError(
            f"bad Signature-Input: {exc}", "malformed_signature_input"
        ) from None
    try:
        signatures = parse_dictionary(signature_header)
    except StructuredFieldError as exc:
        raise RequestSignatureError(f"bad Signature: {exc}", "malformed_signature") from None
    if LABEL not in inputs:
        raise RequestSignatureError(f"no signature labelled {LABEL!r}", "wrong_label")
    if LABEL not in signatures:
        raise RequestSignatureError(f"Signature has no {LABEL!r} member", "missing_signature")

    signature_input = inputs[LABEL]
    if not isinstance(signature_input, SfInnerList):
        raise RequestSignatureError(
            "signature input must be an inner list", "malformed_signature_input"
        )
    components: list[str] = []
    for item in signature_input.items:
        # Only plain String identifiers: component parameters (;sf, ;key, ;req, ;bs) change
        # how values are extracted, and supporting none of them keeps the base unambiguous.
        if type(item.value) is not str or item.params:
            raise RequestSignatureError(
                "component identifiers must be plain strings", "malformed_signature_input"
            )
        components.append(item.value)
    params = signature_input.params

    # Algorithm pinned by the profile: never let the sender choose how we verify.
    alg = params.get("alg")
    if type(alg) is not str or alg != ALGORITHM:
        raise RequestSignatureError(f'alg must be "{ALGORITHM}"', "wrong_alg")

    required = ["@method", "@target-uri"] + (["content-digest"] if body else [])
    missing = [name for name in required if name not in components]
    if missing:
        raise RequestSignatureError(f"not covered: {', '.join(missing)}", "missing_component")

    created = params.get("created")
    if type(created) is not int:
        raise RequestSignatureError("created must be an integer", "malformed_signature_input")
    # Freshness window against replay; checked before any key lookup so stale junk cannot
    # trigger key fetches.
    if created < now_s - max_skew_s:
        raise RequestSignatureError("signature created too long ago", "created_too_old")
    if created > now_s + max_skew_s:
        raise RequestSignatureError("signature created in the future", "created_in_future")
    expires = params.get("expires")
    if expires is not None and (type(expires) is not int or expires < now_s):
        raise RequestSignatureError("signature has expired", "signature_expired")

    keyid = params.get("keyid")
    keyid_parts = keyid.split(" ") if type(keyid) is str else []
    if (
        len(keyid_parts) != 2
        or not is_valid_origin(keyid_parts[0])
        or not is_valid_key_id(keyid_parts[1])
    ):
        raise RequestSignatureError('keyid must be "<city_id> <key_id>"', "malformed_keyid")
    origin, key_id = keyid_parts

    # Covering content-digest only helps if the digest really is the body's digest.
    if body or "content-digest" in components:
        _check_digest(fields, body or b"")

    signature_member = signatures[LABEL]
    if not isinstance(signature_member, SfItem) or not isinstance(signature_member.value, bytes):
        raise RequestSignatureError("signature must be a byte sequence", "malformed_signature")
    signature = signature_member.value
    if len(signature) != 64:
        raise RequestSignatureError("an Ed25519 signature is 64 bytes", "malformed_signature")

    # Rebuild the base from *our* view of the request and the sender's parameters exactly as
    # received (re-serialised canonically).
    base = compute_signature_base(method, url, fields, components, params)

    public_raw = lookup_key(origin, key_id)
    if public_raw is None:
        raise RequestSignatureError(f"unknown key {key_id} for {origin}", "unknown_key")
    if verify_ed25519(public_raw, signature, base.encode("ascii")):
        return origin, key_id

    # Diagnosis only (the request is rejected either way): if the signature is genuine for
    # a nearby URL, say so — usually a proxy rewriting scheme/host, or a request replayed
    # from another endpoint.
    for variant in _target_uri_variants(url, fields):
        try:
            variant_base = compute_signature_base(method, variant, fields, components, params)
        except RequestSignatureError:
            continue
        if verify_ed25519(public_raw, signature, variant_base.encode("ascii")):
            raise RequestSignatureError(
                f"signature covers a different @target-uri than {url}", "wrong_target_uri"
            )
    raise RequestSignatureError("signature does not verify", "bad_signature")
