"""The demo network's seeding: every workflow in motion, through the nodes' HTTP APIs only.

:func:`seed` runs the scenario across running nodes — applied and admitted, the signed directory,
the core catalogue published and adopted, twinning with themes, signed summaries (one revised),
benchmarks, a peer review in its second round with a co-signed recommendation, an active
mentoring relationship, a deadline reminder — and never writes into any node's database.

It is the one code path of ``hrcnet demo`` (nodes it starts itself on 127.0.0.1, see
:func:`build_network`) and of ``hrcnet demo seed --network network.json`` (nodes served by
someone else, e.g. the containers of ``docker/compose.yaml``). Every step first looks at what
the nodes already hold and does only what is missing, so seeding twice duplicates nothing and
says so.

Gent, Padova and Nairobi carry *generated sample figures*: their nodes are configured with
``sample_data = true`` (:mod:`node.demo.nodes`), so every page, export and signed summary of
theirs says so.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from federation.envelope import EnvelopeError, verify_key_document
from node.demo.driver import (
    ApiClient,
    DemoError,
    Endpoint,
    RemoteNode,
    ServedNode,
    child_env,
    kernel_free_port,
    port_is_free,
    wait_until,
)
from node.demo.nodes import (
    CITIES,
    DATASET,
    LOS_ANGELES,
    SAMPLE_NOTE,
    SECRETARIAT,
    NodeRow,
    init_demo_node,
    los_angeles_homelessness,
    plan_network,
    read_network_file,
    write_network_file,
)
from node.setup import DEFAULT_CATALOGUE

NETWORK_FILE = "network.json"
COMPLETE_MARKER = ".complete"
BUILDING_MARKER = ".building"

BENCHMARK_INDICATOR = "HRC-HOU-04"  # homelessness per 10,000 residents (good_down)
BENCHMARK_PERIOD = "2020"
PERIODS = ("2018", "2019", "2020")
THEMES = ["Adequate housing", "Work"]
REVIEW_THEME = "Adequate housing"
REVIEW_TITLE = "Housing and homelessness 2020"
MENTORING_TITLE = "Housing first"
RELEASE = "0.2.0"
# Each city twins with the next one (a ring): every city has two twins to compare with.
TWINNINGS = (
    (LOS_ANGELES, "be-gent"),
    ("be-gent", "it-padova"),
    ("it-padova", "ke-nairobi"),
    ("ke-nairobi", LOS_ANGELES),
)
# The peer review: Padova is reviewed, Gent and Nairobi review, the secretariat chairs.
REVIEWED, REVIEWERS = "it-padova", ("be-gent", "ke-nairobi")
# The mentoring relationship: Gent mentors its twin Padova.
MENTOR, MENTEE = "be-gent", "it-padova"
# Sample figures: a level per city and indicator, drifting a little each year (seeded, so the
# same network is built every time). Codes of the core catalogue; Education is not a shared
# theme, so it stays on each node (it shows that twins see only their agreed themes).
SAMPLE_LEVELS = {
    "HRC-HOU-04": {"be-gent": 28.0, "it-padova": 19.0, "ke-nairobi": 61.0},
    "HRC-HOU-01": {"be-gent": 12.5, "it-padova": 15.0, "ke-nairobi": 34.0},
    "HRC-WRK-01": {"be-gent": 6.1, "it-padova": 7.4, "ke-nairobi": 10.3},
    "HRC-EDU-01": {"be-gent": 8.2, "it-padova": 11.6, "ke-nairobi": 16.9},
}


class NodeUnreachable(DemoError):
    """A node of the table does not answer, or answers as another node."""


class LoginRefused(DemoError):
    """A node refuses a login of the table (the node was not initialised from this table)."""


def sample_figures(city_id: str, period: str) -> list[dict[str, Any]]:
    """Generated sample figures of ``city_id`` for ``period`` (decimal strings, seeded)."""
    rng = random.Random(f"{city_id}:{period}")
    figures = []
    for code, levels in SAMPLE_LEVELS.items():
        drift = 1 + (int(period) - 2019) * rng.uniform(-0.06, 0.04)
        figures.append(
            {
                "indicator": code,
                "period": period,
                "value": f"{levels[city_id] * drift:.1f}",
                "status": "published",
                # Carried into the node's exports (their source column).
                "source": SAMPLE_NOTE,
            }
        )
    return figures


@dataclass
class DemoNode:
    """A node of the network: its row of the table, where it answers, API clients."""

    row: NodeRow
    endpoint: Endpoint
    _clients: dict[str, ApiClient] = field(default_factory=dict, repr=False)

    @property
    def spec(self) -> Any:
        return self.row.spec

    @property
    def city_id(self) -> str:
        return self.row.city_id

    @property
    def base_url(self) -> str:
        return self.endpoint.base_url

    @property
    def served(self) -> ServedNode | None:
        """The ``hrcnet serve`` process when this tool started it, else None."""
        return self.endpoint if isinstance(self.endpoint, ServedNode) else None

    def api(self, role: str) -> ApiClient:
        """An API client with the token of this node's staff login of ``role``."""
        if role not in self._clients:
            self._clients[role] = ApiClient(self.endpoint, self.row.token(role))
        return self._clients[role]

    def close_clients(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


Progress = Callable[[str], None]


@dataclass
class Network:
    """The nodes of the demo network, by city id."""

    nodes: dict[str, DemoNode]
    progress: Progress | None = None

    @property
    def secretariat(self) -> DemoNode:
        return self.nodes[SECRETARIAT]

    def cities(self) -> list[DemoNode]:
        return [n for n in self.nodes.values() if n.spec.role == "city"]

    def served(self) -> list[ServedNode]:
        """The processes this tool started (none when seeding someone else's nodes)."""
        return [n.served for n in self.nodes.values() if n.served is not None]

    def rows(self) -> list[NodeRow]:
        return [n.row for n in self.nodes.values()]

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
        return wait_until(what, probe, timeout=timeout, logs=self.served(), heartbeat=self.progress)

    def close_clients(self) -> None:
        for node in self.nodes.values():
            node.close_clients()


def remote_network(rows: Sequence[NodeRow], progress: Progress | None = None) -> Network:
    """The network of a table whose nodes someone else serves (containers, another shell)."""
    return Network(
        {row.city_id: DemoNode(row, RemoteNode(row.city_id, row.url)) for row in rows}, progress
    )


# --- before seeding: is every node there, and are we let in? -------------------------------------


def preflight(network: Network, progress: Progress, *, wait_s: float = 60.0) -> None:
    """Every node answers ``/healthz`` (waiting at most ``wait_s`` for nodes still starting),
    publishes the key document of the city the table names, and accepts the table's tokens.

    Raises :class:`NodeUnreachable` or :class:`LoginRefused` with a message naming the node.
    """
    with requests.Session() as http:
        http.trust_env = False  # node to node only: never through a proxy
        for node in network.nodes.values():
            url = node.base_url
            deadline, last = time.monotonic() + wait_s, "no answer"
            while True:
                try:
                    health = http.get(f"{url}/healthz", timeout=5)
                    if health.status_code == 200:
                        break
                    last = f"HTTP {health.status_code}"
                except requests.RequestException as exc:
                    last = type(exc).__name__
                if time.monotonic() >= deadline:
                    raise NodeUnreachable(
                        f"{node.city_id} does not answer at {url}/healthz within {wait_s:.0f} s "
                        f"(last: {last}). Is it served, and is the table's url right?"
                    )
                time.sleep(1.0)
            # The URL must really be that city: seeding the wrong node would mix two networks.
            try:
                keys = http.get(f"{url}/federation/v1/keys", timeout=10)
                keys.raise_for_status()
                verify_key_document(keys.json(), node.city_id, int(time.time() * 1000))
            except (requests.RequestException, ValueError, EnvelopeError) as exc:
                raise NodeUnreachable(
                    f"{url} does not publish a valid key document of {node.city_id} ({exc}); "
                    "the table's url points at another node?"
                ) from exc
    for node in network.nodes.values():
        for login in node.row.logins:
            if not login.token:
                continue
            answer = node.api(login.role).request("GET", "/notifications")
            if answer.status_code in (401, 403):
                raise LoginRefused(
                    f"{node.city_id} refuses the token of {login.email} ({login.role}): "
                    f"HTTP {answer.status_code}. Was the node initialised from this table "
                    "(hrcnet demo init-node --network ...)?"
                )
            if answer.status_code != 200:
                raise DemoError(
                    f"{node.city_id}: GET /api/v1/notifications answered {answer.status_code}"
                )
    progress(f"{len(network.nodes)} nodes answer as the table says and accept its logins")


# --- the scenario -------------------------------------------------------------------------------


@dataclass
class Seeding:
    """What the seeding did and found: steps done now, steps already in place, ids for checks."""

    done: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def step(self, progress: Progress, name: str, did_something: bool, line: str) -> None:
        (self.done if did_something else self.already).append(name)
        progress(line if did_something else f"already in place: {line}")


def seed(
    network: Network,
    progress: Progress,
    *,
    catalogue: Path = DEFAULT_CATALOGUE,
    dataset: Path = DATASET,
) -> Seeding:
    """Run every workflow across the running nodes, doing only what is not done yet.

    The deadline reminder needs the node's ``deadline_sweep`` job: run at once (``hrcnet job
    run``) on nodes this tool serves itself; on someone else's nodes their scheduler runs it
    within its interval (5 minutes).
    """
    seeding = Seeding()
    join(network, progress, seeding)
    adopt_catalogue(network, progress, seeding, catalogue)
    twin(network, progress, seeding)
    seeding.facts["summaries"] = publish_summaries(network, progress, seeding, dataset)
    benchmarks(network, progress, seeding)
    seeding.facts["review"] = review(network, progress, seeding)
    seeding.facts["mentoring"] = mentoring(network, progress, seeding)
    seeding.facts["reminder"] = reminder(network, seeding.facts["review"], progress, seeding)
    comparisons(network, progress)
    return seeding


def join(network: Network, progress: Progress, seeding: Seeding) -> None:
    sec = network.secretariat.api("secretariat")
    states = {m["city_id"]: m["state"] for m in sec.items("/members")}
    applied = [c for c in network.cities() if c.city_id not in states]
    for city in applied:
        city.api("official").call("POST", "/peers", {"url": sec.node.base_url}, expect=202)
    network.wait(
        "the secretariat lists every application",
        lambda: {m["city_id"] for m in sec.items("/members")} >= {c.city_id for c in CITIES},
    )
    states = {m["city_id"]: m["state"] for m in sec.items("/members")}
    admitted = [c for c in network.cities() if states[c.city_id] == "pending"]
    for city in admitted:
        sec.call("POST", f"/members/{city.city_id}/admit", {"region": city.spec.region})
    for city in network.cities():
        network.wait(
            f"{city.city_id} holds the signed directory",
            lambda city=city: len(city.api("official").items("/directory")) == len(CITIES),
        )
    seeding.step(
        progress,
        "join",
        bool(applied or admitted),
        f"{len(CITIES)} cities applied and were admitted; each holds the signed directory",
    )


def adopt_catalogue(network: Network, progress: Progress, seeding: Seeding, path: Path) -> None:
    sec = network.secretariat.api("secretariat")
    published = any(r["version"] == RELEASE for r in sec.items("/catalogue/releases"))
    if not published:
        document = json.loads(path.read_text(encoding="utf-8"))
        document["version"] = RELEASE
        sec.call(
            "POST",
            "/catalogue/releases",
            {"document": document, "notes": "The core catalogue of the demo network."},
            expect=201,
        )
    adopted = 0
    for city in network.cities():
        client = city.api("official")
        release = network.wait(
            f"{city.city_id} receives core catalogue {RELEASE}",
            lambda client=client: next(
                (r for r in client.items("/catalogue/releases") if r["version"] == RELEASE), None
            ),
        )
        if release.get("adopted_at") is None:
            client.call("POST", f"/catalogue/releases/{RELEASE}/adopt")
            adopted += 1
    seeding.step(
        progress,
        "catalogue",
        not published or adopted > 0,
        f"core catalogue {RELEASE} published by the secretariat, adopted by {len(CITIES)} cities",
    )


def _peer_states(client: ApiClient) -> dict[str, str]:
    return {p["city_id"]: p["state"] for p in client.items("/peers")}


def twin(network: Network, progress: Progress, seeding: Seeding) -> None:
    acted = False
    for asker, partner in TWINNINGS:
        asker_sees = _peer_states(network.nodes[asker].api("official")).get(partner)
        partner_sees = _peer_states(network.nodes[partner].api("official")).get(asker)
        if asker_sees is None and partner_sees is None:
            target = network.nodes[partner].base_url
            network.nodes[asker].api("official").call(
                "POST", "/peers", {"url": target, "themes": THEMES}, expect=202
            )
            acted = True
    for asker, partner in TWINNINGS:
        client = network.nodes[partner].api("official")
        state = network.wait(
            f"{partner} sees {asker}'s twinning request",
            lambda client=client, asker=asker: (
                _peer_states(client).get(asker) in ("pending", "active")
                and _peer_states(client)[asker]
            ),
        )
        if state == "pending":
            client.call("POST", f"/peers/{asker}/accept", {"themes": THEMES})
            acted = True
    for asker, partner in TWINNINGS:
        for side, other in ((asker, partner), (partner, asker)):
            client = network.nodes[side].api("official")
            network.wait(
                f"{side} twinned with {other}",
                lambda client=client, other=other: _peer_states(client).get(other) == "active",
            )
    seeding.step(
        progress,
        "twinning",
        acted,
        f"{len(TWINNINGS)} twinnings accepted, themes: {', '.join(THEMES)}",
    )


def twins_of(city_id: str) -> list[str]:
    return sorted(
        {b for a, b in TWINNINGS if a == city_id} | {a for a, b in TWINNINGS if b == city_id}
    )


def publish_summaries(network: Network, progress: Progress, seeding: Seeding, dataset: Path) -> int:
    """Every city records its figures and publishes a signed summary per period (once)."""
    published = 0
    for city in network.cities():
        client = city.api("official")
        own = {s["period"] for s in client.items("/summaries")}
        for period in PERIODS:
            if period in own:
                continue
            if city.spec.sample:
                figures = sample_figures(city.city_id, period)
            else:
                figures = [
                    {
                        "indicator": BENCHMARK_INDICATOR,
                        "period": period,
                        "value": los_angeles_homelessness(dataset)[period],
                        "status": "published",
                        # Real counts as published: a jump between two years is the data.
                        "confirm_outlier": True,
                    }
                ]
            client.call("POST", "/results", figures, expect=201)
            client.call("POST", "/summaries", {"period": period}, expect=201)
            published += 1
    for city in network.cities():
        client = city.api("official")
        for twin_id in twins_of(city.city_id):
            network.wait(
                f"{city.city_id} holds {twin_id}'s summaries of {len(PERIODS)} periods",
                lambda client=client, twin_id=twin_id: (
                    {s["period"] for s in client.items(f"/peers/{twin_id}/summaries")}
                    >= set(PERIODS)
                ),
            )
    seeding.step(
        progress,
        "summaries",
        published > 0,
        f"{published} signed summaries published now ({len(CITIES)} cities x {len(PERIODS)} "
        "periods in all); every twin holds them",
    )
    return published


def benchmarks(network: Network, progress: Progress, seeding: Seeding) -> None:
    query = f"/benchmarks?indicator={BENCHMARK_INDICATOR}&period={BENCHMARK_PERIOD}"
    sec = network.secretariat.api("secretariat")
    network.wait(
        "the secretariat benchmarks every city",
        lambda: any(g["scope"] == "network" and g["n"] == len(CITIES) for g in sec.items(query)),
    )
    for city in network.cities():
        client = city.api("official")
        network.wait(
            f"{city.city_id} receives its benchmark position",
            lambda client=client: any(
                g["scope"] == "network" and g["position"] for g in client.items(query)
            ),
        )
    # Nothing to send: the secretariat's own job computes and signs the benchmarks.
    progress(
        f"benchmarks of {BENCHMARK_INDICATOR} {BENCHMARK_PERIOD} signed by the secretariat, "
        f"received by {len(CITIES)} cities"
    )


def _summary_hash(client: ApiClient, period: str) -> str:
    """The hash of the city's newest own summary of ``period`` (the network's copy)."""
    own = [s for s in client.items("/summaries") if s["period"] == period]
    newest = max(own, key=lambda s: (s["revision"], s["audience"] == ["network"]))
    return str(newest["envelope_sha256"])


def review(network: Network, progress: Progress, seeding: Seeding) -> str:
    """A peer review of Padova's housing figures, in its second round (once)."""
    chair = network.secretariat.api("secretariat")
    cur_official = network.nodes[REVIEWED].api("official")
    cur_admin = network.nodes[REVIEWED].api("admin")
    first, second = (network.nodes[c].api("official") for c in REVIEWERS)
    participants = [chair, cur_official, first, second]
    existing = next((r for r in cur_official.items("/reviews") if r["title"] == REVIEW_TITLE), None)
    if existing is not None:
        seeding.step(
            progress,
            "review",
            False,
            f"peer review of Padova ({existing['state']}, round {existing['round']})",
        )
        return str(existing["id"])

    def act(client: ApiClient, rid: str, action: str, data: dict[str, Any] | None = None) -> Any:
        return client.call(
            "POST", f"/reviews/{rid}/actions", {"action": action, "data": data or {}}
        )

    def converged(rid: str, state: str) -> None:
        def same_head() -> bool:
            home = chair.peek(f"/reviews/{rid}/events")
            view = chair.peek(f"/reviews/{rid}")
            if home is None or view is None or view["state"] != state:
                return False
            # Reviewers hold the log once invited: only the cities taking part are compared.
            taking_part = {view["cur"]} | {a["city"] for a in view["assignments"]}
            for client in participants[1:]:
                if client.city_id not in taking_part:
                    continue
                log = client.peek(f"/reviews/{rid}/events")
                if log is None or log["head_hash"] != home["head_hash"]:
                    return False
            return True

        network.wait(f"every participant at '{state}' on one head", same_head)

    def all_submitted(rid: str) -> bool:
        return all(
            a["state"] == "submitted" for a in chair.call("GET", f"/reviews/{rid}")["assignments"]
        )

    summary = _summary_hash(cur_official, BENCHMARK_PERIOD)
    rid = cur_official.call(
        "POST",
        "/reviews",
        {
            "title": REVIEW_TITLE,
            "scope": {"themes": [REVIEW_THEME]},
            "summaries": [summary],
        },
        expect=201,
    )["id"]
    act(cur_admin, rid, "submit")
    converged(rid, "requested")
    act(chair, rid, "form_panel")
    for reviewer in REVIEWERS:
        act(chair, rid, "invite", {"city": reviewer})
    converged(rid, "panel_forming")
    act(first, rid, "accept")
    act(second, rid, "accept")
    network.wait(
        "both reviewers accepted",
        lambda: (
            [a["state"] for a in chair.call("GET", f"/reviews/{rid}")["assignments"]]
            == ["accepted", "accepted"]
        ),
    )
    act(chair, rid, "open_round")
    converged(rid, "in_review")
    progress("peer review of Padova: panel formed (Gent, Nairobi), first round open")

    anchor = {
        "summary_sha256": summary,
        "indicator": BENCHMARK_INDICATOR,
        "period": BENCHMARK_PERIOD,
    }
    act(
        first,
        rid,
        "comment",
        {
            "id": "c0000001",
            "kind": "question",
            "anchor": anchor,
            "text": "Is the point-in-time count taken on the same night every year?",
            "readers": ["panel", "cur", "public"],
        },
    )
    content = {
        "text": "Adopt a housing-first programme with a yearly point-in-time count.",
        "lead_verb": "adopt",
        "action_level": 5,
        "themes": [REVIEW_THEME],
        "indicators": [BENCHMARK_INDICATOR],
    }
    act(
        first,
        rid,
        "draft_recommendation",
        {"id": "ee000001", "content": content, "issuing_cities": list(REVIEWERS)},
    )
    recommendation = network.wait(
        "Nairobi holds Gent's draft recommendation",
        lambda: next(
            (
                r
                for r in second.call("GET", f"/reviews/{rid}")["recommendations"]
                if r["id"] == "ee000001"
            ),
            None,
        ),
    )
    act(
        second,
        rid,
        "cosign_recommendation",
        {"id": "ee000001", "content_sha256": recommendation["content_sha256"]},
    )
    act(
        first,
        rid,
        "submit_review",
        {"verdict": "concerns", "summary": "The 2020 figure needs a check."},
    )
    act(second, rid, "submit_review", {"verdict": "comment_only", "summary": "Clear figures."})
    network.wait("both first-round reviews in", lambda: all_submitted(rid))
    act(chair, rid, "close_round")
    act(chair, rid, "request_revision")
    converged(rid, "revision_requested")
    progress(
        "peer review: anchored comment, recommendation co-signed by Gent and Nairobi, "
        "revision requested"
    )

    # The corrected figure: revision 2 of Padova's 2020 summary.
    corrected = [
        # A published figure changes only with a reason, kept in its history (issue 15).
        {
            **f,
            "value": f"{float(f['value']) * 0.97:.1f}",
            "reason": "Checked after the peer review's concern about the 2020 figure",
        }
        for f in sample_figures(REVIEWED, BENCHMARK_PERIOD)
        if f["indicator"] == BENCHMARK_INDICATOR
    ]
    cur_official.call("POST", "/results", corrected, expect=201)
    cur_official.call("POST", "/summaries", {"period": BENCHMARK_PERIOD}, expect=201)
    revised = _summary_hash(cur_official, BENCHMARK_PERIOD)
    act(cur_admin, rid, "submit_revision", {"summary_hashes": [revised]})
    converged(rid, "in_review")
    seeding.step(
        progress,
        "review",
        True,
        "peer review: Padova revised its 2020 summary (revision 2); second round under way",
    )
    return str(rid)


def mentoring(network: Network, progress: Progress, seeding: Seeding) -> str:
    """Gent mentors its twin Padova: agreement co-signed, active, one session held (once)."""
    mentor = network.nodes[MENTOR].api("official")
    mentee = network.nodes[MENTEE].api("official")
    existing = next(
        (
            r
            for r in mentor.items("/mentoring")
            if r["mentee"]["city_id"] == MENTEE and r["title"] == MENTORING_TITLE
        ),
        None,
    )
    if existing is not None:
        seeding.step(
            progress, "mentoring", False, f"mentoring Gent -> Padova ({existing['state']})"
        )
        return str(existing["id"])

    def view(client: ApiClient, rel_id: str) -> dict[str, Any] | None:
        found = client.peek(f"/mentoring/{rel_id}")
        return dict(found) if found else None

    def in_state(client: ApiClient, rel_id: str, state: str) -> None:
        network.wait(
            f"{client.city_id} sees the relationship {state}",
            lambda: (v := view(client, rel_id)) is not None and v["state"] == state,
        )

    measured = network.wait(
        "Gent holds Padova's current 2020 summary",
        lambda: [
            s["envelope_sha256"]
            for s in mentor.items(f"/peers/{MENTEE}/summaries")
            if s["period"] == BENCHMARK_PERIOD and s["current"] and s["revision"] == 2
        ],
    )[0]
    rel_id = mentor.call(
        "POST",
        "/mentoring",
        {"partner": MENTEE, "our_side": "mentor", "title": MENTORING_TITLE},
        expect=201,
    )["id"]
    in_state(mentee, rel_id, "proposed")
    mentee.call("POST", f"/mentoring/{rel_id}/transitions", {"action": "accept"})
    in_state(mentor, rel_id, "scoping")
    today = datetime.now(UTC).date()
    agreement = mentor.call(
        "POST",
        f"/mentoring/{rel_id}/agreement",
        {
            "terms": "A call every month; site visits once a year.",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=365)).isoformat(),
            "goals": [
                {
                    "text": "Bring homelessness below 15 per 10,000 residents.",
                    "measure": {"indicator": BENCHMARK_INDICATOR, "summary_sha256": measured},
                }
            ],
        },
        expect=201,
    )
    network.wait(
        "Padova holds the agreement",
        lambda: (
            [d["sha256"] for d in mentee.call("GET", f"/mentoring/{rel_id}")["agreement"]]
            == [agreement["sha256"]]
        ),
    )
    for client in (mentee, mentor):
        client.call(
            "POST",
            f"/mentoring/{rel_id}/agreement/{agreement['version']}/sign",
            {"sha256": agreement["sha256"]},
            expect=201,
        )
    for client in (mentor, mentee):
        network.wait(
            f"{client.city_id} sees the agreement co-signed",
            lambda client=client: client.call("GET", f"/mentoring/{rel_id}")["agreement"][0][
                "cosigned"
            ],
        )
    mentee.call("POST", f"/mentoring/{rel_id}/transitions", {"action": "activate"})
    in_state(mentor, rel_id, "active")
    session_id = mentor.call(
        "POST",
        f"/mentoring/{rel_id}/sessions",
        {"title": "Kick-off", "planned_for": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        expect=201,
    )["id"]
    network.wait(
        "Padova sees the planned session",
        lambda: (
            [s["id"] for s in mentee.call("GET", f"/mentoring/{rel_id}")["sessions"]]
            == [session_id]
        ),
    )
    mentee.call("POST", f"/mentoring/{rel_id}/sessions/{session_id}/hold", {})
    network.wait(
        "Gent sees the session held",
        lambda: mentor.call("GET", f"/mentoring/{rel_id}")["sessions"][0]["state"] == "held",
    )
    seeding.step(
        progress,
        "mentoring",
        True,
        "mentoring Gent -> Padova: agreement co-signed, active, one session held",
    )
    return str(rel_id)


def run_job(served: ServedNode, job: str) -> str:
    """``hrcnet job run DATA_DIR JOB``: the node's own job, run once now by its operator."""
    done = subprocess.run(
        [sys.executable, "-m", "node", "job", "run", str(served.data_dir), job],
        capture_output=True,
        text=True,
        env=served.env(),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise DemoError(
            f"{served.city_id}: hrcnet job run {job} failed:\n{done.stdout}{done.stderr}"
        )
    return done.stdout.strip()


def reminder(network: Network, rid: str, progress: Progress, seeding: Seeding) -> dict[str, Any]:
    """The chair brings Gent's round-2 review deadline forward to now; Gent's reminder sweep
    (the node's real job, on the real clock) puts a reminder into its users' notifications."""
    chair = network.secretariat.api("secretariat")
    gent = network.nodes[REVIEWERS[0]]
    official = gent.api("official")
    notes = official.items("/notifications")
    if notes:
        seeding.step(progress, "reminder", False, f"{len(notes)} notification(s) on Gent")
        return {"city_id": gent.city_id, "count": len(notes)}
    events = json.dumps(chair.call("GET", f"/reviews/{rid}/events"))
    moved = "extend_deadline" in events
    if not moved:
        due = datetime.now(UTC) + timedelta(seconds=5)
        chair.call(
            "POST",
            f"/reviews/{rid}/actions",
            {
                "action": "extend_deadline",
                "data": {"kind": "review_submission", "city": gent.city_id, "due": due.isoformat()},
            },
        )
        home = chair.call("GET", f"/reviews/{rid}/events")["head_hash"]
        network.wait(
            "Gent holds the moved deadline",
            lambda: (official.peek(f"/reviews/{rid}/events") or {}).get("head_hash") == home,
        )
        while datetime.now(UTC) < due:  # the due date is real time: wait for it to come
            time.sleep(0.2)
    if gent.served is None:
        # Someone else's node: its own scheduler sweeps deadlines; we cannot run its jobs.
        seeding.step(
            progress,
            "reminder",
            not moved,
            "Gent's review deadline is due now: its scheduler's deadline sweep (every 5 "
            "minutes) puts the reminder into its official's notifications",
        )
        return {"city_id": gent.city_id, "count": 0}
    summary = run_job(gent.served, "deadline_sweep")
    notes = network.wait(
        "a reminder in the notifications of Gent's official",
        lambda: official.items("/notifications"),
    )
    seeding.step(
        progress, "reminder", True, f"deadline reminder in Gent's notifications ({summary})"
    )
    return {"city_id": gent.city_id, "count": len(notes)}


def comparisons(network: Network, progress: Progress) -> None:
    shown = 0
    for city in network.cities():
        for twin_id in twins_of(city.city_id):
            rows = city.api("official").items(
                f"/peers/{twin_id}/comparison?period={BENCHMARK_PERIOD}"
            )
            if not rows:
                raise DemoError(f"{city.city_id}'s comparison with {twin_id} is empty")
            shown += 1
    progress(f"{shown} twin comparisons show the twin's figures")


# --- building on this machine (hrcnet demo) -------------------------------------------------------


def choose_ports(count: int, port_base: int | None) -> list[int]:
    """``count`` ports on 127.0.0.1: ``port_base`` and the next ones (all must be free), else the
    first free block from 8000, else ports the kernel picks."""
    if port_base is not None:
        block = list(range(port_base, port_base + count))
        for port in block:
            if not port_is_free(port):
                raise DemoError(
                    f"Port {port} on 127.0.0.1 is busy: stop what uses it, or choose other "
                    f"ports with --port-base N (the demo needs {count} ports from N)."
                )
        return block
    for base in range(8000, 8100, count):
        block = list(range(base, base + count))
        if all(port_is_free(p) for p in block):
            return block
    return [kernel_free_port() for _ in range(count)]


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def served_network(rows: Sequence[NodeRow], progress: Progress | None = None) -> Network:
    """The network of a table whose nodes this tool serves itself on 127.0.0.1."""
    return Network(
        {
            row.city_id: DemoNode(
                row, ServedNode(row.city_id, row.data_dir.resolve(), _port_of(row.url))
            )
            for row in rows
        },
        progress,
    )


def build_network(
    root: Path,
    ports: list[int],
    progress: Progress,
    started_hook: Callable[[str, Network], None] | None = None,
) -> tuple[Network, dict[str, Any]]:
    """Plan, initialise, start and seed the whole network in ``root``; the nodes keep running.

    The same three steps as the containers (``hrcnet demo init-network``, ``init-node``,
    ``seed``), on 127.0.0.1. ``started_hook("network", network)`` is called before any node
    starts, so the caller can stop them (``stop_nodes(network.served())``) whatever happens.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / BUILDING_MARKER).write_text("hrcnet demo build in progress\n")
    started = time.monotonic()
    rows = plan_network("http://127.0.0.1:{port}", root.resolve(), ports=ports)
    # The developer's NODE_* settings must not reach the demo's nodes (see child_env).
    for row in rows:
        progress(init_demo_node(row, environ=child_env()))
    network = served_network(rows, progress)
    if started_hook is not None:
        started_hook("network", network)
    for served in network.served():
        served.start()
    with ThreadPoolExecutor(max_workers=len(rows)) as pool:
        list(pool.map(lambda n: n.wait_ready(), network.served()))
    progress(f"{len(rows)} nodes serving: " + ", ".join(n.base_url for n in network.served()))
    preflight(network, progress, wait_s=0)  # as `hrcnet demo seed` does: one code path
    seeding = seed(network, progress)
    facts = dict(seeding.facts)
    facts["build_seconds"] = round(time.monotonic() - started, 1)
    return network, facts


def write_table(root: Path, network: Network) -> Path:
    """Write ``network.json`` (the contract's table) and mark the build complete."""
    path = write_network_file(root / NETWORK_FILE, network.rows())
    (root / COMPLETE_MARKER).write_text("built by hrcnet demo\n")
    (root / BUILDING_MARKER).unlink(missing_ok=True)
    return path


def load_network(root: Path) -> Network | None:
    """The network a previous build left in ``root``, or None when it is not complete."""
    path = root / NETWORK_FILE
    if not (root / COMPLETE_MARKER).is_file() or not path.is_file():
        return None
    try:
        rows = read_network_file(path)
    except ValueError:
        return None
    if not all((row.data_dir / "node.toml").is_file() for row in rows):
        return None
    return served_network(rows)


def print_table(network: Network, out: Callable[[str], None]) -> None:
    """The table of nodes, URLs and logins (the same as ``network.json``, without tokens)."""
    out("")
    out(f"{'node':24} {'role':12} {'url':24} {'login':36} {'role':15} password")
    for node in network.nodes.values():
        first = True
        for login in node.row.logins:
            left = (
                f"{node.spec.name[:24]:24} {node.spec.role:12} {node.base_url:24}"
                if first
                else " " * 62
            )
            out(f"{left} {login.email:36} {login.role:15} {login.password}")
            first = False
    out("")
