"""HTTP between nodes: the one outbound client for every peer call, and signed requests.

Only jobs and the CLI call this module, never a request thread: a slow or hostile peer must
never hold a worker that serves officials, citizens or other nodes.

Every peer call (key documents, discovery, delivery, pull) goes through :func:`call`, which
enforces, whatever the peer does:

* a **total deadline** per call covering connect, headers and body. Per-read timeouts alone do
  not bound a call: a server that drips one byte every 2 s never trips a 10 s read timeout. A
  watchdog timer shuts the call's socket down at the deadline, which wakes the blocked read;
* a **byte cap**: the body is streamed and reading stops at the cap (a 300 MB document is never
  read whole); we ask for ``Accept-Encoding: identity`` and refuse any compressed answer, so a
  small gzip cannot expand past the cap;
* **no redirects** (a peer could otherwise bounce us to an address the policy refuses);
* a **destination policy** checked at connect time: the host is resolved, *every* address is
  checked, and the socket connects to a checked address (no DNS-rebinding gap between check and
  connect). Loopback, link-local, private, multicast, reserved and unspecified ranges (IPv4 and
  IPv6, IPv4-mapped/NAT64/6to4/Teredo unwrapped) are refused unless the node sets
  ``allow_private_peers`` (``NODE_ALLOW_PRIVATE_PEERS=1``). The refusal happens before any
  connection, and callers report it with the same words as a closed port, so a stranger's
  ``base_url`` cannot be used to map which internal ports are open.

Why not ``requests-hardened``: its IP filter checks only the first resolved address and can
allow loopback but not private ranges, and it has neither a total deadline nor a byte cap; the
adapter below is small and tested with real sockets (tests/outbound/test_outbound_client.py).

Tests route peer calls to in-process apps by swapping ``NodeRuntime.http_session`` for a
session with their own adapter; the deadline and cap logic here still applies to those calls.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from federation import httpsig
from federation.canonical import CanonicalJSONError, loads_strict
from federation.keys import SigningKey

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
# Whole-call deadlines (connect + headers + body). Module values so tests can shorten them.
CALL_DEADLINE_S = 15.0  # deliveries and pulls: an outbox page may be a few MB
FETCH_DEADLINE_S = 10.0  # well-known and key documents: small
MAX_RESPONSE_BYTES = 8 << 20  # an outbox page of 100 envelopes
MAX_DOCUMENT_BYTES = 256 << 10  # a well-known or key document is a few KB
CHUNK_BYTES = 64 << 10
USER_AGENT = "hrcnet/0.1 (+https://hrcnet.org)"

# One sentence for every "could not reach it" case (policy refusal, closed port, timeout, DNS):
# telling them apart would let whoever chose the URL probe which internal ports are open.
UNREACHABLE = "could not be reached as an hrcnet node"


class OutboundError(requests.RequestException):
    """A peer call that did not produce a usable answer (deadline, size, encoding)."""


class DestinationRefused(OSError):
    """The destination resolves to an address the outbound policy does not allow."""


# --- destination policy ---------------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Ranges Python does not flag as non-global on every supported version.
_EXTRA_REFUSED = tuple(
    ipaddress.ip_network(net)
    for net in ("100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15")
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # An IPv6 form of an IPv4 address reaches that IPv4 address: judge it by the IPv4 one.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_is_public(text: str) -> bool:
    """Whether a peer may be reached at this IP address without ``allow_private_peers``."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            ip = inner
    if any(ip in net for net in _EXTRA_REFUSED):
        return False
    return not (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or not ip.is_global
    )


def open_checked_socket(
    host: str, port: int, timeout: float | None, *, allow_private: bool
) -> socket.socket:
    """Resolve ``host``, check every address, connect to a checked one (no re-resolution)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:
        # Every address must pass: a name answering one public and one private address would
        # otherwise let the connection land on the private one.
        refused = [info[4][0] for info in infos if not address_is_public(str(info[4][0]))]
        if refused or not infos:
            raise DestinationRefused(f"{host} resolves to an address peers may not use")
    last_error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error or OSError(f"no address for {host}")


# --- total deadline ---------------------------------------------------------------------------

_current = threading.local()


class Deadline:
    """A point in time after which the call's sockets are shut down by a watchdog timer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def adopt(self, sock: socket.socket) -> None:
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)
            if self.expired:
                _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another frame of this call


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound everything done by this thread inside the block to ``seconds`` of wall time."""
    current = Deadline(seconds)
    watchdog = threading.Timer(seconds, current.fire)
    watchdog.daemon = True
    previous = getattr(_current, "deadline", None)
    _current.deadline = current
    watchdog.start()
    try:
        yield current
    finally:
        watchdog.cancel()
        watchdog.join()
        _current.deadline = previous


def _adopt(sock: socket.socket | None) -> None:
    current: Deadline | None = getattr(_current, "deadline", None)
    if current is not None and sock is not None:
        current.adopt(sock)


class _PolicyConnectionMixin:
    allow_private: bool = False
    host: str
    port: int
    timeout: Any
    sock: socket.socket | None
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            sock = open_checked_socket(
                self._dns_host,
                self.port,
                self.timeout if isinstance(self.timeout, int | float) else None,
                allow_private=self.allow_private,
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(
                self,  # type: ignore[arg-type]
                f"Failed to establish a new connection: {exc}",
            ) from exc
        _adopt(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        # A kept-alive socket from an earlier call joins this call's deadline too.
        _adopt(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _policy_pools(allow_private: bool) -> dict[str, type[HTTPConnectionPool]]:
    http_conn = type(
        "PolicyHTTPConnection",
        (_PolicyConnectionMixin, HTTPConnection),
        {"allow_private": allow_private},
    )
    https_conn = type(
        "PolicyHTTPSConnection",
        (_PolicyConnectionMixin, HTTPSConnection),
        {"allow_private": allow_private},
    )
    http_pool = type("PolicyHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
    https_pool = type("PolicyHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})
    return {"http": http_pool, "https": https_pool}


_POOLS = {flag: _policy_pools(flag) for flag in (False, True)}


class PolicyAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections obey the destination policy at connect time."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS[self.allow_private]


def outbound_session(allow_private: bool = False) -> requests.Session:
    """The production HTTP session for peer calls (the policy adapter on http and https)."""
    session = requests.Session()
    # Proxies from the environment would connect on our behalf and bypass the policy.
    session.trust_env = False
    adapter = PolicyAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def session_factory(allow_private: bool) -> Callable[[], requests.Session]:
    """What ``NodeRuntime.http_session`` holds in production."""

    def make() -> requests.Session:
        return outbound_session(allow_private)

    return make


# --- one call -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    deadline_s: float = CALL_DEADLINE_S,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> RawAnswer:
    """One bounded HTTP call; raises ``requests.RequestException`` when no usable answer came."""
    sent_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    sent_headers.update(headers or {})
    with deadline(deadline_s) as limit:
        try:
            response = session.request(
                method,
                url,
                data=body,
                headers=sent_headers,
                timeout=(
                    min(CONNECT_TIMEOUT_S, max(limit.remaining(), 0.01)),
                    min(READ_TIMEOUT_S, max(limit.remaining(), 0.01)),
                ),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            if limit.expired:
                raise OutboundError(f"no answer within {deadline_s:g} s") from exc
            raise
        try:
            content = _read_capped(response, max_bytes, limit)
        except requests.RequestException as exc:
            if limit.expired and not isinstance(exc, OutboundError):
                raise OutboundError(f"no complete answer within {deadline_s:g} s") from exc
            raise
        finally:
            response.close()
        if limit.expired:
            # The watchdog closed the socket: what was read may look complete but is not.
            raise OutboundError(f"no complete answer within {deadline_s:g} s")
    return RawAnswer(response.status_code, dict(response.headers), content)


def _read_capped(response: requests.Response, max_bytes: int, limit: Deadline) -> bytes:
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # We asked for identity; a compressed body could expand far beyond the cap.
        raise OutboundError(f"compressed answer ({encoding[:20]}) refused")
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"answer larger than {max_bytes} bytes refused")
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise OutboundError(f"answer larger than {max_bytes} bytes refused")
            if limit.expired:
                raise OutboundError(f"no complete answer within {limit.seconds:g} s")
            chunks.append(chunk)
    except OutboundError:
        raise
    except (OSError, ValueError) as exc:  # urllib3 errors surface as requests' or OSError
        if limit.expired:
            raise OutboundError(f"no complete answer within {limit.seconds:g} s") from exc
        raise OutboundError(f"answer cut off ({exc.__class__.__name__})") from exc
    return b"".join(chunks)


def describe_failure(exc: BaseException) -> str:
    """A short reason for logs and admins (never shown to the party who chose the URL)."""
    chain: BaseException | None = exc
    while chain is not None:
        if isinstance(chain, DestinationRefused):
            return "destination refused by the outbound policy (allow_private_peers is off)"
        chain = chain.__cause__ or chain.__context__
    if isinstance(exc, OutboundError):
        return str(exc)
    return exc.__class__.__name__


# --- signed calls and outcomes ----------------------------------------------------------------


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
            answer = call(
                self.session, method, url, headers=self._signed(method, url, body), body=body
            )
        except requests.RequestException as exc:
            reason = describe_failure(exc)
            log.warning("%s %s: %s", method, url, reason)
            return Outcome(0, "unreachable", reason[:300])
        return _outcome(answer)


def _outcome(answer: RawAnswer) -> Outcome:
    body: Any = None
    code = detail = None
    if answer.body:
        try:
            body = loads_strict(answer.body)
        except CanonicalJSONError:
            body = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    retry_after = None
    header = {k.lower(): v for k, v in answer.headers.items()}.get("retry-after")
    if header and header.strip().isdigit():
        retry_after = float(header.strip())
    return Outcome(answer.status, code, detail, retry_after, body)


def fetch_json(session: requests.Session, url: str) -> Any:
    """GET a public JSON document (well-known, key document) within the fetch deadline and cap.

    Raises ``ValueError`` with a readable message on any failure; every "could not reach it"
    case has the same words (see ``UNREACHABLE``).
    """
    try:
        answer = call(
            session,
            "GET",
            url,
            headers={"Accept": "application/json"},
            deadline_s=FETCH_DEADLINE_S,
            max_bytes=MAX_DOCUMENT_BYTES,
        )
    except requests.RequestException as exc:
        log.warning("GET %s: %s", url, describe_failure(exc))
        raise ValueError(f"{url} {UNREACHABLE}.") from exc
    if answer.status != 200:
        raise ValueError(f"{url} answered HTTP {answer.status}.")
    try:
        return loads_strict(answer.body)
    except CanonicalJSONError as exc:
        raise ValueError(f"{url} did not return valid JSON ({exc.code}).") from exc
