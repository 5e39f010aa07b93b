"""HTTP between nodes: signed requests out, outcomes classified for the delivery policy.

Only jobs and the CLI call this module (plus the one-off discovery when an official asks to
twin), never a page request: a slow peer must never slow an official's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from federation import httpsig
from federation.canonical import CanonicalJSONError, loads_strict
from federation.keys import SigningKey

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 8 << 20
USER_AGENT = "hrcnet/0.1 (+https://hrcnet.org)"


@dataclass(frozen=True)
class Outcome:
    """What a peer answered: HTTP status (0 when no answer), its problem code, Retry-After."""

    status: int
    code: str | None = None
    detail: str | None = None
    retry_after_s: float | None = None
    body: Any = None

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def permanent(self) -> bool:
        # The peer understood and refused this document: resending the same bytes cannot help.
        return self.status in (400, 409, 413, 415, 422)

    @property
    def auth_problem(self) -> bool:
        return self.status in (401, 403)


class PeerClient:
    """Signed requests from ``origin`` with ``key``; ``session`` is injectable for tests."""

    def __init__(
        self, origin: str, key: SigningKey, session: requests.Session, clock_s: Any
    ) -> None:
        self.origin = origin
        self.key = key
        self.session = session
        self.clock_s = clock_s

    def _signed(self, method: str, url: str, body: bytes | None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(
            httpsig.sign_request(
                method, url, headers, body, self.origin, self.key, int(self.clock_s())
            )
        )
        return headers

    def post_envelope(self, base_url: str, raw: bytes) -> Outcome:
        url = f"{base_url}/federation/v1/inbox"
        return self._call("POST", url, raw)

    def get_outbox(self, base_url: str, since: int) -> Outcome:
        url = f"{base_url}/federation/v1/outbox?{urlencode({'since': since})}"
        return self._call("GET", url, None)

    def _call(self, method: str, url: str, body: bytes | None) -> Outcome:
        try:
            response = self.session.request(
                method,
                url,
                data=body,
                headers=self._signed(method, url, body),
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Outcome(0, "unreachable", f"{exc.__class__.__name__}: {str(exc)[:300]}")
        return _outcome(response)


def _outcome(response: requests.Response) -> Outcome:
    content = response.content[:MAX_RESPONSE_BYTES]
    body: Any = None
    code = detail = None
    if content:
        try:
            body = loads_strict(content)
        except CanonicalJSONError:
            body = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    retry_after = None
    header = response.headers.get("Retry-After")
    if header and header.strip().isdigit():
        retry_after = float(header.strip())
    return Outcome(response.status_code, code, detail, retry_after, body)


def fetch_json(session: requests.Session, url: str) -> Any:
    """GET a public JSON document (well-known, key document) with a short timeout.

    Raises ``ValueError`` with a readable message on any failure.
    """
    try:
        response = session.get(
            url,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            allow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )
    except requests.RequestException as exc:
        raise ValueError(f"{url} did not answer ({exc.__class__.__name__}).") from exc
    if response.status_code != 200:
        raise ValueError(f"{url} answered HTTP {response.status_code}.")
    try:
        return loads_strict(response.content[:MAX_RESPONSE_BYTES])
    except CanonicalJSONError as exc:
        raise ValueError(f"{url} did not return valid JSON ({exc.code}).") from exc
