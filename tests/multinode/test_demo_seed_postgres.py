"""The demo network deployed as ``docker/compose.yaml`` deploys it, without Docker, on PostgreSQL.

The commands are read from ``docker/compose.yaml`` and run as real processes on 127.0.0.1: the
``network`` service's ``hrcnet demo init-network``, each node's ``hrcnet demo init-node`` (its
own database on the suite's PostgreSQL server), ``hrcnet serve`` with ``NODE_SCHEDULER=false``
beside its own ``hrcnet scheduler``, then the ``seed`` service's ``hrcnet demo seed --network``.
Only the container paths (``/network``, ``/data``, ``/shared``), host, port and gunicorn worker
count are replaced. Then, from outside the nodes, what ``hrcnet demo --check`` checks: each city
holds each twin's summaries and they verify against the twin's published key document, each
city holds the secretariat's benchmark, the review's event-log head is the same on every
participating node, the mentoring state agrees on both nodes. A second seed duplicates nothing
and says so; a table whose login a node refuses is refused (exit 4) with nothing written.

Skips (the PostgreSQL lane banner says so) without ``NODE_TEST_POSTGRES_URL``; CI has it.
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from federation.envelope import EnvelopeError, verify_envelope, verify_key_document
from node.demo.driver import ServedNode, child_env, port_is_free, stop_nodes, wait_until
from node.demo.network import TWINNINGS
from node.demo.nodes import NODES
from node.services.users import new_token

pytestmark = [pytest.mark.multinode, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
SHARED = REPO.parent / "shared"
SEED_TIMEOUT_S = 480.0
CLI_TIMEOUT_S = 180.0
# From the rule of the demo network: four cities, Padova reviewed by Gent and Nairobi with the
# secretariat in the chair, Gent mentoring Padova; the benchmark of HRC-HOU-04 for 2020.
CITIES = [spec.city_id for spec in NODES if spec.role == "city"]
REVIEW_PARTIES = ["hrc-secretariat", "it-padova", "be-gent", "ke-nairobi"]
BENCHMARK = "/benchmarks?indicator=HRC-HOU-04&period=2020"


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return services


def free_block(count: int) -> int:
    """The first port of ``count`` consecutive free ports on 127.0.0.1 (random high base)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise AssertionError("no block of free ports on 127.0.0.1")


class Deployment:
    """The compose file's commands, localised to this machine: paths, host, ports."""

    def __init__(self, tmp: Path, base_port: int, databases: dict[str, str]) -> None:
        self.services = compose_services()
        self.paths = {
            "/network": str(tmp / "network"),
            "/data": str(tmp / "data"),
            "/shared": str(SHARED),
        }
        self.base_port = base_port
        self.databases = databases
        self.ports = {spec.city_id: base_port + i for i, spec in enumerate(NODES)}
        self.network_file = Path(self.paths["/network"]) / "network.json"

    def command(self, service: str) -> list[str]:
        """The service's command with container paths mapped to this machine."""
        out = []
        for argument in self.services[service]["command"]:
            for target, local in self.paths.items():
                if argument == target or argument.startswith(target + "/"):
                    argument = local + argument[len(target) :]
                    break
            out.append(argument)
        return out

    def service_of(self, city_id: str, suffix: str = "") -> str:
        """The compose service of a node (``gent``, ``gent-init``, ``gent-jobs``)."""
        for name, service in self.services.items():
            command = service.get("command", [])
            if (
                suffix == "-init"
                and command[:2] == ["demo", "init-node"]
                and command[command.index("--city-id") + 1] == city_id
            ):
                return str(name)
            if suffix == "" and command[:2] == ["serve", f"/data/{city_id}"]:
                return str(name)
            if suffix == "-jobs" and command == ["scheduler", f"/data/{city_id}"]:
                return str(name)
        raise AssertionError(f"compose.yaml has no {suffix or 'serve'} service for {city_id}")

    def node_env(self, service: str, city_id: str) -> dict[str, str]:
        """The service's environment, with this test's database in place of the compose one."""
        env = dict(self.services[service].get("environment", {}))
        env["NODE_DATABASE_URL"] = self.databases[city_id]
        return {k: str(v) for k, v in env.items()}


def run_hrcnet(
    args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", *args],
        capture_output=True,
        text=True,
        env=child_env(env),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Deployment, list[ServedNode]]]:
    """The network initialised and served as the compose file does it (every process stopped,
    every database dropped after the test)."""
    server = request.getfixturevalue("postgres")
    databases: dict[str, str] = {}
    processes: list[ServedNode] = []
    try:
        for spec in NODES:
            databases[spec.city_id] = server.create_database()
        deploy = Deployment(tmp_path, free_block(len(NODES)), databases)
        # The network service: the table, with loopback URLs on our ports instead of names.
        args = deploy.command("network")
        args[args.index("--url-template") + 1] = "http://127.0.0.1:{port}"
        done = run_hrcnet([*args, "--port-base", str(deploy.base_port)])
        assert done.returncode == 0, done.stdout + done.stderr
        assert deploy.network_file.stat().st_mode & 0o777 == 0o600  # it holds passwords

        def init(city_id: str) -> str:
            service = deploy.service_of(city_id, "-init")
            result = run_hrcnet(deploy.command(service), deploy.node_env(service, city_id))
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = list(pool.map(init, [spec.city_id for spec in NODES]))
        assert all("initialised" in out for out in outputs), outputs
        for spec in NODES:
            serve_service = deploy.service_of(spec.city_id)
            args = deploy.command(serve_service)
            port = deploy.ports[spec.city_id]
            args[args.index("--host") + 1] = "127.0.0.1"
            args[args.index("--port") + 1] = str(port)
            args[args.index("--workers") + 1] = "1"  # two cores for five nodes and PostgreSQL
            data_dir = Path(deploy.paths["/data"]) / spec.city_id
            processes.append(
                ServedNode(
                    spec.city_id,
                    data_dir,
                    port,
                    extra_env=deploy.node_env(serve_service, spec.city_id),
                    args=tuple(args),
                )
            )
            jobs_service = deploy.service_of(spec.city_id, "-jobs")
            processes.append(
                ServedNode(
                    spec.city_id,
                    data_dir,
                    port,
                    extra_env=deploy.node_env(jobs_service, spec.city_id),
                    args=tuple(deploy.command(jobs_service)),
                    log_name="scheduler.log",
                )
            )
        for process in processes:
            process.start()
        for process in processes[::2]:
            process.wait_ready()
        yield deploy, processes
    finally:
        killed = stop_nodes(processes)
        for url in databases.values():
            with contextlib.suppress(Exception):
                server.drop_database(url)
        assert not killed, f"not stopped within 10 s: {killed}"


class Outside:
    """The nodes as anyone outside sees them: HTTP with the table's tokens, nothing else."""

    def __init__(self, table: list[dict[str, Any]]) -> None:
        self.rows = {row["city_id"]: row for row in table}
        self.http = requests.Session()
        self.http.trust_env = False

    def token(self, city_id: str, role: str) -> str:
        [login] = [x for x in self.rows[city_id]["logins"] if x["role"] == role]
        return str(login["token"])

    def get(self, city_id: str, path: str, role: str = "official") -> Any:
        role = "secretariat" if city_id == "hrc-secretariat" else role
        answer = self.http.get(
            self.rows[city_id]["url"] + "/api/v1" + path,
            headers={"Authorization": f"Bearer {self.token(city_id, role)}"},
            timeout=15,
        )
        assert answer.status_code == 200, (city_id, path, answer.status_code, answer.text[:500])
        return answer.json()

    def items(self, city_id: str, path: str) -> list[Any]:
        """A list endpoint's items (array or ``{"items": [...]}``)."""
        body = self.get(city_id, path)
        items: list[Any] = body["items"] if isinstance(body, dict) else body
        return items

    def key_document(self, city_id: str) -> Any:
        answer = self.http.get(self.rows[city_id]["url"] + "/federation/v1/keys", timeout=15)
        return verify_key_document(answer.json(), city_id, int(time.time() * 1000))

    def review_id(self) -> str:
        [review] = self.items("it-padova", "/reviews")
        return str(review["id"])

    def mentoring_id(self) -> str:
        [relationship] = self.items("be-gent", "/mentoring")
        return str(relationship["id"])

    def snapshot(self) -> dict[str, Any]:
        """Everything a duplicate would change: lists, counts, the review log's head."""
        rid, rel = self.review_id(), self.mentoring_id()
        return {
            "members": sorted(
                (m["city_id"], m["state"]) for m in self.items("hrc-secretariat", "/members")
            ),
            "releases": sorted(
                r["version"] for r in self.items("hrc-secretariat", "/catalogue/releases")
            ),
            "peers": {
                c: sorted((p["city_id"], p["state"]) for p in self.items(c, "/peers"))
                for c in CITIES
            },
            "summaries": {
                c: sorted(s["envelope_sha256"] for s in self.items(c, "/summaries")) for c in CITIES
            },
            "reviews": [r["id"] for r in self.items("it-padova", "/reviews")],
            "head": {c: self.get(c, f"/reviews/{rid}/events")["head_hash"] for c in REVIEW_PARTIES},
            "mentoring": [
                (r["id"], r["state_version"]) for r in self.items("be-gent", "/mentoring")
            ],
            "sessions": len(self.get("be-gent", f"/mentoring/{rel}")["sessions"]),
        }

    def close(self) -> None:
        self.http.close()


def twins_of(city_id: str) -> set[str]:
    return {b for a, b in TWINNINGS if a == city_id} | {a for a, b in TWINNINGS if b == city_id}


def check_network(outside: Outside) -> None:
    """What ``hrcnet demo --check`` checks, asked of the nodes independently of its code."""
    keydocs = {spec.city_id: outside.key_document(spec.city_id) for spec in NODES}
    for city in CITIES:
        for twin in sorted(twins_of(city)):
            received = outside.items(city, f"/peers/{twin}/summaries")
            assert {s["period"] for s in received} >= {"2018", "2019", "2020"}, (city, twin)
            keydoc = keydocs[twin]
            for item in received:
                try:
                    signers = verify_envelope(
                        json.loads(item["envelope"]),  # the text exactly as received
                        lambda origin, key_id, created, keydoc=keydoc: (
                            keydoc.public_key_for(key_id, created)
                            if origin == keydoc.origin
                            else None
                        ),
                    )
                except EnvelopeError as exc:
                    raise AssertionError(
                        f"{city} holds a summary of {twin} that fails: {exc}"
                    ) from exc
                assert signers[0][0] == twin
    for city in CITIES:
        groups = [g for g in outside.items(city, BENCHMARK) if g["scope"] == "network"]
        assert groups and groups[0]["n"] == len(CITIES) and groups[0]["position"], (city, groups)
    rid = outside.review_id()
    heads = {c: outside.get(c, f"/reviews/{rid}/events")["head_hash"] for c in REVIEW_PARTIES}
    assert len(set(heads.values())) == 1 and None not in heads.values(), heads
    view = outside.get("hrc-secretariat", f"/reviews/{rid}")
    assert view["state"] == "in_review" and view["round"] == 2, view["state"]
    assert any(len(r.get("cosigned_by") or []) >= 2 for r in view["recommendations"])
    rel = outside.mentoring_id()

    def state(city: str) -> Any:
        v = outside.get(city, f"/mentoring/{rel}")
        agreement = [(d["version"], d["sha256"], d["cosigned"]) for d in v["agreement"]]
        return (
            v["state"],
            v["state_version"],
            agreement,
            [(s["id"], s["state"]) for s in v["sessions"]],
        )

    gent, padova = state("be-gent"), state("it-padova")
    assert gent == padova and gent[0] == "active" and gent[2][0][2], (gent, padova)
    assert [s for _, s in gent[3]] == ["held"]


def test_compose_commands_seed_a_postgresql_network_once(
    deployment: tuple[Deployment, list[ServedNode]], tmp_path: Path
) -> None:
    deploy, processes = deployment
    seed = deploy.command("seed")
    started = time.monotonic()
    first = run_hrcnet(seed)
    seconds = time.monotonic() - started
    report = first.stdout + first.stderr
    assert first.returncode == 0, report + "\n".join(p.describe_failure() for p in processes)
    assert "seeded in" in report, report
    table = json.loads(deploy.network_file.read_text(encoding="utf-8"))
    outside = Outside(table)
    try:
        check_network(outside)
        before = outside.snapshot()

        # Idempotent: a second seed finds every step in place, says so, and changes nothing.
        second = run_hrcnet(seed)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "already seeded, nothing duplicated" in second.stdout, second.stdout
        assert outside.snapshot() == before

        # A login a node refuses: exit 4, the node named, nothing written anywhere.
        wrong = json.loads(json.dumps(table))
        [gent] = [row for row in wrong if row["city_id"] == "be-gent"]
        [official] = [x for x in gent["logins"] if x["role"] == "official"]
        official["token"] = new_token()
        wrong_file = tmp_path / "wrong.json"
        wrong_file.write_text(json.dumps(wrong), encoding="utf-8")
        refused = run_hrcnet(["demo", "seed", "--network", str(wrong_file), *seed[4:]])
        assert refused.returncode == 4, refused.stdout + refused.stderr
        assert "be-gent refuses the token of official@gent.example" in refused.stdout
        assert outside.snapshot() == before

        # The reminder: Gent's own deadline sweep (its operator runs the job now instead of
        # waiting for its scheduler's 5-minute tick) reaches its official's notifications.
        gent_dir = Path(deploy.paths["/data"]) / "be-gent"
        swept = run_hrcnet(
            ["job", "run", str(gent_dir), "deadline_sweep"],
            deploy.node_env(deploy.service_of("be-gent", "-jobs"), "be-gent"),
        )
        assert swept.returncode == 0, swept.stdout + swept.stderr
        wait_until(
            "a reminder in Gent's official's notifications",
            lambda: outside.items("be-gent", "/notifications"),
            timeout=30,
        )
    finally:
        outside.close()
    assert seconds < SEED_TIMEOUT_S, f"seeding took {seconds:.0f} s\n{report}"
