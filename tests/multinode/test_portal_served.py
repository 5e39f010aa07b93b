"""The public portal served by a real ``hrcnet serve`` process (issue 16), as a visitor and a
city's website use it: every portal page, each download (the SDMX-JSON validated against the
official 2.1.0 schema), the Atom feed, an embed and its SVG, the verify page, and the annual
report's PDF once the ``print_annual_reports`` job printed it (its text extracted: a figure and
its summary hash). A figure is verified from the portal's own envelope and key document with
code written here (RFC 8785 + Ed25519 through ``rfc8785`` and ``cryptography``), not with our
federation package.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from jsonschema import Draft201909Validator

from tests.multinode.harness import NodeFactory, NodeProcess, official_token
from tests.verify_support import SDMX_SCHEMA, check_signature, signed_bytes, unb64

pytestmark = pytest.mark.multinode

CHROMIUM = Path("/usr/bin/chromium")
ATOM = "{http://www.w3.org/2005/Atom}"
SVG = "{http://www.w3.org/2000/svg}"
INDICATOR = "HRC-HOU-01"
SOURCE = "Municipal housing office register"
PRINT_TIMEOUT_S = 300.0  # the job's own bound (240 s budget + 60 s print), not an expectation


def figure(value: str, **breakdown: str) -> dict[str, Any]:
    return {
        "indicator": INDICATOR,
        "period": "2025",
        "value": value,
        "status": "published",
        "disaggregation": breakdown,
        "source": SOURCE,
        "method": "Count of court-ordered evictions",
        "confirm_outlier": True,
    }


# --- the node -------------------------------------------------------------------------------------


def get(http: requests.Session, node: NodeProcess, path: str, **headers: str) -> requests.Response:
    response = http.get(node.base_url + path, headers=headers, timeout=30, allow_redirects=False)
    return response


def ok(http: requests.Session, node: NodeProcess, path: str, **headers: str) -> requests.Response:
    response = get(http, node, path, **headers)
    if response.status_code != 200:
        raise node.fail(f"GET {path}: {response.status_code} {response.text[:300]}")
    return response


def portal_routes(node: NodeProcess) -> set[str]:
    """The portal's GET routes, from the app the node serves (so a new one must be fetched)."""
    from node.app import create_app

    app = create_app(node.data_dir)
    try:
        return {
            rule.rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("portal.") and "GET" in (rule.methods or ())
        }
    finally:
        app.extensions["hrcnet"].engine.dispose()


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is needed to print")
def test_the_portal_served_by_a_real_node(node_factory: NodeFactory) -> None:
    # Two printed languages keep the print run short; the others get the first one's PDF.
    [node] = node_factory(
        "be-gent", start=False, extra_env={"NODE_ANNUAL_REPORT_LANGUAGES": "en,fr"}
    )
    token = official_token(node)
    node.start()
    target = {
        "indicator": INDICATOR,
        "baseline": {"period": "2020", "value": "20"},
        "target": {"period": "2030", "value": "10"},
    }
    assert node.api("POST", "/api/v1/targets", json=target, token=token).status_code == 200
    figures = [figure("18"), figure("24", SEX="F"), figure("14", SEX="M")]
    created = node.api("POST", "/api/v1/results", json=figures, token=token)
    assert created.status_code == 201, node.fail(created.text)
    signed = node.api("POST", "/api/v1/summaries", json={"period": "2025"}, token=token)
    assert signed.status_code == 201, node.fail(signed.text)
    digest = signed.json()["items"][0]["envelope_sha256"]
    http = requests.Session()
    http.trust_env = False  # loopback only, never through a proxy
    fetched: set[str] = set()

    try:
        # --- every page, in a visitor's language ------------------------------------------------
        pages = {
            "/portal": "/portal",
            "/portal/indicators/<code>": f"/portal/indicators/{INDICATOR}",
            "/portal/verify": "/portal/verify",
            "/open-data": "/open-data",
            "/annual-report/<int:year>": "/annual-report/2025",
            "/embed/indicators/<code>": f"/embed/indicators/{INDICATOR}",
        }
        for rule, path in pages.items():
            for language in ("en", "sw"):
                page = ok(http, node, path, **{"Accept-Language": language})
                assert page.headers["Content-Type"].startswith("text/html"), path
                assert f'lang="{language}"' in page.text, (path, language)
            fetched.add(rule)
        indicator_page = ok(http, node, f"/portal/indicators/{INDICATOR}").text
        assert "<svg" in indicator_page and "Baseline (2020): 20" in indicator_page
        assert f"/public/summaries/{digest}" in indicator_page
        assert digest in ok(http, node, "/annual-report/2025").text
        verify = ok(http, node, "/portal/verify").text
        assert digest in verify and "import rfc8785" in verify

        # --- downloads: CSV, JSON, SDMX-JSON (valid against the official schema) ----------------
        table = ok(http, node, "/open-data/results.csv")
        assert 'rel="license"' in table.headers["Link"]
        rows = list(csv.DictReader(io.StringIO(table.text)))
        assert {row["value"] for row in rows} == {"18", "24", "14"}, rows
        document = ok(http, node, f"/open-data/results.json?indicator={INDICATOR}").json()
        assert document["licence"]["spdx"] == "CC-BY-4.0"
        assert [s["sha256"] for s in document["provenance"]["signed_summaries"]] == [digest]
        sdmx = ok(http, node, "/open-data/results.sdmx.json").json()
        schema = json.loads(SDMX_SCHEMA.read_text(encoding="utf-8"))
        validator = Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)
        assert [e.message for e in validator.iter_errors(sdmx)] == []
        assert any(digest in link["href"] for link in sdmx["meta"]["links"])
        fetched.add("/open-data/results.<fmt>")
        # Civil-society figures have their own files, never the city's (none stated here).
        cso_table = ok(http, node, "/open-data/cso-figures.csv")
        assert 'rel="license"' in cso_table.headers["Link"]
        assert list(csv.DictReader(io.StringIO(cso_table.text))) == []
        cso_document = ok(http, node, "/open-data/cso-figures.json").json()
        assert (cso_document["official"], cso_document["count"]) == (False, 0)
        fetched.add("/open-data/cso-figures.<fmt>")

        # --- the feed, the standalone SVG -------------------------------------------------------
        feed = ok(http, node, "/feed.atom")
        assert feed.headers["Content-Type"].startswith("application/atom+xml")
        entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")
        assert f"urn:hrcnet:be-gent:summary:{digest}" in [e.findtext(f"{ATOM}id") for e in entries]
        fetched.add("/feed.atom")
        image = ok(http, node, f"/embed/indicators/{INDICATOR}.svg")
        assert image.headers["Content-Type"].startswith("image/svg+xml")
        assert ET.fromstring(image.content).tag == f"{SVG}svg"
        fetched.add("/embed/indicators/<code>.svg")

        # --- verify a figure from the portal's own envelope and key document --------------------
        raw = ok(http, node, f"/public/summaries/{digest}").content
        fetched.add("/public/summaries/<sha256>")
        envelope = json.loads(raw)
        assert hashlib.sha256(signed_bytes(envelope)).hexdigest() == digest
        keys = ok(http, node, "/federation/v1/keys").json()
        verify_keys = keys["payload"]["verify_keys"]
        check_signature(keys, unb64(verify_keys[keys["key_id"]]["key"]))  # self-signed
        public_key = unb64(verify_keys[envelope["key_id"]]["key"])
        check_signature(envelope, public_key)
        (hou,) = [i for i in envelope["payload"]["indicators"] if i["code"] == INDICATOR]
        assert {"disaggregation": {}, "value": "18", "status": "published"} in hou["results"]
        hou["results"][0]["value"] = "17"  # a forged figure does not verify
        with pytest.raises(InvalidSignature):
            check_signature(envelope, public_key)

        # --- the PDF: being prepared, then printed by the job, then a file ------------------------
        pending = get(http, node, "/annual-report/2025.pdf")
        assert pending.status_code == 503, node.fail(pending.text[:300])
        assert int(pending.headers["Retry-After"]) > 0
        assert "/annual-report/2025" in pending.text
        ran = node.run_cli(
            "job", "run", node.data_dir, "print_annual_reports", timeout=PRINT_TIMEOUT_S
        )
        assert "printed 2 (2025-en, 2025-fr)" in ran.stdout, node.fail(ran.stdout + ran.stderr)
        pdf = ok(http, node, "/annual-report/2025.pdf")
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.headers["Content-Language"] == "en"
        from pypdf import PdfReader

        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        flat = re.sub(r"\s+", "", text)
        assert INDICATOR in flat and "18" in flat
        assert digest in flat  # the figure carries its summary's hash
        french = ok(http, node, "/annual-report/2025.pdf", **{"Accept-Language": "fr"})
        assert french.headers["Content-Language"] == "fr" and french.content != pdf.content
        swahili = ok(http, node, "/annual-report/2025.pdf", **{"Accept-Language": "sw"})
        assert swahili.headers["Content-Language"] == "en"  # not printed: the first language's
        fetched.add("/annual-report/<int:year>.pdf")
        again = node.run_cli("job", "run", node.data_dir, "print_annual_reports")
        assert "annual reports up to date" in again.stdout, again.stdout

        # Every GET route of the portal was fetched above.
        assert portal_routes(node) - fetched == set()
    finally:
        http.close()
