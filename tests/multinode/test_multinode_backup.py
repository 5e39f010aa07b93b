"""Backup and restore across a live node with deliveries in flight (issue 17).

Real ``hrcnet serve`` processes on 127.0.0.1: Gent publishes, is backed up while it serves and
while an envelope waits in its outbox, publishes more, is lost, and comes back from the backup
into a new data dir. Its twin Padova must end with every document exactly once, no
equivocation or rollback incident, and must accept what the restored Gent signs next (the
restored database's envelope counter is behind what Padova has seen: without the jump past it,
Gent's next document would reuse a seq and be refused as equivocation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from node.config import load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.network.models import FederationIncident, InEnvelope, OutboxItem
from tests.multinode.harness import NodeFactory, NodeProcess
from tests.multinode.test_multinode_federation import (
    HOUSING,
    PERIOD,
    City,
    cities,
    discard,
    twin,
    wait_for_summaries,
)

pytestmark = pytest.mark.multinode

EARLIER = "2024"


def query(node: NodeProcess, statement: Any) -> Any:
    """Read a node's own database directly (the test's view, not the node's API)."""
    config = load_config(node.data_dir, environ=node.env())
    engine = make_engine(config.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return session.execute(statement).all()
    finally:
        engine.dispose()


def publish_period(city: City, period: str, value: str) -> dict[str, Any]:
    figure = {"indicator": HOUSING, "period": period, "value": value, "status": "validated"}
    city.call("POST", "/api/v1/results", json=[figure], expect=201)
    [summary] = city.call("POST", "/api/v1/summaries", json={"period": period}, expect=201)["items"]
    return dict(summary)


def test_restored_node_sends_nothing_twice_and_loses_nothing(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    gent, padova = cities(node_factory, "be-gent", "it-padova")
    twin(gent, padova, sync=True)

    # 1. Published and delivered before the backup.
    gent.record({HOUSING: "10.0"})
    first = gent.publish()
    gent.sync()
    wait_for_summaries(padova, gent, 1)

    # 2. In flight at the backup: Padova is down, revision 2 waits in Gent's outbox.
    padova.node.stop()
    second = gent.correct_and_publish("20.0")
    backup_dir = tmp_path / "gent-backup"
    done = gent.node.run_cli("backup", gent.node.data_dir, backup_dir)  # while Gent serves
    assert "Backed up" in done.stdout
    assert (backup_dir / "signing_key.pem").stat().st_mode & 0o777 == 0o600

    # 3. After the backup: Padova is back, gets revision 2, then revision 3.
    padova.node.start()
    gent.sync()
    third = gent.correct_and_publish("30.0")
    gent.sync()
    wait_for_summaries(padova, gent, 3)
    assert first["seq"] < second["seq"] < third["seq"]

    # 4. Gent's machine is lost; the backup comes back in a new data dir, on Gent's address.
    gent.node.kill()
    restored = NodeProcess("be-gent", tmp_path / "gent-restored", port=gent.node.port, name="Gent")
    node_factory.nodes.append(restored)  # torn down with the others
    restored.run_cli("restore", backup_dir, restored.data_dir)
    restored.start()
    regent = City(restored, gent.token)

    # Revision 2 was still queued in the backup: it goes again, Padova answers "duplicate".
    regent.sync()
    pending = query(restored, select(OutboxItem.state, func.count()).group_by(OutboxItem.state))
    assert dict(pending).get("pending", 0) == 0, restored.fail(f"outbox: {pending}")
    assert dict(pending).get("dead", 0) == 0, restored.fail(f"outbox: {pending}")

    # 5. The restored node signs something new: Padova accepts it (no seq reused).
    fourth = publish_period(regent, EARLIER, "5.0")
    assert fourth["seq"] > third["seq"]
    regent.sync()
    received = wait_for_summaries(padova, regent, 4)

    # Nothing twice, nothing lost, nobody accused of lying.
    seen = sorted((item["period"], item["revision"]) for item in received)
    assert seen == [(EARLIER, 1), (PERIOD, 1), (PERIOD, 2), (PERIOD, 3)]
    rows = query(
        padova.node, select(InEnvelope.stream, InEnvelope.seq).where(InEnvelope.origin == "be-gent")
    )
    assert len(rows) == len(set(rows))
    summary_seqs = sorted(seq for stream, seq in rows if stream == "summaries")
    assert summary_seqs == sorted([first["seq"], second["seq"], third["seq"], fourth["seq"]])
    incidents = query(padova.node, select(FederationIncident.kind))
    assert incidents == [], padova.node.fail(f"incidents at Padova: {incidents}")
    discard(regent, padova)
