"""Hostile HTTP servers on 127.0.0.1 for tests of the outbound client: real sockets, threads.

Each server counts the connections it accepted and the body bytes it managed to send, so a
test can tell "refused before connecting" from "connected", and "stopped reading at the cap"
from "read it all". Every wait is bounded and :meth:`HostileServer.close` stops everything.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Behaviour = Callable[[socket.socket, "HostileServer"], None]
HEAD_LIMIT = 64 << 10


class HostileServer:
    """A TCP listener on 127.0.0.1 whose answer to every connection is ``behaviour``."""

    def __init__(self, behaviour: Behaviour | None = None, read_request: bool = True) -> None:
        self.behaviour = behaviour
        self.read_request = read_request
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0
        self.sent = 0
        self.requests: list[bytes] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._handlers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, name=f"hostile-{self.port}")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            handler = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._handlers.append(handler)
            handler.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5.0)
            if self.read_request:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                self.requests.append(head)
            if self.behaviour is not None:
                self.behaviour(conn, self)
        except OSError:
            pass  # the client went away: that is what most of these tests expect
        finally:
            conn.close()

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent += len(data)

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server is closing; False when it is."""
        return not self.stopping.wait(seconds)

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self._thread.join(timeout=5)
        for handler in self._handlers:
            handler.join(timeout=5)


@contextmanager
def hostile(
    behaviour: Behaviour | None = None, read_request: bool = True
) -> Iterator[HostileServer]:
    server = HostileServer(behaviour, read_request)
    try:
        yield server
    finally:
        server.close()


# --- behaviours -------------------------------------------------------------------------------


def answer(status: str, headers: dict[str, str], body: bytes) -> Behaviour:
    """A plain, complete HTTP answer."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        lines = [f"HTTP/1.1 {status}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        server.send(conn, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return behave


def json_document(document: Any) -> Behaviour:
    body = json.dumps(document).encode()
    return answer(
        "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}, body
    )


def redirect(location: str) -> Behaviour:
    return answer("302 Found", {"Location": location, "Content-Length": "0"}, b"")


def drip(every_s: float = 2.0) -> Behaviour:
    """A valid-looking answer sent one byte every ``every_s`` seconds (each read succeeds)."""
    response = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"city_id": "x"}'

    def behave(conn: socket.socket, server: HostileServer) -> None:
        for byte in response:
            server.send(conn, bytes([byte]))
            if not server.pause(every_s):
                return

    return behave


def huge(total_bytes: int = 300 << 20) -> Behaviour:
    """A 200 answer without Content-Length whose body streams ``total_bytes`` lazily."""
    chunk = b" " * (64 << 10)

    def behave(conn: socket.socket, server: HostileServer) -> None:
        server.send(
            conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        sent = 0
        while sent < total_bytes and not server.stopping.is_set():
            server.send(conn, chunk)  # raises once the client closed: the count stops there
            sent += len(chunk)

    return behave


def gzip_bomb(expanded_bytes: int = 64 << 20) -> Behaviour:
    body = gzip.compress(b" " * expanded_bytes)
    return answer(
        "200 OK",
        {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(body)),
        },
        body,
    )


def hold(release: threading.Event, limit_s: float = 30.0) -> Behaviour:
    """Read the request, then answer nothing until ``release`` (bounded), then close."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        release.wait(limit_s)

    return behave


def stranger_twinning_request(
    city_id: str, base_url: str, key: Any, to_city: str, now_ms: int
) -> bytes:
    """A signed twinning request from a node nobody knows, whose key server is ``base_url``
    (the attacker's choice: a dripping, huge or redirecting server, or an internal address)."""
    from federation.canonical import canonical_bytes
    from federation.envelope import build_key_document, make_envelope, sign_envelope

    request = make_envelope(
        "hrc.twinning.request",
        "hrc.twinning.request/1",
        city_id,
        "twinning",
        1,
        now_ms,
        key.key_id,
        [to_city],
        {
            "node": {
                "city_id": city_id,
                "name": city_id,
                "country": "FR",
                "region": "europe-west",
                "role": "city",
                "base_url": base_url,
            },
            "themes": None,
            "key_document": build_key_document(city_id, key, now_ms=now_ms, seq=1),
        },
    )
    return canonical_bytes(sign_envelope(request, city_id, key))
