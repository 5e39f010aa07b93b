"""The public portal (issue 16): published figures with charts, downloads with the licence,
the signed summaries served verbatim and verified here with code written in the test, embeds,
the Atom feed, the annual report and its PDF; drafts and validated figures never leak.

Real app, real SQLite, the test client; no mock of our own code."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft201909Validator

from node.network.models import OutEnvelope
from tests.portal.conftest import DRAFT_VALUE, SOURCE, VALIDATED_VALUE, figure
from tests.support import Caller
from tests.verify_support import SDMX_SCHEMA, check_signature, signed_bytes, unb64

ATOM = "{http://www.w3.org/2005/Atom}"


def text_of(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def leaks(text: str) -> list[str]:
    """Draft or validated values, however a page writes numbers (61.37 / 61,37)."""
    found = []
    for value in (DRAFT_VALUE, VALIDATED_VALUE):
        for written in (value, value.replace(".", ",")):
            if written in text:
                found.append(written)
    return found


# --- pages ------------------------------------------------------------------------------------


def test_the_portal_shows_published_figures_with_charts_progress_and_gaps(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    home = text_of(client, "/portal")
    assert 'data-indicator="HRC-HOU-01"' in home
    assert "HRC-WAT-01" not in home  # drafts only: not on the portal
    page = text_of(client, "/portal/indicators/HRC-HOU-01")
    assert page.count("<svg") >= 2  # the trend and the equality gap by sex
    assert "Baseline (2020): 20" in page and "Target (2030): 10" in page
    assert "Equality gap by" in page
    # Every published figure links to the public summary of its period.
    for period in ("2024", "2025"):
        assert f'/public/summaries/{portal_data[period]}"' in page
    assert portal_data["2023"] not in page  # that summary carries a validated figure
    assert 'rel="license" href="https://creativecommons.org/licenses/by/4.0/"' in page
    assert not leaks(page)


def test_an_indicator_with_only_drafts_or_unknown_is_not_found(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    for path in (
        "/portal/indicators/HRC-WAT-01",
        "/portal/indicators/NOPE",
        "/embed/indicators/HRC-WAT-01",
        "/embed/indicators/HRC-WAT-01.svg",
        "/open-data/results.csv?indicator=HRC-WAT-01",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not leaks(response.get_data(as_text=True))


# --- the signed summaries, verbatim, and verifying a figure -----------------------------------


def test_a_public_summary_is_served_verbatim(
    app: Flask, client: FlaskClient, db: Any, portal_data: dict[str, str]
) -> None:
    digest = portal_data["2025"]
    response = client.get(f"/public/summaries/{digest}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    with db() as session:
        stored = session.query(OutEnvelope).filter_by(sha256=digest).one().raw
    assert response.get_data() == stored.encode("utf-8")  # the exact bytes we signed


@pytest.mark.parametrize(
    "digest",
    [
        "0" * 64,  # unknown
        "A" * 64,  # not lower-case hex
        "abc",  # too short
        "g" * 64,  # not hex
        "0" * 65,
    ],
)
def test_an_unknown_or_malformed_hash_is_404(
    client: FlaskClient, portal_data: dict[str, str], digest: str
) -> None:
    assert client.get(f"/public/summaries/{digest}").status_code == 404


def test_a_summary_carrying_an_unpublished_figure_is_never_served(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    response = client.get(f"/public/summaries/{portal_data['2023']}")
    assert response.status_code == 404
    assert not leaks(response.get_data(as_text=True))


def test_a_figure_is_verified_from_the_portals_own_envelope_and_key_document(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    page = text_of(client, "/portal/indicators/HRC-HOU-01")
    # The 2025 total (18) as the page shows it, and the summary its row links to.
    row = re.search(
        r"<th scope=\"row\">2025</th><td>Total</td><td class=\"num\">18</td><td>(.*?)</td>", page
    )
    assert row, "the 2025 total's row"
    digest = re.search(r"/public/summaries/([0-9a-f]{64})", row.group(1)).group(1)
    raw = client.get(f"/public/summaries/{digest}").get_data()
    envelope = json.loads(raw)
    # 1. the link's hash is the hash of the envelope's signed bytes
    assert hashlib.sha256(signed_bytes(envelope)).hexdigest() == digest
    # 2. the key document is self-signed by the key it lists
    keys = json.loads(client.get("/federation/v1/keys").get_data())
    verify_keys = keys["payload"]["verify_keys"]
    check_signature(keys, unb64(verify_keys[keys["key_id"]]["key"]))
    # 3. the summary is signed by the city's key
    public_key = unb64(verify_keys[envelope["key_id"]]["key"])
    check_signature(envelope, public_key)
    # 4. and carries the figure shown
    (hou,) = [i for i in envelope["payload"]["indicators"] if i["code"] == "HRC-HOU-01"]
    assert envelope["payload"]["period"] == "2025"
    assert {"disaggregation": {}, "value": "18", "status": "published"} in hou["results"]
    # A forged figure does not verify (the check above is a real one).
    hou["results"][0]["value"] = "17"
    with pytest.raises(InvalidSignature):
        check_signature(envelope, public_key)


def test_the_verify_page_has_a_copyable_command_and_links_the_key_document(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    page = text_of(client, "/portal/verify")
    assert 'href="/federation/v1/keys"' in page
    assert "import rfc8785" in page and "Ed25519PublicKey" in page
    assert portal_data["2025"] in page  # the example uses the newest public summary


# --- downloads ----------------------------------------------------------------------------------


def test_downloads_carry_the_licence_and_provenance_and_only_published_figures(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    csv = client.get("/open-data/results.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert 'rel="license"' in csv.headers["Link"]
    body = csv.get_data(as_text=True)
    assert SOURCE in body and ",18," in body
    assert not leaks(body)
    document = json.loads(client.get("/open-data/results.json").get_data())
    assert document["licence"]["spdx"] == "CC-BY-4.0"
    hashes = {s["sha256"] for s in document["provenance"]["signed_summaries"]}
    assert hashes == {portal_data["2024"], portal_data["2025"]}
    assert document["count"] == 6 and len(document["items"]) == 6
    assert not leaks(json.dumps(document))
    page = text_of(client, "/open-data")
    assert "CC BY 4.0" in page and portal_data["2025"] in page
    assert "/open-data/results.sdmx.json" in page


def test_the_sdmx_download_is_valid_against_the_official_schema(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    response = client.get("/open-data/results.sdmx.json?indicator=HRC-HOU-01")
    assert response.status_code == 200
    document = json.loads(response.get_data())
    schema = json.loads(SDMX_SCHEMA.read_text())
    validator = Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER)
    assert [e.message for e in validator.iter_errors(document)] == []
    links = document["meta"]["links"]
    assert {"href": "https://creativecommons.org/licenses/by/4.0/", "rel": "license"}.items() <= (
        links[0].items()
    )
    assert any(portal_data["2025"] in link["href"] for link in links)
    assert not any(portal_data["2023"] in link["href"] for link in links)
    assert not leaks(response.get_data(as_text=True))


def test_the_licence_is_the_one_the_city_chose(
    app: Flask, client: FlaskClient, portal_data: dict[str, str]
) -> None:
    from node.runtime import runtime

    with app.app_context():
        values = runtime(app).config.values
    values["data_licence"] = "ODbL-1.0"
    values["data_licence_name"] = "Open Database License"
    values["data_licence_url"] = "https://opendatacommons.org/licenses/odbl/1-0/"
    document = json.loads(client.get("/open-data/results.json").get_data())
    assert document["licence"]["spdx"] == "ODbL-1.0"
    assert "Open Database License" in text_of(client, "/open-data")


# --- embeds -----------------------------------------------------------------------------------


def test_embeds_may_be_framed_and_other_portal_pages_may_not(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    embed = client.get("/embed/indicators/HRC-HOU-01")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in embed.headers
    assert "<svg" in embed.get_data(as_text=True)
    for path in ("/portal", "/portal/indicators/HRC-HOU-01", "/open-data", "/portal/verify"):
        headers = client.get(path).headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY", path


def test_the_standalone_svg_is_an_xml_image(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    response = client.get("/embed/indicators/HRC-HOU-01.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    assert not leaks(response.get_data(as_text=True))


# --- feed -------------------------------------------------------------------------------------


def test_the_atom_feed_is_valid_with_stable_ids_and_no_private_data(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    first = client.get("/feed.atom")
    assert first.mimetype == "application/atom+xml"
    root = ET.fromstring(first.get_data())
    assert root.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{required}") is not None
    entries = root.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert sorted(ids) == sorted(
        f"urn:hrcnet:be-gent:summary:{portal_data[p]}" for p in ("2024", "2025")
    ) or all(i and i.startswith("urn:hrcnet:") for i in ids)
    assert len(ids) == len(set(ids)) == 2
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert entry.findtext(f"{ATOM}{required}"), required
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.findtext(f"{ATOM}updated"))
    again = ET.fromstring(client.get("/feed.atom").get_data())
    assert [e.findtext(f"{ATOM}id") for e in again.findall(f"{ATOM}entry")] == ids
    assert not leaks(first.get_data(as_text=True))
    assert portal_data["2023"] not in first.get_data(as_text=True)


# --- annual report ----------------------------------------------------------------------------


def test_the_annual_report_lists_the_years_figures_with_their_summary_hash(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    page = text_of(client, "/annual-report/2025")
    assert portal_data["2025"] in page
    assert "Equality gap by" in page
    assert not leaks(page)
    assert client.get("/annual-report/2023").status_code == 404  # nothing published that year
    assert client.get("/annual-report/1999").status_code == 404


CHROMIUM = Path("/usr/bin/chromium")


def pdf_text(content: bytes) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def tripwire_engine(tmp_path: Path, behaviour: str = "") -> tuple[Path, Path]:
    """An executable standing in for Chromium: it records each start in a file (and then does
    ``behaviour``); returns (the executable, the record)."""
    record = tmp_path / "engine-started"
    script = tmp_path / "fake-chromium"
    script.write_text(f"#!/bin/sh\necho started >> {record}\n{behaviour}\n")
    script.chmod(0o755)
    return script, record


def report_files(app: Flask) -> list[str]:
    from node.portal import report
    from node.runtime import runtime

    folder = report.report_folder(runtime(app).config)
    return sorted(p.name for p in folder.glob("*.pdf")) if folder.exists() else []


def test_the_pdf_route_never_starts_a_browser_it_says_the_pdf_is_being_prepared(
    app: Flask,
    client: FlaskClient,
    portal_data: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The attack: anyone could make the server start Chromium processes by asking for PDFs.
    # On main the request printed (the engine's record would be written); now it only reads.
    engine, record = tripwire_engine(tmp_path)
    monkeypatch.setenv("HRCNET_CHROMIUM", str(engine))
    for language in ("en", "fr", "sw"):
        response = client.get("/annual-report/2025.pdf", headers={"Accept-Language": language})
        assert response.status_code == 503, language
        assert response.headers["Retry-After"] == "300"
        assert response.mimetype == "text/html"
        assert 'href="/annual-report/2025"' in response.get_data(as_text=True)
    page = client.get("/annual-report/2025.pdf").get_data(as_text=True)
    assert "is being prepared" in page and "try again in about 5 minutes" in page
    assert not record.exists()  # no engine was started
    assert report_files(app) == []
    # A year without published figures is not "being prepared": there is nothing to print.
    assert client.get("/annual-report/2023.pdf").status_code == 404
    assert client.get("/annual-report/1999.pdf").status_code == 404


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian's chromium is needed to print")
def test_the_job_prints_once_per_data_version_and_the_route_serves_the_file(
    app: Flask,
    client: FlaskClient,
    official: Caller,
    portal_data: dict[str, str],
) -> None:
    from node.portal import report

    first = report.print_reports(app, years=[2025], languages=["en"])
    assert (first.printed, first.failed) == (["2025-en"], {})
    response = client.get("/annual-report/2025.pdf", headers={"Accept-Language": "en"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Language"] == "en"
    text = pdf_text(response.get_data())
    flat = re.sub(r"\s+", "", text)
    assert "HRC-HOU-01" in flat and "18" in flat
    assert portal_data["2025"] in flat  # each figure carries its summary hash
    assert not leaks(text)
    stored = response.get_data()

    # The same data: nothing printed again, the file is the same bytes.
    again = report.print_reports(app, years=[2025], languages=["en"])
    assert (again.printed, again.unchanged) == ([], 1)
    assert client.get("/annual-report/2025.pdf").get_data() == stored

    # Newly published data: a new print, and the route serves the new file.
    published = figure("HRC-HOU-01", "2025", "20.5", SEX="X")
    assert (
        client.post("/api/v1/results", json=[published], headers=official.headers).status_code
        == 201
    )
    third = report.print_reports(app, years=[2025], languages=["en"])
    assert third.printed == ["2025-en"]
    updated = client.get("/annual-report/2025.pdf").get_data()
    assert updated != stored and "20.5" in pdf_text(updated)

    # French was not printed yet (every language is printed by default): being prepared.
    assert (
        client.get("/annual-report/2025.pdf", headers={"Accept-Language": "fr"}).status_code == 503
    )
    # A node that prints only English serves the English PDF to a French visitor.
    from node.runtime import runtime

    runtime(app).config.values["annual_report_languages"] = "en"
    french = client.get("/annual-report/2025.pdf", headers={"Accept-Language": "fr"})
    assert french.status_code == 200 and french.headers["Content-Language"] == "en"
    assert french.get_data() == updated


def test_a_print_that_hangs_is_killed_with_its_helpers_within_its_bound(
    app: Flask,
    client: FlaskClient,
    portal_data: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from node.portal import report

    helper = tmp_path / "helper.pid"
    # Like Chromium: a helper process in the background, and a main process that never ends.
    engine, record = tripwire_engine(tmp_path, f"sleep 300 &\necho $! > {helper}\nsleep 300")
    monkeypatch.setenv("HRCNET_CHROMIUM", str(engine))
    started = time.monotonic()
    run = report.print_reports(app, years=[2025], languages=["en"], print_timeout=1.0)
    assert time.monotonic() - started < 20  # the bound is 1 s; generous for a loaded machine
    assert run.failed == {"2025-en": "report_timeout"} and run.printed == []
    assert record.exists() and report_files(app) == []
    pid = int(helper.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):  # do not leave it behind, but fail: the helper outlived its print
        os.kill(pid, 9)
        pytest.fail("the engine's helper process was not killed with it")
    assert client.get("/annual-report/2025.pdf").status_code == 503


# SQLite only: what is tested is the child process and its engine being stopped, which no
# database takes part in, and the run waits out a 30 s bound (the other print tests, which
# read and write the report records, run on both databases).
@pytest.mark.parametrize("node", ["sqlite"], indirect=True)
def test_the_job_stops_a_print_run_that_overruns_its_bound(
    app: Flask,
    portal_data: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler's job runs the print in a real child process (``hrcnet annual-report``);
    past the job's bound the child is stopped, and it kills its Chromium on the way out."""
    import time

    from node import jobs
    from node.config import load_config
    from node.runtime import runtime

    helper = tmp_path / "helper.pid"
    engine, record = tripwire_engine(tmp_path, f"sleep 300 &\necho $! > {helper}\nsleep 300")
    config = runtime(app).config
    monkeypatch.setenv("HRCNET_CHROMIUM", str(engine))
    monkeypatch.setenv("NODE_DATABASE_URL", config.database_url)  # the child reads this node
    # The bound, made short for the test (the real one is 330 s): the child needs a few
    # seconds to start (over 20 s on a loaded 2-core machine: 30 s leaves room), then the engine
    # hangs; the print's own 60 s limit is not reached.
    monkeypatch.setattr(jobs, "PRINT_CHILD_TIMEOUT_SECONDS", 30)
    node = jobs.node_runtime(load_config(config.data_dir))
    started = time.monotonic()
    try:
        said = jobs.run_job_once(node, "print_annual_reports")
    finally:
        node.engine.dispose()
    assert time.monotonic() - started < 75  # 30 s bound + 10 s grace, generous for load
    assert said == "nothing printed yet: the print run took over 30 s and was stopped", said
    assert record.exists() and helper.exists(), "the engine had started"
    pid = int(helper.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, 9)
        pytest.fail("the engine's helper outlived the stopped print run")
    assert report_files(app) == []


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_missing_engine_fails_the_run_and_is_retried_only_after_a_while(
    app: Flask,
    portal_data: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from node.db import session_scope
    from node.portal import report
    from node.runtime import runtime

    monkeypatch.setenv("HRCNET_CHROMIUM", str(tmp_path / "no-such-browser"))
    node = runtime(app)
    with app.app_context(), session_scope(node.sessions) as session:
        stamp = report.data_stamp(session, node.config, app.extensions["portal_sources"])
    assert report.print_due(node.config, stamp, now=node.now()) == "nothing printed yet"
    run = report.print_reports(app)
    # The first print finds no engine: the run stops there (nothing else could print).
    assert list(run.failed.values()) == ["pdf_engine_missing"] and run.printed == []
    assert not run.complete
    assert report_files(app) == []
    # Same data: not tried again at the next ticks, but after RETRY_FAILED_AFTER.
    assert report.print_due(node.config, stamp, now=node.now() + timedelta(minutes=29)) is None
    later = node.now() + report.RETRY_FAILED_AFTER + timedelta(seconds=1)
    assert report.print_due(node.config, stamp, now=later) == "retrying after a failed print"
    # New data: due at once.
    assert report.print_due(node.config, "another stamp", now=node.now()) is not None


def test_print_runs_are_one_at_a_time_and_bounded_by_their_budget(
    app: Flask, portal_data: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    from node.portal import report
    from node.runtime import runtime

    engine, record = tripwire_engine(tmp_path)
    monkeypatch.setenv("HRCNET_CHROMIUM", str(engine))
    folder = report.report_folder(runtime(app).config)
    folder.mkdir(parents=True, exist_ok=True)
    # Another process's run holds the lock (the scheduler's child, or an operator's CLI).
    with (folder / report.LOCK).open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        busy = report.print_reports(app)
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    assert busy.busy and not busy.printed and not record.exists()
    # A spent budget starts no print: everything is left for the next run.
    spent = report.print_reports(app, budget_seconds=0)
    assert spent.left == 2 * 6 and not spent.printed and not record.exists()  # 2024, 2025 × 6
    assert not spent.complete


def test_the_data_stamp_moves_with_a_publication_and_not_with_a_page_view(
    app: Flask, client: FlaskClient, official: Caller, portal_data: dict[str, str]
) -> None:
    from node.db import session_scope
    from node.portal import report
    from node.runtime import runtime

    node = runtime(app)

    def stamp() -> str:
        with app.app_context(), session_scope(node.sessions) as session:
            return report.data_stamp(session, node.config, app.extensions["portal_sources"])

    before = stamp()
    assert client.get("/portal").status_code == 200
    assert stamp() == before
    signed = client.post("/api/v1/summaries", json={"period": "2024"}, headers=official.headers)
    assert signed.status_code == 201
    assert stamp() != before


# --- drafts never leak anywhere -----------------------------------------------------------------


def test_no_portal_route_download_feed_embed_or_report_shows_an_unpublished_value(
    client: FlaskClient, portal_data: dict[str, str]
) -> None:
    paths = [
        "/portal",
        "/portal/indicators/HRC-HOU-01",
        "/portal/verify",
        "/open-data",
        "/open-data/results.csv",
        "/open-data/results.json",
        "/open-data/results.sdmx.json",
        "/open-data/results.csv?indicator=HRC-HOU-01",
        "/feed.atom",
        "/embed/indicators/HRC-HOU-01",
        "/embed/indicators/HRC-HOU-01.svg",
        "/annual-report/2024",
        "/annual-report/2025",
        f"/public/summaries/{portal_data['2024']}",
        f"/public/summaries/{portal_data['2025']}",
    ]
    for path in paths:
        body = text_of(client, path)
        assert not leaks(body), path
