"""Fixtures for tests that run real ``hrcnet serve`` processes (see ``harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.multinode.harness import NodeFactory


@pytest.fixture
def node_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeFactory]:
    """Start real nodes on 127.0.0.1; every one is stopped after the test, pass or fail."""
    factory = NodeFactory(request, tmp_path / "nodes")
    try:
        yield factory
    finally:
        problems = factory.teardown()
        if problems:
            pytest.fail("teardown of nodes failed:\n" + "\n".join(problems))
