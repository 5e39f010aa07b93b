"""SMS gateways: who may post a message (signatures, shared secrets), what it says (the message
grammar), and the reply each gateway relays back to the reporter.

Three formats (``docs/community.md`` documents each payload):

- ``twilio``: a form post signed with ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token,
  URL + every parameter name and value, sorted by name)). The URL is the one Twilio called: the
  node's configured ``base_url`` + path + query, never the ``Host`` header (a client chooses that
  header, and behind a reverse proxy the URL the node sees is not the one Twilio signed).
- ``africastalking``: a form post; Africa's Talking does not sign callbacks, so the node checks a
  shared secret, sent as the password of HTTP Basic authentication (put it in the callback URL as
  ``https://hrcnet:SECRET@…``: it travels in the ``Authorization`` header, never in the request
  line that access logs record) or in an ``X-Community-Secret`` header.
- ``generic``: JSON, ``X-Hrcnet-Timestamp`` (Unix seconds) and ``X-Hrcnet-Signature:
  sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``; a timestamp more than
  :data:`GENERIC_MAX_SKEW` away is refused (a captured request cannot be replayed later), and a
  message ``id`` seen before returns the first report (a replay within the window writes nothing).

Every comparison of a secret or signature is constant-time (:func:`hmac.compare_digest`), and no
secret or signature is ever logged or echoed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from node.community.categories import KEYWORD_LANGUAGE, Category, find_category, fold
from node.community.services import Submission

GATEWAYS = ("twilio", "africastalking", "generic")
GENERIC_MAX_SKEW = 300  # seconds
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SignatureError(Exception):
    """The request does not prove it comes from the configured gateway (answered 401)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 over the URL and the sorted parameters."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def check_twilio(
    auth_token: str | None, url: str, params: list[tuple[str, str]], signature: str | None
) -> None:
    """Refuse a Twilio post whose signature is missing or wrong."""
    if not auth_token:
        raise SignatureError("gateway_not_configured", "This gateway is not configured.")
    if not signature:
        raise SignatureError("signature_missing", "X-Twilio-Signature is missing.")
    expected = twilio_signature(auth_token, url, params)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature_invalid", "The signature does not match.")


def check_shared_secret(
    secret: str | None, authorization: str | None, header_secret: str | None
) -> None:
    """Refuse an Africa's Talking post without the shared secret (Basic password or header)."""
    if not secret:
        raise SignatureError("gateway_not_configured", "This gateway is not configured.")
    offered = header_secret
    if offered is None and authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        offered = decoded.partition(":")[2]
    if not offered:
        raise SignatureError("secret_missing", "The shared secret is missing.")
    if not hmac.compare_digest(secret.encode(), offered.encode()):
        raise SignatureError("secret_invalid", "The shared secret does not match.")


def generic_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_generic(
    secret: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: datetime,
) -> None:
    """Refuse a generic post whose signature is missing, wrong, or too old (a replay)."""
    if not secret:
        raise SignatureError("gateway_not_configured", "This gateway is not configured.")
    if not signature or not timestamp:
        raise SignatureError(
            "signature_missing", "X-Hrcnet-Timestamp and X-Hrcnet-Signature are required."
        )
    expected = generic_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature_invalid", "The signature does not match.")
    # Checked after the signature: only a genuine but old request learns it is too old.
    if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > GENERIC_MAX_SKEW:
        raise SignatureError("signature_expired", "The timestamp is too far from now.")


@dataclass(frozen=True)
class Parsed:
    """An SMS read against the grammar: a submission, or None with the language to answer in."""

    submission: Submission | None
    language: str


def parse_message(
    text: str, categories: tuple[Category, ...], districts: list[str], *, today: date
) -> Parsed:
    """Read ``CATEGORY [DISTRICT] [YYYY-MM-DD] description`` (any case, any language).

    The category is a keyword in one of the six languages, its code or its number; the district
    one of the node's district codes (when the second word is none, the report is placed in the
    whole city and the word stays in the description); the date defaults to today.
    """
    words = text.replace("#", " ").replace("*", " ").split()
    if not words:
        return Parsed(None, "en")
    category = find_category(categories, words[0])
    language = KEYWORD_LANGUAGE.get(fold(words[0]), "en")
    if category is None:
        return Parsed(None, language)
    rest = words[1:]
    by_upper = {code.upper(): code for code in districts}
    district = "_T"
    if rest and rest[0].upper() in by_upper:
        district = by_upper[rest[0].upper()]
        rest = rest[1:]
    occurred = today.isoformat()
    if rest and _DATE.match(rest[0]):
        occurred, rest = rest[0], rest[1:]
    return Parsed(
        Submission(
            category=category.code,
            district=district,
            occurred_on=occurred,
            description=" ".join(rest),
            language=language,
        ),
        language,
    )


def twiml(message: str) -> str:
    """A TwiML document replying ``message`` to the sender (XML-escaped)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(message)}</Message></Response>"
    )
