"""The Atom feed (RFC 4287) of the city's public publications, recommendations and follow-up.

Built with ElementTree, so every text is escaped by the XML writer (a recommendation's text can
never become markup). Entry ids are stable URNs derived from what the entry is (a summary's
hash, a recommendation's id, a follow-up's position): a feed reader never sees an entry twice.
Nothing private: only public summaries and adopted recommendations of public reviews.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

from flask_babel import gettext as _

from node.config import NodeConfig
from node.network.port import OutEnvelope
from node.portal.sources import PublicRecommendation

__all__ = ["atom_feed"]

ATOM = "http://www.w3.org/2005/Atom"


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(
    feed: ET.Element, *, id_: str, title: str, updated: datetime, link: str, summary: str
) -> None:
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    ET.SubElement(entry, f"{{{ATOM}}}id").text = id_
    ET.SubElement(entry, f"{{{ATOM}}}title").text = title
    ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(updated)
    ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": link})
    ET.SubElement(entry, f"{{{ATOM}}}summary").text = summary


def atom_feed(
    *,
    config: NodeConfig,
    summaries: Sequence[OutEnvelope],
    recommendations: Sequence[PublicRecommendation],
    base: str,
    now: datetime,
) -> bytes:
    """The feed document (UTF-8 bytes), newest entries first."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:hrcnet:{config.city_id}:portal"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = _(
        "%(city)s: published human rights figures", city=config.name
    )
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": f"{base}/feed.atom"})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{base}/portal"})
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = config.name
    items: list[tuple[datetime, dict[str, str]]] = []
    for envelope in summaries:
        moment = datetime.fromtimestamp(envelope.created_ts / 1000, tz=UTC)
        items.append(
            (
                moment,
                {
                    "id_": f"urn:hrcnet:{config.city_id}:summary:{envelope.sha256}",
                    "title": _(
                        "Figures published for %(period)s (revision %(revision)s)",
                        period=envelope.period or "",
                        revision=envelope.revision or 1,
                    ),
                    "link": f"{base}/public/summaries/{envelope.sha256}",
                    "summary": _("Signed summary %(digest)s", digest=envelope.sha256),
                },
            )
        )
    for rec in recommendations:
        items.append(
            (
                rec.created_at,
                {
                    "id_": f"urn:hrcnet:{config.city_id}:recommendation:{rec.id}",
                    "title": _("Recommendation: %(review)s", review=rec.review_title),
                    "link": f"{base}/portal#recommendation-{rec.id}",
                    "summary": rec.text,
                },
            )
        )
        for number, follow_up in enumerate(rec.follow_ups, start=1):
            items.append(
                (
                    follow_up.at,
                    {
                        "id_": f"urn:hrcnet:{config.city_id}:follow-up:{rec.id}:{number}",
                        "title": _("Follow-up report: %(review)s", review=rec.review_title),
                        "link": f"{base}/portal#recommendation-{rec.id}",
                        "summary": follow_up.note,
                    },
                )
            )
    items.sort(key=lambda item: _stamp(item[0]), reverse=True)
    updated = items[0][0] if items else now
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(updated)
    for moment, fields in items:
        _entry(feed, updated=moment, **fields)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
