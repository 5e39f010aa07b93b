"""The annual report: a printable page built from published data, and its PDF.

The page lists the year's published figures (each with the hash of the signed summary that
carries it), progress against targets, equality gaps, recommendations with their follow-up and
the community-report counts (when that source is wired: :mod:`node.portal.sources`).

The PDF is printed by headless Chromium (Debian's ``/usr/bin/chromium``; the path can be set
with ``HRCNET_CHROMIUM``) from a self-contained copy of the same page (styles inlined, no
external resource, no network). Design (docs/portal.md):

* **cached per data version**: the key is the sha256 of the page's own HTML (year, language
  and every figure shown are in it), so a PDF is printed once per version of the data and any
  change (a newly published figure, a correction, a recommendation) gives a new file; a request
  for an unchanged report is a file read.
* **bounded in time**: one print at a time per process (a second concurrent request gets 503
  ``report_busy`` with ``Retry-After`` instead of queueing Chromium processes), and a print that
  takes longer than :data:`PRINT_TIMEOUT_SECONDS` is killed (503 ``report_timeout``).
* written atomically (temporary file, then rename): a reader never sees half a PDF.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from flask import render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from node.errors import DomainError, NotFoundError
from node.models import Indicator, Result
from node.portal import services
from node.portal.charts import cell, gap_blocks
from node.portal.sources import PortalSources
from node.runtime import db_session, runtime
from node.services import catalogue, monitoring, overview
from schemas.periods import parse_period

__all__ = ["PRINT_TIMEOUT_SECONDS", "ReportBusyError", "pdf_bytes", "render_html"]

PRINT_TIMEOUT_SECONDS = 60
STATIC = Path(__file__).resolve().parent.parent / "static" / "hrcnet.css"
_printing = threading.Lock()


class ReportBusyError(DomainError):
    """The PDF cannot be printed right now (another print runs, or the engine is missing)."""

    status = 503
    code = "report_busy"


def _sources() -> PortalSources:
    from flask import current_app

    sources = current_app.extensions.get("portal_sources")
    return sources if isinstance(sources, PortalSources) else PortalSources()


def _context(year: int) -> dict[str, Any]:
    """Everything the report shows for ``year``: published figures of periods ending that year."""
    session = db_session()
    rows = session.execute(
        select(Result.indicator_code, Result.period, Result.disaggregation, Result.value_text)
        .where(Result.status == "published")
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


def _chromium() -> Path:
    path = Path(os.environ.get("HRCNET_CHROMIUM", "/usr/bin/chromium"))
    if not path.is_file():
        raise ReportBusyError(
            _("The PDF cannot be printed on this server; the printable page is available."),
            code="pdf_engine_missing",
        )
    return path


def _print(html: str, target: Path) -> None:
    """Print ``html`` to ``target`` with headless Chromium, within the time bound."""
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
        try:
            subprocess.run(  # noqa: S603 (fixed executable, our own arguments)
                command,
                check=False,
                capture_output=True,
                timeout=PRINT_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired as exc:
            raise ReportBusyError(
                _("Printing the report took too long; please try again later."),
                code="report_timeout",
            ) from exc
        if not out.is_file() or out.stat().st_size == 0:
            raise ReportBusyError(_("The report could not be printed."), code="report_failed")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(out.read_bytes())
        partial.replace(target)  # atomic: a reader never sees half a PDF


def pdf_bytes(year: int) -> bytes:
    """The report's PDF for the current data version (printed once, then read from the cache)."""
    html = render_html(year, standalone=True)
    version = hashlib.sha256(html.encode("utf-8")).hexdigest()
    cache = runtime().config.data_dir / "cache" / "annual-report"
    target = cache / f"{year}-{get_locale()}-{version}.pdf"
    if target.is_file():
        return target.read_bytes()
    if not _printing.acquire(blocking=False):
        raise ReportBusyError(_("Another report is being printed; please try again shortly."))
    try:
        if not target.is_file():
            _print(html, target)
    finally:
        _printing.release()
    return target.read_bytes()
