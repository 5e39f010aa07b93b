"""The shape of the code, checked: one direction of imports, no circles (issue 13).

The graph is built by grimp (import-linter's engine) from the source, function-level imports
included: a lazy import inside a function is still a dependency, and hiding a circle inside a
function is how circles grew here before.
"""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("node", "peer_review", "federation", "schemas")

# Feature packages: each registers itself (node/features.py) and may use the core only.
FEATURES = (
    "peer_review.reviews",
    "peer_review.mentoring",
    "node.secretariat",
    "node.community",
    "node.portal",
)
# What a feature may import from node/: the core, and the network only through its port.
CORE = (
    "node.db",
    "node.errors",
    "node.errors_http",
    "node.config",
    "node.runtime",
    "node.routing",
    "node.permissions",
    "node.auth",
    "node.input_guard",
    "node.refusals",
    "node.disaggregation",
    "node.progress",
    "node.charts",
    "node.indicator_charts",  # the charts of an indicator, for the staff's pages and the portal
    "node.i18n",  # the pages' languages and number formats
    "node.data_version",  # the data's version counter (what changed since a print)
    "node.equality",
    "node.models",
    "node.notifications",
    "node.api.common",
    "node.services",
    "node.web.forms",
    "node.web.meta",
    "node.network.port",
    "node.network.registry",
)
# The composition root: the only modules that list features.
COMPOSITION = (
    "node.app",
    "node.features",
    "node.cli",
    "node.jobs",
    "node.server",
    "node.__main__",
    "node.migrations",
    "node.demo",
    "node.setup",
)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the module graph is deep enough to matter)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            module, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    break
                if child in on_stack:
                    low[module] = min(low[module], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    # The checker itself, on a graph whose answer is known by construction.
    planted = grimp.ImportGraph()
    for name in ("a", "a.x", "a.y", "a.z", "a.w"):
        planted.add_module(name)
    planted.add_import(importer="a.x", imported="a.y")
    planted.add_import(importer="a.y", imported="a.z")
    planted.add_import(importer="a.z", imported="a.x")
    planted.add_import(importer="a.w", imported="a.x")
    assert _strongly_connected(planted) == [["a.x", "a.y", "a.z"]]


def test_no_module_imports_itself_back(graph: grimp.ImportGraph) -> None:
    assert _strongly_connected(graph) == []


@pytest.mark.parametrize("library", ["federation", "schemas"])
def test_libraries_import_no_application_code(graph: grimp.ImportGraph, library: str) -> None:
    for application in ("node", "peer_review"):
        chain = graph.find_shortest_chain(importer=library, imported=application, as_packages=True)
        assert chain is None, f"{library} reaches {application}: {' -> '.join(chain or ())}"


def _edges(graph: grimp.ImportGraph, importer_prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    return sorted(
        (module, imported)
        for module in graph.modules
        if _within(module, importer_prefixes)
        for imported in graph.find_modules_directly_imported_by(module)
    )


def _feature_violations(graph: grimp.ImportGraph) -> list[str]:
    wrong = []
    for module, imported in _edges(graph, FEATURES):
        own_feature = next(f for f in FEATURES if _within(module, (f,)))
        if _within(imported, (own_feature,)) or not imported.startswith(("node", "peer_review")):
            continue
        if imported.startswith("peer_review") and not _within(imported, FEATURES):
            continue  # the peer-review core shared by reviews and mentoring
        if imported.startswith("node") and _within(imported, CORE):
            continue
        wrong.append(f"{module} -> {imported}")
    return wrong


def test_features_use_only_the_core(graph: grimp.ImportGraph) -> None:
    assert _feature_violations(graph) == []


def test_the_feature_rule_refuses_network_internals_and_other_features() -> None:
    planted = grimp.ImportGraph()
    modules = (
        "peer_review.reviews.pages",
        "peer_review.mentoring.read",
        "peer_review.chain",
        "node.network.port",
        "node.network.inbox",
        "node.web.views",
        "node.errors",
    )
    for name in modules:
        planted.add_module(name)
    allowed = ("node.network.port", "peer_review.chain", "node.errors")
    for target in allowed:
        planted.add_import(importer="peer_review.reviews.pages", imported=target)
    for target in ("node.network.inbox", "node.web.views", "peer_review.reviews.pages"):
        planted.add_import(importer="peer_review.mentoring.read", imported=target)
    assert _feature_violations(planted) == [
        "peer_review.mentoring.read -> node.network.inbox",
        "peer_review.mentoring.read -> node.web.views",
        "peer_review.mentoring.read -> peer_review.reviews.pages",
    ]


def test_the_core_imports_no_feature(graph: grimp.ImportGraph) -> None:
    core_modules = tuple(
        m for m in graph.modules if _within(m, CORE) or m.startswith("node.network")
    )
    wrong = [
        f"{module} -> {imported}"
        for module, imported in _edges(graph, core_modules)
        if _within(imported, FEATURES + COMPOSITION)
    ]
    assert wrong == []


def test_no_late_imports_are_waved_through() -> None:
    # A bottom-of-module import whose E402 warning is silenced is how a circle was made to load.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in (*PACKAGES, "tests", "scripts", "bench")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"noqa:[^#]*E402", line)
    ]
    assert offenders == []
