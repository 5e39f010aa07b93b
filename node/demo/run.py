"""``hrcnet demo``: one city node with the real Los Angeles figures, served on 127.0.0.1.

Steps: create the node (seed catalogue), add Los Angeles' local indicators, import the six Open
SDG files with their profiles, set baselines, publish, create an administrator, then serve (or,
with ``--check``, verify every step and exit 0 only if all held).
"""

from __future__ import annotations

import json
import secrets
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import CONFIG_FILE, load_config
from node.db import make_engine, make_sessionmaker, session_scope
from node.permissions import OPERATOR
from node.runtime import utcnow
from node.services import exchange, monitoring, results, users
from node.setup import REPO_ROOT, init_node

PROFILES = Path(__file__).parent / "los_angeles"
DATASET = REPO_ROOT.parent / "shared" / "datasets" / "los-angeles-open-sdg"
CITY = {
    "city_id": "us-los-angeles",
    "name": "Los Angeles",
    "country": "US",
    "region": "north-america",
}
ADMIN_EMAIL = "admin@los-angeles.example"


@dataclass
class Report:
    steps: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.steps.append((name, ok, detail))
        print(f"  [{'ok' if ok else 'FAILED'}] {name}{': ' + detail if detail else ''}")
        return ok

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.steps)


def _fresh_dir(data_dir: Path) -> None:
    """Start from scratch, but only ever delete a previous demo node (never anything else)."""
    if not data_dir.exists():
        return
    config = data_dir / "node.toml"
    if config.is_file() and tomllib.loads(config.read_text()).get("city_id") == CITY["city_id"]:
        shutil.rmtree(data_dir)
    elif data_dir.is_dir() and not any(data_dir.iterdir()):
        data_dir.rmdir()
    else:
        raise SystemExit(f"{data_dir} exists and is not a previous demo node; choose --data-dir.")


def build_demo_node(data_dir: Path, port: int, report: Report) -> str:
    """Create and fill the demo node; return the administrator's password."""
    _fresh_dir(data_dir)
    created = init_node(data_dir, base_url=f"http://127.0.0.1:{port}", database_url=None, **CITY)
    # The demo lives on 127.0.0.1: peers there are refused unless the node allows private ones.
    with (data_dir / CONFIG_FILE).open("a", encoding="utf-8") as toml:
        toml.write("allow_private_peers = true\n")
    report.check(
        "node created", True, f"{created.indicators} core indicators, key {created.key_id}"
    )
    config = load_config(data_dir)
    engine = make_engine(config.database_url)
    sessions = make_sessionmaker(engine)
    password = secrets.token_urlsafe(12)
    try:
        with session_scope(sessions) as session:
            additions = json.loads((PROFILES / "catalogue_additions.json").read_text())
            summary = exchange.apply_catalogue_additions(session, additions, now=utcnow())
            report.check("Los Angeles local indicators added", True, summary)
        for csv_path in sorted(DATASET.glob("indicator_*.csv")):
            profile = json.loads((PROFILES / f"{csv_path.stem}.json").read_text())
            with session_scope(sessions) as session:
                outcome = exchange.import_file(
                    session,
                    csv_path.name,
                    csv_path.read_bytes(),
                    layout="open-sdg",
                    profile=profile,
                    user=OPERATOR,
                    now=utcnow(),
                )
            report.check(
                f"imported {csv_path.name}",
                outcome.imported > 0,
                f"{outcome.imported} results, {outcome.skipped} rows skipped "
                "(no value, or a repeated total)",
            )
        with session_scope(sessions) as session:
            _set_baselines(session, report)
            published = results.change_status(
                session,
                status="published",
                user=OPERATOR,
                now=utcnow(),
                ids=[
                    r.id
                    for r in results.list_results(session, published_only=False, limit=1_000_000)[0]
                ],
            )
            report.check("figures published", published > 0, f"{published} results")
            users.create_user(
                session, email=ADMIN_EMAIL, password=password, role="admin", now=utcnow()
            )
    finally:
        engine.dispose()
    return password


def _set_baselines(session: Any, report: Report) -> None:
    """Baseline = the first published year of each local indicator's total (no invented targets)."""
    count = 0
    for row in monitoring.progress(session, published_only=False):
        code = row["indicator"]
        if not code.startswith("LA-"):
            continue
        figures, _ = results.list_results(
            session, indicator=code, published_only=False, limit=100_000
        )
        totals = [f for f in figures if not f.disaggregation_key]
        if len(totals) < 2:
            continue
        first = totals[0]
        monitoring.set_target(
            session,
            {
                "indicator": code,
                "disaggregation": {},
                "baseline": {"period": first.period, "value": first.value},
                "target": None,
                "note": "baseline: first year on record",
            },
            user=OPERATOR,
            now=utcnow(),
        )
        count += 1
    report.check("baselines set from the first year on record", count > 0, f"{count} indicators")


def verify(data_dir: Path, report: Report) -> None:
    """The checks of ``--check``: the served app answers, progress and exports hold."""
    from node.app import create_app

    app = create_app(data_dir)
    client = app.test_client()
    report.check("health", client.get("/healthz").status_code == 200)
    progress = client.get("/api/v1/progress").get_json()["items"]
    assessed = [
        p for p in progress if p["indicator"].startswith("LA-") and p["status"] not in ("no_data",)
    ]
    report.check(
        "progress per Los Angeles indicator",
        len(assessed) >= 6,
        ", ".join(f"{p['indicator']}={p['status']}" for p in assessed[:8]),
    )
    sdmx = client.get("/api/v1/export?format=sdmx-json")
    report.check("SDMX-JSON export", sdmx.status_code == 200 and _valid_sdmx(sdmx.get_json()))
    csv_export = client.get("/api/v1/export?format=csv")
    lines = csv_export.get_data(as_text=True).count("\n")
    report.check("CSV export", csv_export.status_code == 200 and lines > 100, f"{lines} lines")
    page = client.get("/")
    report.check("dashboard page", page.status_code == 200 and b"LA-" in page.data)
    app.extensions["hrcnet"].engine.dispose()


def _valid_sdmx(document: Any) -> bool:
    schema_path = (
        REPO_ROOT.parent
        / "shared"
        / "vectors"
        / "sdmx"
        / "schemas"
        / "sdmx-json-data-schema-2.1.0.json"
    )
    try:
        import jsonschema
    except ImportError:  # the demo does not need the test tools installed
        return "data" in document
    validator = jsonschema.Draft201909Validator(
        json.loads(schema_path.read_text()),
        format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER,
    )
    return not list(validator.iter_errors(document))


def run_demo(
    data_dir: Path, *, port: int, check: bool, serve: Callable[..., None] | None = None
) -> int:
    """Build the demo node, then verify it (``check``) or serve it until interrupted."""
    report = Report()
    print(f"hrcnet demo: building the Los Angeles node in {data_dir}")
    password = build_demo_node(data_dir, port, report)
    if check:
        verify(data_dir, report)
        print(f"hrcnet demo --check: {'all steps held' if report.ok else 'SOME STEPS FAILED'}")
        return 0 if report.ok else 1
    print()
    print(f"  Open    http://127.0.0.1:{port}/")
    print(f"  Sign in {ADMIN_EMAIL} / {password}")
    print(f"  API     http://127.0.0.1:{port}/api/openapi.json")
    print("  Stop with Ctrl-C.")
    if serve is None:
        from node.server import serve as serve_node

        serve = serve_node
    serve(data_dir, host="127.0.0.1", port=port)
    return 0
