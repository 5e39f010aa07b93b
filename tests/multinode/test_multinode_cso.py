"""A civil-society statement crosses between real ``hrcnet serve`` processes (issue 16).

Gent's CSO partner agrees to share its figure; Gent's node signs it and its outbox delivers it
over real HTTP (``hrcnet sync``: the jobs once, now); Padova's node verifies and holds exactly
the bytes Gent serves publicly. Bounded polls only (the harness's ``wait_until``)."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785

from tests.multinode.harness import NodeFactory, wait_until
from tests.multinode.test_multinode_federation import cities, discard, twin

pytestmark = pytest.mark.multinode

FIGURE = {
    "indicator": "HRC-HOU-01",
    "period": "2025",
    "value": "140.5",
    "organisation": "Housing Watch Gent",
    "method": "door-to-door survey of 1,200 households",
    "source": "Housing Watch annual survey 2025",
    "share_with_twins": True,
}


def test_a_shared_cso_statement_reaches_a_twin_over_real_http(node_factory: NodeFactory) -> None:
    gent, padova = cities(node_factory, "be-gent", "it-padova")
    twin(gent, padova, sync=True)
    cso = gent.node.create_user("cso@be-gent.example", role="cso_partner")
    created = gent.node.api("POST", "/api/v1/cso-figures", json=FIGURE, token=cso)
    assert created.status_code == 201, created.text
    published = gent.node.api(
        "POST", f"/api/v1/cso-figures/{created.json()['id']}/publish", token=cso
    )
    assert published.status_code == 200, published.text
    sha = published.json()["statement_sha256"]
    assert published.json()["shared_with"] == ["it-padova"]
    gent.sync()
    [item] = wait_until(
        "Padova holds Gent's CSO statement",
        lambda: padova.call("GET", "/api/v1/peers/be-gent/cso-statements")["items"] or None,
        gent,
        padova,
    )
    assert item["statement_sha256"] == sha and item["value"] == "140.5"
    assert item["organisation"] == "Housing Watch Gent" and item["withdrawn_at"] is None
    # The public copy at Gent is the signed statement Padova verified (its hash, byte for byte).
    served = gent.node.api("GET", f"/public/cso-statements/{sha}")
    envelope = json.loads(served.content)
    unsigned = {k: v for k, v in envelope.items() if k not in ("signatures", "unsigned")}
    assert hashlib.sha256(rfc8785.dumps(unsigned)).hexdigest() == sha
    assert envelope["audience"] == ["it-padova"]
    discard(gent, padova)
