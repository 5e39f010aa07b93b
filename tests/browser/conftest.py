"""Headless Chromium (Debian's, never a downloaded one) against a real ``hrcnet serve`` node.

pytest-playwright provides ``browser``, ``context`` and ``page``; we only tell it which
executable to launch and where the node is. One node serves the whole browser session: starting
gunicorn per test would triple the run time, and the tests write disjoint figures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The in-process federation (tests/federation/conftest.py): the review pages need a chair's node
# and a reviewed city; the browser talks to one of those apps served on loopback.
from tests.federation.conftest import (  # noqa: F401 (fixtures)
    _fresh_fetch_gate,
    _node_templates,
    network,
)
from tests.multinode.harness import NodeProcess, NodeUser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # containers and CI runners often lack the user namespaces it needs
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing but our loopback node: no update checks, no phoning home, no sync.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; missing = skip locally, fail in CI (README: CI installs it)."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} not found: apt-get install chromium (no browser is downloaded)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium_path: Path) -> dict[str, Any]:
    """Replaces pytest-playwright's fixture: launch the system Chromium, headless."""
    return {"executable_path": str(chromium_path), "args": list(CHROMIUM_ARGS)}


@pytest.fixture(scope="session")
def browser_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One real node for the browser session, stopped at the end whatever happened."""
    node = NodeProcess(
        "be-gent",
        tmp_path_factory.mktemp("browser") / "gent",
        name="Gent",
        # Every browser of the session posts the report form from 127.0.0.1: one address, so
        # the per-address limit (10 an hour) would refuse the later tests' reports.
        extra_env={"NODE_COMMUNITY_RATE_LIMIT": "1000"},
    )
    try:
        node.init()
        node.start()
        yield node
    finally:
        node.close()


@pytest.fixture(scope="session")
def node_official(browser_node: NodeProcess) -> NodeUser:
    """An official of the node (may enter, validate and import figures)."""
    email, password = "ana@gent.example", "a long browser passphrase"
    token = browser_node.create_user(email, "official", password)
    return NodeUser(email, "official", password, token)


@pytest.fixture(scope="session")
def node_admin(browser_node: NodeProcess) -> NodeUser:
    """An administrator of the node (users, roles, tokens, password resets)."""
    email, password = "admin@gent.example", "an administrator's long passphrase"
    token = browser_node.create_user(email, "admin", password)
    return NodeUser(email, "admin", password, token)


@pytest.fixture(scope="session")
def base_url(browser_node: NodeProcess) -> str:
    """The node's address; pytest-playwright passes it to every context (``goto("/")``).

    Defining it here also replaces pytest-playwright's own fallback ``base_url`` (used when
    pytest-base-url is not installed), which pytest 9 flags as a deprecated instance-method
    session fixture; with ``filterwarnings = error`` that warning would fail every test.
    """
    return browser_node.base_url
