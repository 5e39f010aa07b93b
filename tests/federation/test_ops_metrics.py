"""``GET /metrics`` after a federation exchange (issue 17): requests by route and status,
refusals of the inbox by code, outbox depth and oldest age per destination, last successful
delivery per twin. Expected values come from what the test did, on the in-process network."""

from __future__ import annotations

import re

from tests.federation.conftest import Node, record, twin


def metrics(node: Node) -> dict[str, float]:
    """Sample name with labels → value, read as an allowed client (loopback configured)."""
    node.runtime.config.values["metrics_allow"] = "127.0.0.1"  # as node.toml would say
    response = node.app.test_client().get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    samples = {}
    for line in response.get_data(as_text=True).splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_after_an_exchange(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "12.50"})
    assert gent.api("POST", "/summaries", {"period": "2025"}).status_code == 201
    assert gent.deliver().delivered == 1
    delivered_at = gent.clock()

    # A stranger pushes a document without a signature: refused by Padova's inbox.
    refused = padova.app.test_client().post(
        "/federation/v1/inbox", data=b'{"v":1}', content_type="application/json"
    )
    assert refused.status_code >= 400
    refusal_code = refused.get_json()["code"]

    # Padova goes down; Gent's next publication waits, and ages.
    padova.set_down(True)
    record(gent, "2024", {"HRC-HOU-01": "9.00"})
    assert gent.api("POST", "/summaries", {"period": "2024"}).status_code == 201
    gent.deliver()
    gent.clock.advance(seconds=90)

    seen = metrics(gent)
    assert seen['hrcnet_outbox_pending{destination="it-padova"}'] == 1
    assert seen['hrcnet_outbox_oldest_age_seconds{destination="it-padova"}'] == 90
    assert seen['hrcnet_delivery_last_success_timestamp_seconds{twin="it-padova"}'] == (
        delivered_at.timestamp()
    )
    assert seen['hrcnet_delivery_consecutive_failures{twin="it-padova"}'] >= 1
    posted = 'hrcnet_http_requests_total{method="POST",route="/api/v1/summaries",status="201"}'
    assert seen[posted] == 2

    at_padova = metrics(padova)
    assert at_padova[f'hrcnet_federation_refusals_total{{code="{refusal_code}"}}'] == 1
    # Gent's push was accepted: one 202 on the inbox route, no other refusal counted.
    inbox_202 = (
        'hrcnet_http_requests_total{method="POST",route="/federation/v1/inbox",status="202"}'
    )
    assert at_padova[inbox_202] >= 1
    refusals = {
        k: v for k, v in at_padova.items() if k.startswith("hrcnet_federation_refusals_total")
    }
    assert refusals == {f'hrcnet_federation_refusals_total{{code="{refusal_code}"}}': 1.0}
    assert re.fullmatch(r"[a-z_]+", refusal_code)
