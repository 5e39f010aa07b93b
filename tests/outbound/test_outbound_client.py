"""The one outbound client, against real hostile servers on 127.0.0.1.

Expected answers come from the rules in node/network/client.py's docstring (and the issue):
a total deadline per call, a byte cap that stops reading, no compressed bodies, no redirects,
and a destination policy refusing non-public addresses before any connection unless
``allow_private_peers`` is on, with one error that does not tell a refusal from a closed port.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from node.network import client
from node.network.client import address_is_public, fetch_json, outbound_session
from tests.hostile import drip, gzip_bomb, hostile, huge, json_document, redirect


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there any more


# --- destination policy -----------------------------------------------------------------------

REFUSED = [
    "127.0.0.1",  # loopback
    "127.255.0.9",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local (cloud metadata)
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "0.0.0.0",  # unspecified  # noqa: S104 - an address to judge, nothing binds it
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",  # link-local
    "fc00::1",  # unique local
    "fd12:3456::1",
    "ff02::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "fe80::1%1",  # scoped
]
PUBLIC = ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.215.14"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_is_public(address) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_is_public(address) is True


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_loopback_refused_by_default_before_connecting(host: str) -> None:
    with hostile(json_document({"ok": True}), read_request=False) as server:
        url = f"http://{host}:{server.port}/.well-known/hrcnet"
        with pytest.raises(ValueError) as refused:
            fetch_json(outbound_session(allow_private=False), url)
        assert str(refused.value) == f"{url} could not be reached as an hrcnet node."
        time.sleep(0.2)  # a connection, had one been made, would have been accepted by now
        assert server.connections == 0


def test_refused_destination_and_closed_port_read_the_same() -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/x"
    messages = []
    for allow in (False, True):  # refused by policy / allowed but nothing listens
        with pytest.raises(ValueError) as failed:
            fetch_json(outbound_session(allow_private=allow), url)
        messages.append(str(failed.value))
    assert messages[0] == messages[1] == f"{url} could not be reached as an hrcnet node."


def test_loopback_allowed_with_the_setting() -> None:
    with hostile(json_document({"city_id": "be-gent"})) as server:
        document = fetch_json(outbound_session(allow_private=True), f"{server.url}/x")
    assert document == {"city_id": "be-gent"} and server.connections == 1


def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would connect on our behalf and bypass the address check.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with hostile(json_document({"a": 1})) as server:
        assert fetch_json(outbound_session(allow_private=True), f"{server.url}/x") == {"a": 1}


# --- redirects, compression, size ---------------------------------------------------------------


def test_redirects_are_not_followed() -> None:
    with (
        hostile(json_document({"secret": 1}), read_request=False) as internal,
        hostile(redirect(f"{internal.url}/admin")) as bouncer,
    ):
        with pytest.raises(ValueError, match="answered HTTP 302"):
            fetch_json(outbound_session(allow_private=True), f"{bouncer.url}/keys")
        time.sleep(0.2)
        assert internal.connections == 0


def test_compressed_answers_are_refused_unread() -> None:
    with hostile(gzip_bomb()) as server, pytest.raises(ValueError, match="could not be reached"):
        fetch_json(outbound_session(allow_private=True), f"{server.url}/keys")
    assert b"accept-encoding: identity" in server.requests[0].lower()


def test_a_300_mb_body_is_not_read_past_the_cap() -> None:
    with hostile(huge(300 << 20)) as server:
        started = time.monotonic()
        with pytest.raises(ValueError):
            fetch_json(outbound_session(allow_private=True), f"{server.url}/keys")
        elapsed = time.monotonic() - started
        server.stopping.wait(0.5)
    # The cap is 256 KiB; loopback socket buffers may hold a few MB more that the server
    # managed to write. Reading it whole would have taken all 300 MB.
    assert server.sent < 32 << 20, server.sent
    assert elapsed < client.FETCH_DEADLINE_S


def test_the_cap_holds_for_peer_calls_too() -> None:
    with hostile(huge(300 << 20)) as server:
        answer_ = client.PeerClient(
            "be-gent", _key(), outbound_session(allow_private=True), time.time
        ).get_outbox(server.url, 0)
    assert answer_.status == 0 and "larger than" in (answer_.detail or "")
    assert server.sent < client.MAX_RESPONSE_BYTES + (32 << 20)


def _key():  # type: ignore[no-untyped-def]
    from federation.keys import generate_signing_key

    return generate_signing_key()


# --- total deadline ----------------------------------------------------------------------------


def test_a_dripping_server_is_cut_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # One byte every 2 s: no single read waits 10 s, so per-read timeouts never fire.
    monkeypatch.setattr(client, "FETCH_DEADLINE_S", 3.0)
    with hostile(drip(2.0)) as server:
        started = time.monotonic()
        with pytest.raises(ValueError, match="could not be reached"):
            fetch_json(outbound_session(allow_private=True), f"{server.url}/keys")
        elapsed = time.monotonic() - started
    assert 2.5 < elapsed < 3.0 + 1.5, elapsed
    assert server.sent >= 2  # it did answer, slowly: the deadline, not a refusal, ended it


def test_deadline_covers_the_body_after_fast_headers() -> None:
    def slow_body(conn: socket.socket, server) -> None:  # type: ignore[no-untyped-def]
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            server.send(conn, b" ")
            if not server.pause(0.5):
                return

    with hostile(slow_body) as server:
        started = time.monotonic()
        with pytest.raises(Exception) as failed:
            client.call(
                outbound_session(allow_private=True), "GET", f"{server.url}/", deadline_s=2.0
            )
        elapsed = time.monotonic() - started
    assert "2 s" in str(failed.value)
    assert elapsed < 2.0 + 1.0


def test_deadlines_are_per_thread() -> None:
    # Two calls at once in two threads: each keeps its own deadline and its own sockets.
    results: dict[str, object] = {}
    with (
        hostile(drip(0.5)) as slow,
        hostile(json_document({"ok": 1})) as fast,
    ):

        def run(name: str, url: str, seconds: float) -> None:
            try:
                results[name] = client.call(
                    outbound_session(allow_private=True), "GET", url, deadline_s=seconds
                ).body
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                results[name] = exc

        slow_thread = threading.Thread(target=run, args=("slow", f"{slow.url}/", 1.5))
        slow_thread.start()
        run("fast", f"{fast.url}/", 5.0)
        slow_thread.join(timeout=10)
    assert results["fast"] == b'{"ok": 1}'
    assert isinstance(results["slow"], Exception)
