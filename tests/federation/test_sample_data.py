"""Sample figures (the demo's cities, ``sample_data = true``) are labelled wherever they appear:
on every page of the node, inside the summaries it signs (``source: "sample"``), and on the
pages where a twin shows them. A node of real figures says nothing of the kind."""

from __future__ import annotations

import json

from tests.federation.conftest import record, twin
from tests.federation.test_network_pages import caller
from tests.web.test_pages import login


def test_sample_figures_are_labelled_in_the_summary_and_on_pages(network) -> None:
    gent, padova = network("be-gent", "it-padova")
    gent.runtime.config.values["sample_data"] = True  # as `sample_data = true` in node.toml
    twin(gent, padova)
    record(gent, "2025", {"HRC-HOU-01": "12.5"})
    record(padova, "2025", {"HRC-HOU-01": "9.75"})
    for node in (gent, padova):
        assert node.api("POST", "/summaries", {"period": "2025"}).status_code == 201
        node.deliver()

    [from_gent] = padova.api("GET", "/peers/be-gent/summaries").get_json()["items"]
    assert from_gent["verified"] is True
    assert (
        json.loads(from_gent["envelope"])["payload"]["source"] == "sample"
    )  # signed with the figures
    [from_padova] = gent.api("GET", "/peers/it-padova/summaries").get_json()["items"]
    assert "source" not in json.loads(from_padova["envelope"])["payload"]  # real figures: no label

    gent_web, padova_web = gent.app.test_client(), padova.app.test_client()
    login(gent_web, caller(gent))
    login(padova_web, caller(padova))
    assert 'id="sample-data-note"' in gent_web.get("/").get_data(as_text=True)
    assert 'id="sample-data-note"' in gent_web.get("/peers/it-padova").get_data(as_text=True)
    own_page = padova_web.get("/").get_data(as_text=True)
    assert 'id="sample-data-note"' not in own_page
    peer_page = padova_web.get("/peers/be-gent?period=2025").get_data(as_text=True)
    assert 'id="twin-sample-note"' in peer_page and "sample data" in peer_page
    assert 'id="twin-sample-note"' not in gent_web.get("/peers/it-padova").get_data(as_text=True)
