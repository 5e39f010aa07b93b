"""A stranger's hostile key server cannot stall a real ``hrcnet serve``.

The attack of issue 10: throw-away city ids each send a twinning request naming a key server
that drips one byte every 2 s, then an inbox request signed with an unknown key id. On the old
code every such request fetched the key document in the request thread and held a gunicorn
worker (2 workers): ``/healthz`` stopped answering. The rule now: 401 ``unknown_key`` at once,
the fetch queued for the scheduler's job.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from federation import httpsig
from federation.keys import SigningKey, generate_signing_key
from tests.hostile import drip, hostile, stranger_twinning_request
from tests.multinode.harness import NodeFactory, NodeProcess

pytestmark = pytest.mark.multinode

STRANGERS = 16
QUICK_S = 1.0


def _post(node: NodeProcess, origin: str, key: SigningKey, body: bytes) -> tuple[int, float]:
    url = f"{node.base_url}/federation/v1/inbox"
    headers = {"Content-Type": "application/json"}
    headers.update(httpsig.sign_request("POST", url, headers, body, origin, key, int(time.time())))
    started = time.monotonic()
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(url, data=body, headers=headers, timeout=30)
    return response.status_code, time.monotonic() - started


def _twinning_request(node: NodeProcess, city_id: str, base_url: str, key: SigningKey) -> bytes:
    return stranger_twinning_request(city_id, base_url, key, node.city_id, int(time.time() * 1000))


def test_hostile_key_servers_do_not_stall_a_real_node(node_factory: NodeFactory) -> None:
    [gent] = node_factory("be-gent")
    with hostile(drip(2.0)) as key_server:
        strangers = [f"fr-throwaway-{n}" for n in range(STRANGERS)]
        for city_id in strangers:
            key = generate_signing_key()
            status, _ = _post(
                gent, city_id, key, _twinning_request(gent, city_id, key_server.url, key)
            )
            assert status == 202, gent.fail(f"twinning request of {city_id}: {status}")

        def unknown_key_request(city_id: str) -> tuple[int, float]:
            return _post(gent, city_id, generate_signing_key(), b'{"anything": true}')

        with ThreadPoolExecutor(max_workers=STRANGERS) as pool:
            answers = list(pool.map(unknown_key_request, strangers))
            started = time.monotonic()
            health = gent.api("GET", "/healthz", timeout=5)
            health_s = time.monotonic() - started
        assert all(status == 401 for status, _ in answers), answers
        slowest = max(elapsed for _, elapsed in answers)
        assert slowest < QUICK_S * 3, gent.fail(f"an inbox request took {slowest:.1f} s")
        assert health.status_code == 200 and health_s < QUICK_S, gent.fail(
            f"/healthz: {health.status_code} after {health_s:.1f} s"
        )
