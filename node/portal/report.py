"""The annual report: a printable page built from published data, and its PDF printed ahead.

The page lists the year's published figures (each with the hash of the signed summary that
carries it), progress against targets, equality gaps, recommendations with their follow-up and
the community-report counts (when that source is wired: :mod:`node.portal.sources`).

The PDF is printed by headless Chromium (Debian's ``/usr/bin/chromium``; the path can be set
with ``HRCNET_CHROMIUM``) from a self-contained copy of the same page (styles inlined, no
external resource, no network). Design (docs/portal.md, docs/operations.md):

* **never inside a request**: a browser per request would let anyone make the server start
  Chromium processes (seconds of CPU and ~100 MB each) by asking for PDFs. The scheduled job
  ``print_annual_reports`` (``node.jobs``) prints them ahead, in a child process
  (``hrcnet annual-report DATA_DIR``, :func:`print_reports`); the route only reads the stored
  file (:func:`stored_pdf`), and answers "being prepared" (503 + ``Retry-After``) before the
  first print.
* **printed when the published data changed**: the job compares a cheap stamp of what the
  report shows (:func:`data_stamp`: the data version, the public summaries, recommendations,
  community counts, licence, release) with the one of the last complete print; when it moved,
  each (year, language) page is rendered and printed only if its HTML (whose SHA-256 is the
  report's version) differs from the stored one.
* **bounded**: one print run at a time per node (a file lock, across the scheduler and the
  CLI), one Chromium at a time, each print killed with its helper processes after
  :data:`PRINT_TIMEOUT_SECONDS`, and a run stops starting prints after its time budget (the
  rest is printed by the next run).
* stored atomically in ``DATA_DIR/annual-report/`` (temporary file, then rename): a reader
  never sees half a PDF, and serves the previous print until the new one is in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from node import data_version
from node.config import NodeConfig
from node.errors import DomainError, NotFoundError
from node.i18n import SUPPORTED_LOCALES
from node.indicator_charts import cell, gap_blocks
from node.models import Indicator, Result
from node.portal import services
from node.portal.sources import PortalSources
from node.runtime import db_session, runtime
from node.services import catalogue, monitoring, overview
from schemas.periods import parse_period

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "PRINT_TIMEOUT_SECONDS",
    "RETRY_AFTER_SECONDS",
    "PrintRun",
    "ReportPrintError",
    "data_stamp",
    "print_due",
    "print_languages",
    "print_reports",
    "published_in",
    "render_html",
    "stored_pdf",
]

PRINT_TIMEOUT_SECONDS = 60
# What the "being prepared" answer tells a visitor to wait: about the job's interval.
RETRY_AFTER_SECONDS = 300
# A print run that failed is tried again for the same data after this long.
RETRY_FAILED_AFTER = timedelta(minutes=30)
STATIC = Path(__file__).resolve().parent.parent / "static" / "hrcnet.css"
FOLDER = "annual-report"
MANIFEST = "manifest.json"
LOCK = ".print.lock"


class ReportPrintError(DomainError):
    """A PDF could not be printed (no engine, a print that failed or took too long)."""

    status = 503
    code = "report_failed"


def _sources() -> PortalSources:
    from flask import current_app

    sources = current_app.extensions.get("portal_sources")
    return sources if isinstance(sources, PortalSources) else PortalSources()


def _context(year: int) -> dict[str, Any]:
    """Everything the report shows for ``year``: published figures of periods ending that year."""
    session = db_session()
    # Periods ending in the year (parse_period below keeps the rule; the range only narrows
    # the read: a node with a million results does not read them all for one year).
    rows = session.execute(
        select(Result.indicator_code, Result.period, Result.disaggregation, Result.value_text)
        .where(
            Result.status == "published",
            Result.period_end >= date(year, 1, 1),
            Result.period_end <= date(year, 12, 31),
        )
        .order_by(Result.indicator_code, Result.period_end, Result.disaggregation_key)
    ).all()
    wanted = [r for r in rows if parse_period(r.period).end.year == year]
    if not wanted:
        raise NotFoundError(_("No published figures for this year."))
    index = services.figure_provenance(session)
    by_indicator: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, period, breakdown, text in wanted:
        value = (text == "true") if text in ("true", "false") else text
        by_indicator[code].append(
            {
                "period": period,
                "breakdown": breakdown or {},
                "value": cell(_decimal(text)),
                "provenance": services.provenance_for(index, code, period, breakdown or {}, value),
            }
        )
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    sections = []
    for code in sorted(by_indicator):
        indicator = session.get(Indicator, code)
        assert indicator is not None
        figures = [
            f
            for f in overview.figures_for_charts(session, code, published_only=True)
            if parse_period(f.period).end.year <= year
        ]
        sections.append(
            {
                "indicator": indicator,
                "figures": by_indicator[code],
                "progress": monitoring.progress(session, published_only=True, indicator=code)[0],
                "gaps": gap_blocks(indicator, figures, dimensions),
            }
        )
    city_id = runtime().config.city_id
    recommendations = [
        rec for rec in _sources().recommendations(session, city_id) if rec.created_at.year <= year
    ]
    counts = [c for c in _sources().community_counts(session) if c.month.startswith(f"{year}-")]
    return {
        "year": year,
        "sections": sections,
        "recommendations": recommendations,
        "community": counts,
        "licence": services.licence_of(runtime().config),
    }


def _decimal(text: str) -> Any:
    from decimal import Decimal

    return (text == "true") if text in ("true", "false") else Decimal(text)


def render_html(year: int, *, standalone: bool = False) -> str:
    """The report page; ``standalone`` inlines the styles and drops the site's navigation."""
    context = _context(year)
    css = STATIC.read_text(encoding="utf-8") if standalone else ""
    return render_template("portal/annual_report.html", standalone=standalone, css=css, **context)


# --- the PDF: printed ahead by a job, stored, served as a file ----------------------------------


def report_folder(config: NodeConfig) -> Path:
    """Where the printed reports live: ``DATA_DIR/annual-report/``."""
    return Path(config.data_dir) / FOLDER


def print_languages(config: NodeConfig) -> tuple[str, ...]:
    """The languages the reports are printed in (config ``annual_report_languages``, comma
    separated; empty: all six), the first being the one served to visitors of the others."""
    wanted = [
        code.strip()
        for code in str(config.values.get("annual_report_languages") or "").split(",")
        if code.strip() in SUPPORTED_LOCALES
    ]
    return tuple(dict.fromkeys(wanted)) or SUPPORTED_LOCALES


def _pdf_path(config: NodeConfig, year: int, language: str) -> Path:
    return report_folder(config) / f"{year}-{language}.pdf"


@dataclass(frozen=True)
class StoredReport:
    """A printed report as stored: its bytes, language, and when it was printed."""

    content: bytes
    language: str
    printed_at: datetime


def stored_pdf(config: NodeConfig, year: int, language: str) -> StoredReport | None:
    """The stored PDF of ``year`` in ``language`` (or, when that language is not printed, in the
    first printed one); None before the first print. A file read, never a print."""
    printed = print_languages(config)
    language = language if language in printed else printed[0]
    path = _pdf_path(config, year, language)
    try:
        # One open: the job replaces the file by a rename, so this handle reads one whole
        # version, old or new, never a mix.
        with path.open("rb") as handle:
            content = handle.read()
            stamp = os.fstat(handle.fileno()).st_mtime
    except FileNotFoundError:
        return None
    return StoredReport(content, language, datetime.fromtimestamp(stamp, UTC))


def published_in(session: Session, year: int) -> bool:
    """Whether any published figure's period ends in ``year`` (one indexed query)."""
    found = session.execute(
        select(Result.id)
        .where(
            Result.status == "published",
            Result.period_end >= date(year, 1, 1),
            Result.period_end <= date(year, 12, 31),
        )
        .limit(1)
    ).first()
    return found is not None


def data_stamp(session: Session, config: NodeConfig, sources: PortalSources) -> str:
    """A cheap fingerprint of everything the reports show (no page is rendered).

    The data version moves with every write to results, targets or the catalogue; the public
    summaries give the hashes; recommendations and community counts come from other features
    (through ``sources``); the licence, the name and the release change the page's text. When
    the stamp is unchanged since the last complete print, there is nothing to print.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("hrcnet")
    except PackageNotFoundError:  # a source tree without an install: the stamp still works
        release = "unknown"
    parts = {
        "data_version": data_version.current(session),
        "summaries": [e.sha256 for e in services.public_summaries(session)],
        "recommendations": [repr(r) for r in sources.recommendations(session, config.city_id)],
        "community": [repr(c) for c in sources.community_counts(session)],
        "config": [
            config.values.get(key)
            for key in (
                "name",
                "base_url",
                "data_licence",
                "data_licence_name",
                "data_licence_url",
                "annual_report_languages",
                "sample_data",
            )
        ],
        "release": release,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(config: NodeConfig) -> dict[str, Any]:
    """What the last print runs recorded: each file's version, and the last complete stamp."""
    try:
        loaded = json.loads((report_folder(config) / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {"reports": {}}
    return loaded if isinstance(loaded, dict) else {"reports": {}}


def print_due(config: NodeConfig, stamp: str, *, now: datetime) -> str | None:
    """Why the job should start a print run now, or None when it should not.

    Not when the last complete run printed this same stamp. After a run that failed (no
    engine, Chromium crashing), the same stamp is tried again only after
    :data:`RETRY_FAILED_AFTER`: a broken engine does not start a child process every few
    minutes. A run cut short by its time budget goes on at the next tick.
    """
    manifest = read_manifest(config)
    if manifest.get("stamp") == stamp:
        return None
    last = manifest.get("last_run") or {}
    if last.get("stamp") == stamp and last.get("failed"):
        try:
            at = datetime.fromisoformat(str(last.get("at")))
        except ValueError:
            at = None
        if at is not None and now - at < RETRY_FAILED_AFTER:
            return None
        return "retrying after a failed print"
    return "the published data changed" if manifest.get("stamp") else "nothing printed yet"


def _write_atomically(target: Path, content: bytes) -> None:
    """Write ``content`` to ``target`` by a rename: a reader sees the old file or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def _write_manifest(config: NodeConfig, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1, sort_keys=True)
    _write_atomically(report_folder(config) / MANIFEST, text.encode("utf-8"))


@contextlib.contextmanager
def _print_lock(config: NodeConfig) -> Iterator[bool]:
    """One print run per node at a time, across processes (the scheduler's job, the CLI): an
    advisory lock on a file in the reports' folder; yields False when another run holds it."""
    folder = report_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _chromium() -> Path:
    path = Path(os.environ.get("HRCNET_CHROMIUM", "/usr/bin/chromium"))
    if not path.is_file():
        raise ReportPrintError(
            _("The PDF cannot be printed on this server; the printable page is available."),
            code="pdf_engine_missing",
        )
    return path


def _wait_bounded(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``process`` to exit, at most ``timeout`` s; True when it exited in time.

    Waits without reaping (``WNOWAIT``): until it is reaped, the exited process keeps its pid,
    so its process group id cannot be handed to another process before we kill the group.
    """
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _print(html: str, timeout: float) -> bytes:
    """``html`` printed to PDF by headless Chromium, killed (with its helpers) after
    ``timeout`` seconds."""
    chromium = _chromium()
    with tempfile.TemporaryDirectory(prefix="hrcnet-report-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        out = Path(work) / "report.pdf"
        command = [
            str(chromium),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(work) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        # Its own process group: Chromium starts helper processes (zygote, renderer, GPU) that
        # killing the main process alone would leave running; the group is killed whole.
        process = subprocess.Popen(  # noqa: S603 (fixed executable, our own arguments)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            finished = _wait_bounded(process, timeout)
        finally:
            # Always, also when this process is stopped meanwhile (SIGTERM → SystemExit):
            # no Chromium outlives its print.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if not finished:
            raise ReportPrintError(
                _("Printing the report took too long; please try again later."),
                code="report_timeout",
            )
        if not out.is_file() or out.stat().st_size == 0:
            raise ReportPrintError(_("The report could not be printed."), code="report_failed")
        return out.read_bytes()


@dataclass
class PrintRun:
    """What one print run did: printed, unchanged, removed, failed (with codes), left for later
    (the time budget ran out), or busy (another run held the lock)."""

    printed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    left: int = 0
    busy: bool = False

    @property
    def complete(self) -> bool:
        """Every report is up to date (nothing failed, nothing left for the next run)."""
        return not self.busy and not self.failed and not self.left

    def line(self) -> str:
        """One line for logs and the CLI."""
        if self.busy:
            return "another print run is in progress: nothing done"
        said = [f"printed {len(self.printed)}", f"unchanged {self.unchanged}"]
        if self.printed:
            said[0] += f" ({', '.join(self.printed)})"
        if self.removed:
            said.append(f"removed {len(self.removed)} ({', '.join(self.removed)})")
        if self.failed:
            said.append(
                f"failed {len(self.failed)} ("
                + ", ".join(f"{k}: {v}" for k, v in self.failed.items())
                + ")"
            )
        if self.left:
            said.append(f"left for the next run {self.left}")
        return "; ".join(said)


def print_reports(
    app: Flask,
    *,
    years: Sequence[int] | None = None,
    languages: Sequence[str] | None = None,
    force: bool = False,
    budget_seconds: float | None = None,
    print_timeout: float = PRINT_TIMEOUT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> PrintRun:
    """Print the annual reports whose page changed since their last print; store them.

    Each (year, language) page is rendered as a visitor in that language would get it (a
    request context with that ``Accept-Language``); its SHA-256 is its version, and the PDF is
    printed only when no stored file has that version (or ``force``). Years default to every
    year with published figures (the stored files of years without any are removed), languages
    to :func:`print_languages`. Once ``budget_seconds`` have passed no new print starts: the
    rest is counted as ``left``. A print that fails is recorded and the run goes on, except a
    missing engine (nothing could print). Records the data stamp after a complete run of the
    default scope, which is what the job compares with.
    """
    config = runtime(app).config
    node_now = runtime(app).now
    run = PrintRun()
    started = clock()
    with _print_lock(config) as held:
        if not held:
            run.busy = True
            return run
        manifest = read_manifest(config)
        reports: dict[str, dict[str, str]] = manifest.setdefault("reports", {})
        with app.app_context():
            session = db_session()
            stamp = data_stamp(session, config, _sources())
            all_years = [y for y in services.published_years(session) if published_in(session, y)]
        wanted_years = list(years) if years is not None else all_years
        wanted_languages = (
            list(languages) if languages is not None else list(print_languages(config))
        )
        for year in wanted_years:
            for language in wanted_languages:
                key = f"{year}-{language}"
                if budget_seconds is not None and clock() - started >= budget_seconds:
                    run.left += 1
                    continue
                with app.test_request_context(
                    f"/annual-report/{year}.pdf",
                    base_url=config.base_url,
                    headers={"Accept-Language": language},
                ):
                    try:
                        html = render_html(year, standalone=True)
                    except NotFoundError:
                        html = None
                target = _pdf_path(config, year, language)
                if html is None:  # nothing published that year (any more)
                    if target.exists():
                        target.unlink()
                        run.removed.append(key)
                    reports.pop(key, None)
                    continue
                version = hashlib.sha256(html.encode("utf-8")).hexdigest()
                if (
                    not force
                    and reports.get(key, {}).get("version") == version
                    and target.is_file()
                ):
                    run.unchanged += 1
                    continue
                try:
                    pdf = _print(html, print_timeout)
                except ReportPrintError as exc:
                    run.failed[key] = exc.code
                    if exc.code == "pdf_engine_missing":
                        break
                    continue
                _write_atomically(target, pdf)
                reports[key] = {
                    "version": version,
                    "printed_at": node_now().isoformat(timespec="seconds"),
                }
                _write_manifest(config, manifest)
                run.printed.append(key)
            if "pdf_engine_missing" in run.failed.values():
                break
        if years is None:
            # Years without published figures any more: their reports are withdrawn.
            for path in sorted(report_folder(config).glob("*.pdf")):
                year_text = path.stem.split("-", 1)[0]
                if year_text.isdigit() and int(year_text) not in all_years:
                    path.unlink()
                    run.removed.append(path.stem)
                    reports.pop(path.stem, None)
        scope_is_default = years is None and languages is None
        manifest["last_run"] = {
            "at": node_now().isoformat(timespec="seconds"),
            "stamp": stamp,
            "complete": run.complete and scope_is_default,
            "failed": bool(run.failed),
            "result": run.line(),
        }
        if run.complete and scope_is_default:
            manifest["stamp"] = stamp
        _write_manifest(config, manifest)
    return run
