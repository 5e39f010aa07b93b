"""Several nodes in one process, joined by a requests adapter that routes by base URL.

Each node is a real app on its own SQLite database with its own keys; only the socket is
replaced. A node can be taken "down" (its address refuses connections) to test outages.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from federation.keys import SigningKey, load_signing_key
from node.app import create_app
from node.db import session_scope
from node.runtime import NodeRuntime
from node.services import users
from node.setup import init_node
from tests.support import Clock


class Router(BaseAdapter):
    """Sends each request to the app registered for its host:port (loopback addresses only)."""

    def __init__(self) -> None:
        super().__init__()
        self.apps: dict[str, Flask] = {}
        self.down: set[str] = set()
        self.sent: list[tuple[str, str]] = []

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        self.sent.append((request.method or "", request.url or ""))
        app = self.apps.get(parts.netloc)
        if app is None or parts.netloc in self.down:
            raise requests.ConnectionError(f"connection refused: {parts.netloc}")
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        answer = app.test_client().open(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            method=request.method,
            headers=dict(request.headers),
            data=body,
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.get_data()
        response._content_consumed = True  # the outbound client streams it (iter_content)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


@dataclass
class Node:
    city_id: str
    base_url: str
    app: Flask
    data_dir: Path
    token: str
    router: Router
    clock: Clock
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> NodeRuntime:
        runtime: NodeRuntime = self.app.extensions["hrcnet"]
        return runtime

    @property
    def key(self) -> SigningKey:
        from node.network import keyring

        with session_scope(self.runtime.sessions) as session:
            return keyring.signers(session, self.runtime.config, self.clock()).primary

    def api(self, method: str, path: str, json: Any = None, token: str | None = "own") -> Any:
        headers = (
            {"Authorization": f"Bearer {self.token if token == 'own' else token}"} if token else {}
        )
        return self.app.test_client().open(
            f"/api/v1{path}", method=method, json=json, headers=headers
        )

    def sync(self) -> tuple[str, str]:
        """Run the jobs that act on queued work: discovery of twinning requests, key fetches."""
        from node.network import keyfetch, peers

        return peers.run_discoveries(self.runtime), keyfetch.run_key_fetches(self.runtime)

    def request_twin(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /peers (queued, 202), run the discovery job, return what it made of it."""
        queued = self.api("POST", "/peers", body)
        assert queued.status_code == 202, queued.get_json()
        assert queued.get_json()["state"] == "queued"
        self.sync()
        done = self.api("GET", f"/peer-discoveries/{queued.get_json()['id']}")
        assert done.status_code == 200, done.get_json()
        result: dict[str, Any] = done.get_json()
        return result

    def deliver(self) -> Any:
        from node.network import outbox

        return outbox.deliver_outbox(self.runtime, ignore_backoff=True)

    def pull(self) -> Any:
        from node.network import pull

        return pull.pull_all(self.runtime)

    def set_down(self, down: bool) -> None:
        netloc = urlsplit(self.base_url).netloc
        (self.router.down.add if down else self.router.down.discard)(netloc)


def init_test_node(target: Path, city_id: str, port: int, *, database_url: str | None) -> None:
    """``hrcnet init`` for one of the test cities (name, country and region from its id)."""
    secretariat = city_id in SECRETARIATS
    init_node(
        target,
        city_id=city_id,
        name=city_id.split("-")[-1].title(),
        country="AT" if secretariat else city_id[:2].upper(),
        region=REGIONS.get(city_id, "network"),
        role="secretariat" if secretariat else "city",
        base_url=f"http://127.0.0.1:{port}",
        database_url=database_url,
    )


@pytest.fixture(scope="session")
def _node_templates(
    tmp_path_factory: pytest.TempPathFactory, shared_dir: Path
) -> Callable[[str, int], Path]:
    cache: dict[str, Path] = {}

    def template(city_id: str, port: int) -> Path:
        if city_id not in cache:
            target = tmp_path_factory.mktemp(f"tpl-{city_id}") / "node"
            init_test_node(target, city_id, port, database_url=None)
            cache[city_id] = target
        return cache[city_id]

    return template


SECRETARIAT = "hrc-secretariat"
OTHER_SECRETARIAT = "hrc-secretariat-b"  # a second (real) secretariat node
SECRETARIATS = (SECRETARIAT, OTHER_SECRETARIAT)
CITIES = {
    "be-gent": 5101,
    "it-padova": 5102,
    "at-graz": 5103,
    "es-madrid": 5104,
    "fr-lyon": 5105,
    "nl-utrecht": 5106,
    SECRETARIAT: 5100,
    OTHER_SECRETARIAT: 5107,
}
REGIONS = {
    "be-gent": "europe-west",
    "fr-lyon": "europe-west",
    "nl-utrecht": "europe-west",
    "it-padova": "europe-south",
    "es-madrid": "europe-south",
    "at-graz": "europe-central",
}


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
"""Parametrise ``federation_backend`` with these (``indirect=True``) to run a test on both
databases: ``@pytest.mark.parametrize("federation_backend", BACKENDS, indirect=True)``."""


@pytest.fixture
def network(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: Clock,
    _node_templates: Callable[[str, int], Path],
    federation_backend: str,
) -> Iterator[Callable[..., list[Node]]]:
    """``network("be-gent", "it-padova")`` → nodes sharing one router and one clock.

    On PostgreSQL each node gets its own fresh database (created, migrated by ``init_node``,
    dropped at the end), exactly as separate cities would run.
    """
    router = Router()
    made: list[Node] = []
    databases: list[str] = []
    server = request.getfixturevalue("postgres") if federation_backend == "postgresql" else None

    def prepare(city_id: str, port: int, data_dir: Path) -> dict[str, Any]:
        if server is None:
            shutil.copytree(_node_templates(city_id, port), data_dir)
            # Each copy keeps the template's key: fine, every city has its own template.
            return {}
        url = server.create_database()
        databases.append(url)
        init_test_node(data_dir, city_id, port, database_url=url)
        return {"database_url": url}

    def session_factory() -> requests.Session:
        http = requests.Session()
        http.mount("http://", router)
        return http

    def make(*city_ids: str) -> list[Node]:
        for city_id in city_ids:
            port = CITIES[city_id]
            data_dir = tmp_path / city_id
            database = prepare(city_id, port, data_dir)
            # Loopback peers: allowed, as in every test setup (the Router replaces the sockets).
            app = create_app(data_dir, {"clock": clock, "allow_private_peers": True, **database})
            app.config["TESTING"] = True
            app.extensions["hrcnet"].http_session = session_factory
            router.apps[f"127.0.0.1:{port}"] = app
            with session_scope(app.extensions["hrcnet"].sessions) as session:
                user = users.create_user(
                    session,
                    email=f"official@{city_id}.example",
                    password="correct horse battery",
                    role="secretariat" if city_id in SECRETARIATS else "official",
                    now=clock(),
                    node_role="secretariat" if city_id in SECRETARIATS else "city",
                )
                token = users.create_token(session, user, now=clock())
            made.append(
                Node(city_id, f"http://127.0.0.1:{port}", app, data_dir, token, router, clock)
            )
        return made[-len(city_ids) :]

    yield make
    for node in made:
        node.runtime.engine.dispose()
    for url in databases:
        server.drop_database(url)  # type: ignore[union-attr]


def twin(a: Node, b: Node, themes: list[str] | None = None) -> None:
    """Full handshake: a asks, b accepts, both sides active."""
    body: dict[str, Any] = {"url": b.base_url}
    if themes is not None:
        body["themes"] = themes
    discovery = a.request_twin(body)
    assert discovery["state"] == "requested", discovery
    a.deliver()
    accepted = b.api("POST", f"/peers/{a.city_id}/accept")
    assert accepted.status_code == 200, accepted.get_json()
    b.deliver()
    states = {p["city_id"]: p["state"] for p in a.api("GET", "/peers").get_json()["items"]}
    assert states[b.city_id] == "active"


def record(node: Node, period: str, values: dict[str, str], status: str = "validated") -> None:
    # Tests here record corrections of validated figures and jumps between periods: they say
    # why and confirm, as issue 15 asks (those checks are tested in tests/api/test_result_checks).
    items = [
        {
            "indicator": code,
            "period": period,
            "value": value,
            "status": status,
            "reason": "test correction",
            "confirm_outlier": True,
        }
        for code, value in values.items()
    ]
    response = node.api("POST", "/results", items)
    assert response.status_code == 201, response.get_json()


def load_key(node: Node) -> SigningKey:
    return load_signing_key(node.data_dir / "signing_key.pem")


@pytest.fixture(autouse=True)
def _fresh_fetch_gate() -> None:
    """The once-a-minute key fetch gate is process-wide; every test starts with it open."""
    from node.network import keyring

    keyring.FETCH_GATE._last.clear()
