"""Page tests of peer reviews run on the in-process federation (several nodes, one process)."""

from tests.federation.conftest import (  # noqa: F401 (fixtures)
    _fresh_fetch_gate,
    _node_templates,
    network,
)
