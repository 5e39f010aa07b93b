"""The public portal (no login): published results with charts, downloads, the signed summaries
anyone can verify, embeds, the Atom feed and the annual report.

Every route here answers anonymous visitors and reads published figures only (see
:mod:`node.portal.services`): a draft or validated figure never reaches a portal page, a
download, the feed, an embed or the report. Paths fixed by the contract ("Public and community
paths"): ``/open-data``, ``/public/summaries/{sha256}``, ``/feed.atom``,
``/embed/indicators/{code}`` (+ ``.svg``), ``/annual-report/{year}`` (+ ``.pdf``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from node.errors import NotFoundError
from node.indicator_charts import cell, gap_blocks, trend_block, trend_svg
from node.models import Indicator
from node.portal import report as annual
from node.portal import services
from node.portal.feed import atom_feed
from node.portal.sources import PortalSources
from node.runtime import db_session, now, runtime
from node.services import catalogue, cso_figures, exchange, monitoring, overview

bp = Blueprint("portal", __name__, template_folder="templates")

DOWNLOAD_FORMATS = {"csv": "csv", "json": "json", "sdmx.json": "sdmx-json"}
# Format names are the same in every language (not translated).
FORMAT_NAMES = {"csv": "CSV", "json": "JSON", "sdmx.json": "SDMX-JSON 2.1"}
# Embeds are meant to be framed by any site (the city's own website, a newspaper): only their
# routes allow it; every other portal page refuses to be framed (clickjacking).
EMBED_CSP = "frame-ancestors *; default-src 'none'; style-src 'self'; img-src 'self'"
NO_FRAMING_CSP = "frame-ancestors 'none'"


def portal_sources() -> PortalSources:
    """The other features' public data, as wired by the composition root (empty by default)."""
    sources = current_app.extensions.get("portal_sources")
    return sources if isinstance(sources, PortalSources) else PortalSources()


@bp.context_processor
def _portal_globals() -> dict[str, Any]:
    return {"format_names": FORMAT_NAMES}


@bp.after_request
def _framing(response: Response) -> Response:
    """Portal pages may not be framed, except the embeds (they set their own policy)."""
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = NO_FRAMING_CSP
        response.headers["X-Frame-Options"] = "DENY"
    return response


def _published_indicator(code: str) -> Indicator:
    """An indicator with published figures, or 404 (as if unknown: drafts say nothing)."""
    session = db_session()
    indicator = session.get(Indicator, code)
    if indicator is None or not overview.figures_for_charts(session, code, published_only=True):
        raise NotFoundError(_("No published figures for this indicator."))
    return indicator


def _recommendations(indicator: str | None = None) -> list[Any]:
    city_id = runtime().config.city_id
    items = portal_sources().recommendations(db_session(), city_id)
    if indicator is None:
        return items
    return [item for item in items if indicator in item.indicators]


@bp.get("/portal")
def home() -> str:
    """The city's published indicators: latest figure, progress, a link to each page."""
    session = db_session()
    indicators = services.published_indicators(session)
    progress = {row["indicator"]: row for row in monitoring.progress(session, published_only=True)}
    return render_template(
        "portal/home.html",
        indicators=indicators,
        progress=progress,
        recommendations=_recommendations(),
        community=portal_sources().community_counts(session),
        years=services.published_years(session),
        licence=services.licence_of(runtime().config),
    )


@bp.get("/portal/indicators/<code>")
def indicator_page(code: str) -> str:
    """One indicator's published figures, charts, progress, gaps, recommendations, downloads."""
    session = db_session()
    indicator = _published_indicator(code)
    figures = overview.figures_for_charts(session, code, published_only=True)
    progress = monitoring.progress(session, published_only=True, indicator=code)[0]
    dimensions = {d.code: d for d in catalogue.list_dimensions(session)}
    index = services.figure_provenance(session)
    rows = [
        {
            "period": f.period,
            "breakdown": f.breakdown,
            "value": cell(f.value),
            "provenance": services.provenance_for(index, code, f.period, f.breakdown, f.value),
        }
        for f in figures
    ]
    return render_template(
        "portal/indicator.html",
        indicator=indicator,
        rows=rows,
        progress=progress,
        trend_chart=trend_block(indicator, figures, progress),
        gap_charts=gap_blocks(indicator, figures, dimensions),
        recommendations=_recommendations(code),
        licence=services.licence_of(runtime().config),
        value_of=cell,
        # Civil society's published figures, in their own table beside the official ones.
        cso_figures=cso_figures.list_figures(session, indicator=code),
        dimensions=dimensions,
    )


@bp.get("/portal/verify")
def verify_page() -> str:
    """How anyone checks a figure: the summary's bytes, RFC 8785 and the city's Ed25519 key."""
    session = db_session()
    latest = services.public_summaries(session)[-1:]
    return render_template(
        "portal/verify.html",
        example=latest[0].sha256 if latest else None,
        city_id=runtime().config.city_id,
    )


@bp.get("/open-data")
def open_data() -> str:
    """The downloads page: CSV, JSON, SDMX-JSON, the licence and the provenance."""
    session = db_session()
    return render_template(
        "portal/open_data.html",
        indicators=services.published_indicators(session),
        summaries=list(reversed(services.public_summaries(session))),
        licence=services.licence_of(runtime().config),
    )


def _cso_files() -> dict[str, Any]:
    """Where the civil-society figures are: their own files, never rows of the city's."""
    return {
        "official": False,
        "csv": url_for("portal.cso_download", fmt="csv", _external=True),
        "json": url_for("portal.cso_download", fmt="json", _external=True),
    }


def _json_head(fmt: str) -> dict[str, Any]:
    """What the JSON download says about itself before its figures: licence and provenance."""
    config = runtime().config
    licence = services.licence_of(config)
    return {
        "licence": {"spdx": licence.spdx, "name": licence.name, "url": licence.url},
        # Civil society's figures are not in this file: say where they are (never merged).
        "civil_society_figures": _cso_files(),
        "provenance": {
            "source": config.name,
            "verify": url_for("portal.verify_page", _external=True),
            "key_document": url_for("portal.home", _external=True).rsplit("/portal", 1)[0]
            + "/federation/v1/keys",
            "signed_summaries": [
                {
                    "period": e.period,
                    "revision": e.revision,
                    "sha256": e.sha256,
                    "url": url_for("portal.public_summary", sha256=e.sha256, _external=True),
                }
                for e in services.public_summaries(db_session())
            ],
        },
    }


SDMX_META = '"meta": {'


def _sdmx_links(head: dict[str, Any]) -> list[dict[str, str]]:
    """Licence and provenance as SDMX-JSON ``meta.links`` (href + rel + title)."""
    licence, provenance = head["licence"], head["provenance"]
    links = [
        {"href": licence["url"], "rel": "license", "title": licence["name"]},
        {"href": provenance["verify"], "rel": "help", "title": "verify"},
        {"href": provenance["key_document"], "rel": "external", "title": "key document"},
    ]
    links += [
        {
            "href": s["url"],
            "rel": "external",
            "title": f"signed summary {s['period']} {s['sha256']}",
        }
        for s in provenance["signed_summaries"]
    ]
    links.append(
        {
            "href": head["civil_society_figures"]["json"],
            "rel": "related",
            "title": "civil-society figures (not the city's; not in this message)",
        }
    )
    return links


@bp.get("/open-data/results.<fmt>")
def download(fmt: str) -> Response:
    """Published results as a file, streamed (the export service), with the licence attached."""
    if fmt not in DOWNLOAD_FORMATS:
        raise NotFoundError(_("Unknown download format."))
    indicator = request.args.get("indicator") or None
    if indicator is not None:
        _published_indicator(indicator)
    head = _json_head(fmt) if fmt in ("json", "sdmx.json") else None
    licence = services.licence_of(runtime().config)
    # The body is written after this view returns: it reads through a session of its own,
    # closed with the last chunk (as the export API does).
    session = runtime().sessions()
    try:
        media_type, body = exchange.export(
            session, DOWNLOAD_FORMATS[fmt], config=runtime().config, indicator=indicator, now=now()
        )
    except BaseException:
        session.close()
        raise

    def chunks() -> Iterator[str]:
        try:
            first = True
            for chunk in body:
                if first and head is not None and fmt == "json" and chunk.startswith("{"):
                    # The JSON export's first chunk opens its top object: licence and
                    # provenance go first in it, the rest is the export unchanged.
                    chunk = "{" + json.dumps(head, ensure_ascii=False)[1:-1] + ", " + chunk[1:]
                elif first and head is not None and SDMX_META in chunk:
                    # SDMX-JSON's place for them: the message's meta.links (licence,
                    # verification page, key document, each signed summary).
                    links = json.dumps(_sdmx_links(head), ensure_ascii=False)
                    chunk = chunk.replace(SDMX_META, f'{SDMX_META}"links": {links}, ', 1)
                first = False
                yield chunk
        finally:
            session.close()

    response = Response(stream_with_context(chunks()), mimetype=media_type.split(";")[0])
    response.headers["Content-Type"] = media_type
    name = f"{indicator or 'results'}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Link"] = f'<{licence.url}>; rel="license"'
    return response


CSO_FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@bp.get("/open-data/cso-figures.<fmt>")
def cso_download(fmt: str) -> Response:
    """Civil-society figures as their own file (CSV or JSON), each row ``source_type``
    ``civil_society`` with its organisation, method, source and signed statement's hash."""
    if fmt not in CSO_FORMATS:
        raise NotFoundError(_("Unknown download format."))
    indicator = request.args.get("indicator") or None
    if indicator is not None:
        _published_indicator(indicator)
    session, config = db_session(), runtime().config
    items = cso_figures.export_items(session, config, indicator=indicator)
    licence = services.licence_of(config)
    if fmt == "csv":
        body = cso_figures.export_csv(items)
    else:
        for item in items:
            item["statement_url"] = url_for(
                "cso_web.public_statement", sha256=item["statement_sha256"], _external=True
            )
        body = json.dumps(
            {
                "licence": {"spdx": licence.spdx, "name": licence.name, "url": licence.url},
                "source_type": cso_figures.SOURCE_TYPE,
                "official": False,
                "note": "Figures stated by civil-society organisations with their own method "
                "and source, signed by the node as their statements. Not the city's figures; "
                "never counted in them.",
                "count": len(items),
                "items": items,
            },
            ensure_ascii=False,
        )
    response = Response(body, mimetype=CSO_FORMATS[fmt].split(";")[0])
    response.headers["Content-Type"] = CSO_FORMATS[fmt]
    name = f"cso-figures{'-' + indicator if indicator else ''}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Link"] = f'<{licence.url}>; rel="license"'
    return response


@bp.get("/public/summaries/<sha256>")
def public_summary(sha256: str) -> Response:
    """A public signed summary, verbatim: the exact bytes we signed and served to twins."""
    envelope = services.public_summary(db_session(), sha256)
    if envelope is None:
        raise NotFoundError(_("No published summary has this hash."))
    response = Response(envelope.raw.encode("utf-8"), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=86400, immutable"  # hash-addressed
    return response


@bp.get("/feed.atom")
def feed() -> Response:
    """Atom feed of publications, recommendations and follow-up reports."""
    session = db_session()
    body = atom_feed(
        config=runtime().config,
        summaries=services.public_summaries(session),
        recommendations=_recommendations(),
        base=url_for("portal.home", _external=True).rsplit("/portal", 1)[0],
        now=now(),
    )
    return Response(body, mimetype="application/atom+xml")


@bp.get("/embed/indicators/<code>")
def embed(code: str) -> Response:
    """One indicator's chart for an iframe: minimal page, framable by any site."""
    session = db_session()
    indicator = _published_indicator(code)
    figures = overview.figures_for_charts(session, code, published_only=True)
    progress = monitoring.progress(session, published_only=True, indicator=code)[0]
    response = Response(
        render_template(
            "portal/embed.html",
            indicator=indicator,
            chart=trend_block(indicator, figures, progress),
            progress=progress,
        )
    )
    response.headers["Content-Security-Policy"] = EMBED_CSP
    return response


@bp.get("/embed/indicators/<code>.svg")
def embed_svg(code: str) -> Response:
    """One indicator's trend chart as a standalone SVG image."""
    session = db_session()
    indicator = _published_indicator(code)
    figures = overview.figures_for_charts(session, code, published_only=True)
    progress = monitoring.progress(session, published_only=True, indicator=code)[0]
    svg = trend_svg(indicator, figures, progress)
    if "xmlns=" not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    response = Response('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = EMBED_CSP
    return response


@bp.get("/annual-report/<int:year>")
def annual_report(year: int) -> str:
    """The printable annual report of ``year`` (published data only)."""
    return annual.render_html(year)


@bp.get("/annual-report/<int:year>.pdf")
def annual_report_pdf(year: int) -> Response:
    """The annual report as a PDF: the file the job printed, never a print in the request.

    Before the first print of the year, a page says it is being prepared (503 with
    ``Retry-After``, so that clients and caches know to come back), with a link to the
    printable page, which always works.
    """
    config = runtime().config
    if not annual.published_in(db_session(), year):
        raise NotFoundError(_("No published figures for this year."))
    stored = annual.stored_pdf(config, year, str(get_locale()))
    if stored is None:
        page = render_template(
            "portal/report_pending.html",
            year=year,
            minutes=annual.RETRY_AFTER_SECONDS // 60,
        )
        response = Response(page, status=503, mimetype="text/html")
        response.headers["Retry-After"] = str(annual.RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response
    response = Response(stored.content, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="annual-report-{year}.pdf"'
    response.headers["Content-Language"] = stored.language
    response.last_modified = stored.printed_at
    return response
