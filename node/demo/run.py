"""``hrcnet demo``: a living network on this machine — a secretariat and four cities.

- ``hrcnet demo`` builds the network in ``demo-data/`` (see :mod:`node.demo.network`), prints
  the table of nodes and logins, writes ``demo-data/network.json`` and keeps serving, showing
  one line per meaningful event of the nodes' logs (``--verbose``: every line), until Ctrl-C or
  SIGTERM; then it stops every node within 10 s.
- A second ``hrcnet demo`` finds the complete network and serves it again in seconds: same
  keys, same data, everything users entered kept. ``--reset`` rebuilds, after asking.
- ``hrcnet demo --check`` builds the same network in a temporary directory (``demo-data/`` is
  never touched), checks every step from outside the nodes, stops them and exits 0 only if
  every check held.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
import requests

from federation.envelope import EnvelopeError, verify_envelope, verify_key_document
from node.config import ConfigError
from node.demo.driver import DemoError, ServedNode, port_is_free, stop_nodes
from node.demo.network import (
    BUILDING_MARKER,
    COMPLETE_MARKER,
    MENTEE,
    MENTOR,
    NETWORK_FILE,
    REVIEWED,
    REVIEWERS,
    LoginRefused,
    Network,
    NodeUnreachable,
    build_network,
    choose_ports,
    load_network,
    preflight,
    print_table,
    remote_network,
    seed,
    twins_of,
    write_table,
)
from node.demo.nodes import (
    DATASET,
    LOS_ANGELES,
    NODES,
    SECRETARIAT,
    NetworkFileError,
    init_demo_node,
    plan_network,
    read_network_file,
    write_network_file,
)
from node.setup import DEFAULT_CATALOGUE, SetupError

# Exit codes of ``hrcnet demo seed`` / ``init-network`` / ``init-node`` (docs/cli.md).
EXIT_OK = 0
EXIT_STEP_FAILED = 1  # a step of the scenario did not happen (the message shows the evidence)
EXIT_BAD_FILE = 2  # network.json missing, unreadable or not the demo network's table
EXIT_UNREACHABLE = 3  # a node does not answer, or answers as another node
EXIT_LOGIN_REFUSED = 4  # a node refuses a login of the table


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: stop the nodes and leave."""


# --- the checks of --check, from outside the nodes ---------------------------------------------


class Report:
    """The steps of ``--check``, each held or not, printed as they come."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.steps: list[tuple[str, bool, str]] = []
        self._out = out

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.steps.append((name, ok, detail))
        self._out(f"  [{'ok' if ok else 'FAILED'}] {name}{': ' + detail if detail else ''}")
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(ok for _, ok, _ in self.steps)


def _key_document(url: str, city_id: str) -> Any:
    """A node's published key document, verified as that city's (federation code)."""
    with requests.Session() as http:
        http.trust_env = False
        response = http.get(f"{url}/federation/v1/keys", timeout=10)
    response.raise_for_status()
    return verify_key_document(response.json(), city_id, int(time.time() * 1000))


def check_network(network: Network, facts: dict[str, Any], report: Report) -> None:
    """Every promise of the demo, checked through the nodes' public interfaces."""
    keydocs = {
        node.city_id: _key_document(node.base_url, node.city_id) for node in network.nodes.values()
    }
    for city in network.cities():
        client = city.api("official")
        for twin_id in twins_of(city.city_id):
            received = client.items(f"/peers/{twin_id}/summaries")
            keydoc = keydocs[twin_id]
            verified = 0
            for item in received:
                try:
                    signers = verify_envelope(
                        json.loads(item["envelope"]),
                        lambda origin, key_id, created_ts, keydoc=keydoc: (
                            keydoc.public_key_for(key_id, created_ts)
                            if origin == keydoc.origin
                            else None
                        ),
                    )
                except EnvelopeError:
                    continue
                verified += signers[0][0] == twin_id
            periods = sorted({item["period"] for item in received})
            report.check(
                f"{city.city_id} holds {twin_id}'s summaries, verified against its key document",
                bool(received) and verified == len(received) and len(periods) >= 3,
                f"{verified}/{len(received)} verify, periods {', '.join(periods)}",
            )
    query = "/benchmarks?indicator=HRC-HOU-04&period=2020"
    for city in network.cities():
        client = city.api("official")
        groups = [g for g in client.items(query) if g["scope"] == "network"]
        own = {s["envelope_sha256"] for s in client.items("/summaries")}
        ok = (
            bool(groups)
            and groups[0]["position"] is not None
            and bool(own & set(groups[0]["sources"]))
        )
        report.check(
            f"{city.city_id} holds the secretariat's signed benchmark (verified on arrival)",
            ok,
            f"rank {groups[0]['position']['rank']} of {groups[0]['n']}" if ok else "missing",
        )
    rid = facts["review"]
    participants = [network.secretariat.api("secretariat")] + [
        network.nodes[c].api("official") for c in (REVIEWED, *REVIEWERS)
    ]
    heads = {
        c.city_id: (c.peek(f"/reviews/{rid}/events") or {}).get("head_hash") for c in participants
    }
    view = participants[0].call("GET", f"/reviews/{rid}")
    cosigned = [r for r in view["recommendations"] if len(r.get("cosigned_by") or []) >= 2]
    report.check(
        "the review's event-log head is identical on every participating node",
        len(set(heads.values())) == 1 and None not in heads.values(),
        f"{view['state']}, round {view['round']}, {len(view['comments'])} comment(s), "
        f"{len(cosigned)} co-signed recommendation(s)",
    )
    report.check("a recommendation is co-signed", bool(cosigned))
    rel_id = facts["mentoring"]

    def mentoring_state(city_id: str) -> Any:
        v = network.nodes[city_id].api("official").call("GET", f"/mentoring/{rel_id}")
        return (
            v["state"],
            v["state_version"],
            [(d["version"], d["sha256"], d["cosigned"]) for d in v["agreement"]],
            [(s["id"], s["state"]) for s in v["sessions"]],
        )

    mentor_state, mentee_state = mentoring_state(MENTOR), mentoring_state(MENTEE)
    report.check(
        "the mentoring state agrees on both nodes",
        mentor_state == mentee_state and mentor_state[0] == "active",
        f"{mentor_state[0]}, agreement co-signed: {mentor_state[2][0][2]}, "
        f"sessions {mentor_state[3]}",
    )
    report.check(
        "a deadline reminder reached a user's notifications",
        facts["reminder"]["count"] > 0,
        f"{facts['reminder']['count']} on {facts['reminder']['city_id']}",
    )
    for city in network.cities():
        twin_id = twins_of(city.city_id)[0]
        rows = city.api("official").items(f"/peers/{twin_id}/comparison?period=2020")
        report.check(
            f"{city.city_id}'s comparison shows {twin_id}'s figures",
            bool(rows),
            f"{len(rows)} rows",
        )


# --- serving and following the logs --------------------------------------------------------------

# Lines worth a person's attention when not --verbose: what crossed the network, what a job
# actually did, what failed. Polls, idle job runs and routine page/API access are not.
_ACCESS = re.compile(r'"(GET|HEAD|POST|PUT|DELETE|PATCH) (\S+) HTTP/[\d.]+" (\d{3})')
# The scheduler's "job run" line (node/ops/logs.py): job=NAME ... result=WHAT it did.
_JOB = re.compile(r" scheduler (\w+): (.*)$| job=(\w+) .*result=(.*)$")
_TROUBLE = re.compile(r"\b(ERROR|CRITICAL|WARNING|Traceback)\b")


def meaningful(line: str) -> bool:
    """Whether a node's log line is shown without ``--verbose``."""
    access = _ACCESS.search(line)
    if access:
        path, status = access.group(2), int(access.group(3))
        # An envelope arriving from a peer (accepted or refused) is an event; a server error
        # always is; everything else is a person's or the demo's routine request.
        return status >= 500 or path.startswith("/federation/v1/inbox")
    if _TROUBLE.search(line):
        return True
    job = _JOB.search(line)
    if job:
        # A job that did something names a count above zero ("delivered 2", "1 sent").
        return bool(re.search(r"\b[1-9]\d*\b", job.group(2) or job.group(4)))
    return False


class LogFollower:
    """Follow every node's ``serve.log`` from its current end, one prefixed line per event."""

    def __init__(self, nodes: list[ServedNode], verbose: bool, out: Callable[[str], None]) -> None:
        self.nodes, self.verbose, self.out = nodes, verbose, out
        self.offsets = {n.city_id: _size(n.log_path) for n in nodes}
        self.width = max(len(n.city_id) for n in nodes)

    def poll(self) -> None:
        for node in self.nodes:
            try:
                with node.log_path.open("rb") as log:
                    log.seek(self.offsets[node.city_id])
                    chunk = log.read()
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1
            self.offsets[node.city_id] += complete
            for raw in chunk[:complete].decode("utf-8", "replace").splitlines():
                if raw.strip() and (self.verbose or meaningful(raw)):
                    self.out(f"{node.city_id:>{self.width}} | {raw}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _raise_interrupted(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted


def serve_until_stopped(network: Network, verbose: bool, out: Callable[[str], None]) -> None:
    """Follow the logs until Ctrl-C/SIGTERM or until a node dies."""
    follower = LogFollower(network.served(), verbose, out)
    out("Serving. The nodes' events follow (--verbose: every log line). Stop with Ctrl-C.")
    while True:
        follower.poll()
        dead = [n.city_id for n in network.served() if not n.running]
        if dead:
            raise DemoError(
                f"node(s) stopped unexpectedly: {', '.join(dead)} (see their serve.log)"
            )
        time.sleep(0.5)


# --- the command ------------------------------------------------------------------------------


def _is_ours(root: Path) -> bool:
    """Whether ``root`` is a demo network directory (built, or an unfinished build)."""
    return any((root / name).exists() for name in (NETWORK_FILE, COMPLETE_MARKER, BUILDING_MARKER))


def _remove(root: Path) -> None:
    """Delete a demo network directory; never anything that is not one."""
    if not _is_ours(root):
        raise DemoError(
            f"{root} exists and is not an hrcnet demo network; nothing was deleted. "
            "Choose another directory with --data-dir."
        )
    shutil.rmtree(root)


def _start(network: Network) -> None:
    for node in network.served():
        node.start()
    for node in network.served():
        node.wait_ready()


def _check_ports_free(network: Network) -> None:
    for node in network.served():
        if not port_is_free(node.port):
            raise DemoError(
                f"Port {node.port} ({node.city_id}) on 127.0.0.1 is busy: stop what uses it "
                "(another hrcnet demo?), or rebuild the network on other ports with "
                "`hrcnet demo --reset --port-base N`."
            )


def run_demo(
    data_dir: Path,
    *,
    port_base: int | None = None,
    check: bool = False,
    reset: bool = False,
    yes: bool = False,
    verbose: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """``hrcnet demo``: build or reuse the network and serve it; or ``--check`` it."""
    previous = {
        sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        if check:
            return _check(port_base, out)
        return _serve(data_dir.resolve(), port_base, reset, yes, verbose, out)
    except DemoError as exc:
        out(f"hrcnet demo: {exc}")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


def _progress(out: Callable[[str], None], started: float) -> Callable[[str], None]:
    def progress(line: str) -> None:
        out(f"[{time.monotonic() - started:6.1f}s] {line}")

    return progress


def _serve(
    root: Path,
    port_base: int | None,
    reset: bool,
    yes: bool,
    verbose: bool,
    out: Callable[[str], None],
) -> int:
    if reset and root.exists() and any(root.iterdir()):
        if not yes and not click.confirm(
            f"Delete the demo network in {root}, with everything entered in it, and rebuild?",
            default=False,
        ):
            out("Nothing was deleted.")
            return 1
        _remove(root)
    network = load_network(root)
    started = time.monotonic()
    if network is not None:
        _check_ports_free(network)
        out(f"hrcnet demo: reusing the network in {root} (hrcnet demo --reset rebuilds it)")
        try:
            _start(network)
            out(f"{len(network.nodes)} nodes serving in {time.monotonic() - started:.1f} s")
            print_table(network, out)
            serve_until_stopped(network, verbose, out)
        except Interrupted:
            out("Stopping...")
        finally:
            _stop(network, out)
        return 0
    if root.exists() and any(root.iterdir()):
        if (root / BUILDING_MARKER).exists() and not (root / COMPLETE_MARKER).exists():
            # An interrupted build: its logins were never shown, so no one entered anything.
            out(f"hrcnet demo: {root} holds an unfinished build; building it again")
            _remove(root)
        else:
            raise DemoError(
                f"{root} exists but holds no complete demo network. Rebuild it with "
                "`hrcnet demo --reset` (asks first), or choose another --data-dir."
            )
    ports = choose_ports(len(NODES), port_base)
    out(f"hrcnet demo: building a network of {len(NODES)} nodes in {root} (about 2-3 minutes)")
    progress = _progress(out, started)
    built: Network | None = None
    try:
        built, facts = _build(root, ports, progress)
        write_table(root, built)
        progress(
            f"network ready in {facts['build_seconds']} s; table written to {root / NETWORK_FILE}"
        )
        print_table(built, out)
        serve_until_stopped(built, verbose, out)
    except Interrupted:
        out("Stopping...")
    finally:
        if built is not None:
            _stop(built, out)
    return 0


def _build(
    root: Path, ports: list[int], progress: Callable[[str], None]
) -> tuple[Network, dict[str, Any]]:
    """Build, stopping every started node if the build fails or is interrupted."""
    holder: dict[str, Network] = {}
    try:
        return build_network(root, ports, progress, started_hook=holder.__setitem__)
    except BaseException:
        if "network" in holder:
            for sig in (signal.SIGINT, signal.SIGTERM):  # see _stop
                signal.signal(sig, signal.SIG_IGN)
            stop_nodes(holder["network"].served())
        raise


def _stop(network: Network, out: Callable[[str], None]) -> None:
    """Stop every node (within 10 s, then killed); a second Ctrl-C does not cut it short,
    since an interrupted stop is what would leave orphans behind."""
    started = time.monotonic()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    killed = stop_nodes(network.served())
    for node in network.nodes.values():
        node.close_clients()
    if killed:
        out(f"Stopped in {time.monotonic() - started:.1f} s (killed: {', '.join(killed)}).")
    else:
        out(f"Stopped every node in {time.monotonic() - started:.1f} s.")


def _check(port_base: int | None, out: Callable[[str], None]) -> int:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="hrcnet-demo-check-"))
    out(f"hrcnet demo --check: building the network in {root} (demo-data/ is not touched)")
    report = Report(out)
    network: Network | None = None
    holder: dict[str, Network] = {}
    try:
        ports = choose_ports(len(NODES), port_base) if port_base else _kernel_ports()
        try:
            network, facts = build_network(
                root, ports, _progress(out, started), started_hook=holder.__setitem__
            )
        except DemoError as exc:
            report.check("the network was built", False, str(exc)[:3000])
        else:
            report.check("the network was built", True, f"{facts['build_seconds']} s")
            write_table(root, network)
            table = json.loads((root / NETWORK_FILE).read_text())
            roles = {(row["city_id"], login["role"]) for row in table for login in row["logins"]}
            report.check(
                "network.json lists every node with a login per role",
                len(table) == len(NODES)
                and all((LOS_ANGELES, r) in roles for r in ("admin", "official", "viewer"))
                and (SECRETARIAT, "secretariat") in roles,
                f"{len(table)} nodes, {len(roles)} logins",
            )
            check_network(network, facts, report)
    except Interrupted:
        report.check("not interrupted", False)
    finally:
        nodes = network or holder.get("network")
        if nodes is not None:
            killed = stop_nodes(nodes.served())
            for node in nodes.nodes.values():
                node.close_clients()
            report.check("every node stopped within 10 s", not killed, ", ".join(killed))
        shutil.rmtree(root, ignore_errors=True)
    seconds = time.monotonic() - started
    verdict = "every step held" if report.ok else "SOME STEPS FAILED"
    out(f"hrcnet demo --check: {verdict} ({seconds:.0f} s)")
    return 0 if report.ok else 1


def _kernel_ports() -> list[int]:
    from node.demo.driver import kernel_free_port

    ports: set[int] = set()
    while len(ports) < len(NODES):
        ports.add(kernel_free_port())
    return sorted(ports)


# --- the containers' commands: init-network, init-node, seed --------------------------------------


def run_init_network(
    path: Path,
    *,
    url_template: str,
    data_root: Path,
    port_base: int | None,
    out: Callable[[str], None] = print,
) -> int:
    """``hrcnet demo init-network``: write the table of a new network (fresh passwords, tokens).

    A table already at ``path`` is kept as it is (its passwords are in use): idempotent.
    """
    try:
        if path.exists():
            rows = read_network_file(path)
            out(f"{path} already holds the table of {len(rows)} nodes; kept (nothing changed)")
            return EXIT_OK
        ports = None if port_base is None else list(range(port_base, port_base + len(NODES)))
        rows = plan_network(url_template, data_root, ports=ports)
        write_network_file(path, rows)
    except NetworkFileError as exc:
        out(f"hrcnet demo init-network: {exc}")
        return EXIT_BAD_FILE
    except OSError as exc:
        out(f"hrcnet demo init-network: cannot write {path}: {exc}")
        return EXIT_BAD_FILE
    out(f"Wrote the table of {len(rows)} nodes to {path} (mode 0600: it holds passwords)")
    for row in rows:
        out(f"  {row.city_id:16} {row.url:32} {row.data_dir}")
    return EXIT_OK


def run_init_node(
    network_file: Path,
    city_id: str,
    *,
    catalogue: Path,
    dataset: Path,
    environ: Mapping[str, str] | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """``hrcnet demo init-node``: initialise one node from its row of the table (idempotent)."""
    try:
        rows = {row.city_id: row for row in read_network_file(network_file)}
        if city_id not in rows:
            raise NetworkFileError(f"{network_file}: no node {city_id!r} ({', '.join(rows)})")
        done = init_demo_node(
            rows[city_id],
            environ=dict(os.environ if environ is None else environ),
            catalogue=catalogue,
            dataset=dataset,
        )
    except (NetworkFileError, SetupError, ConfigError) as exc:
        out(f"hrcnet demo init-node: {exc}")
        return EXIT_BAD_FILE
    out(done)
    return EXIT_OK


def run_seed(
    network_file: Path,
    *,
    catalogue: Path = DEFAULT_CATALOGUE,
    dataset: Path = DATASET,
    wait_s: float = 60.0,
    out: Callable[[str], None] = print,
) -> int:
    """``hrcnet demo seed``: seed the running network of ``network_file`` (idempotent)."""
    started = time.monotonic()
    progress = _progress(out, started)
    try:
        rows = read_network_file(network_file)
    except NetworkFileError as exc:
        out(f"hrcnet demo seed: {exc}")
        return EXIT_BAD_FILE
    network = remote_network(rows, progress)
    out(f"hrcnet demo seed: seeding the {len(rows)} nodes of {network_file}")
    try:
        preflight(network, progress, wait_s=wait_s)
        seeding = seed(network, progress, catalogue=catalogue, dataset=dataset)
    except NodeUnreachable as exc:
        out(f"hrcnet demo seed: {exc}")
        return EXIT_UNREACHABLE
    except LoginRefused as exc:
        out(f"hrcnet demo seed: {exc}")
        return EXIT_LOGIN_REFUSED
    except DemoError as exc:
        out(f"hrcnet demo seed: {exc}")
        return EXIT_STEP_FAILED
    except requests.RequestException as exc:
        out(f"hrcnet demo seed: a node stopped answering mid-way: {exc}")
        return EXIT_UNREACHABLE
    finally:
        network.close_clients()
    seconds = time.monotonic() - started
    if seeding.done:
        out(
            f"hrcnet demo seed: seeded in {seconds:.0f} s "
            f"(done now: {', '.join(seeding.done)}; "
            f"already in place: {', '.join(seeding.already) or 'nothing'})"
        )
    else:
        out(
            f"hrcnet demo seed: already seeded, nothing duplicated "
            f"({len(seeding.already)} steps found in place, {seconds:.0f} s)"
        )
    return EXIT_OK


__all__ = ["run_demo", "run_init_network", "run_init_node", "run_seed"]
