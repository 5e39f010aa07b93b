"""What a member does with the secretariat's documents: the directory (notary), catalogue
releases (to adopt when ready) and benchmarks (its position among peers).

Each handler runs inside the inbox pipeline after the envelope's signature, ``seq`` and date
checks; it only accepts these documents from the secretariat it joined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.network import inbox, trust
from node.network.models import InEnvelope, Peer
from node.secretariat.models import CatalogueRelease, DirectoryEntry, ReceivedBenchmark
from schemas.secretariat import (
    BENCHMARK_TYPE,
    CATALOGUE_TYPE,
    DIRECTORY_TYPE,
    BenchmarkPayloadSchema,
    CataloguePayloadSchema,
    DirectoryPayloadSchema,
)


def _from_secretariat(session: Session, peer: Peer) -> None:
    # The inbox already refuses these types from anyone but the pinned secretariat; checked
    # again here so that no other path into a handler can skip it. The peer's role is a claim
    # and is not looked at.
    if not trust.is_pinned_secretariat(session, peer.city_id):
        raise inbox.refuse(403, "not_secretariat", "Only the network secretariat sends this.")


def _load(schema: Any, payload: Any) -> dict[str, Any]:
    return inbox.load_payload(schema, payload, "document")


def handle_directory(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """Replace our copy of the directory; record (never apply) key changes it announces."""
    _from_secretariat(session, peer)
    payload = _load(DirectoryPayloadSchema(), envelope["payload"])
    inbox.store(session, stored)
    session.execute(delete(DirectoryEntry))
    for member in payload["members"]:
        session.add(
            DirectoryEntry(
                city_id=member["city_id"],
                name=member["name"],
                region=member["region"],
                country=member["country"],
                base_url=member["base_url"],
                state=member["state"],
                keys=member["keys"],
                directory_seq=envelope["seq"],
                updated_at=now,
            )
        )
        twin = session.get(Peer, member["city_id"])
        if twin is not None and twin.city_id != peer.city_id:
            # Never applied silently: a replaced key waits for an official's confirmation.
            trust.record_directory_keys(
                session,
                twin,
                member["keys"],
                directory_origin=peer.city_id,
                directory_seq=envelope["seq"],
                now=now,
            )
    session.flush()


def directory_keys(session: Session, city_id: str) -> dict[str, str]:
    """Key id → base64 public key the notary lists for ``city_id`` (empty if not listed)."""
    entry = session.get(DirectoryEntry, city_id)
    if entry is None or entry.state != "active":
        return {}
    return {k["key_id"]: k["key"] for k in entry.keys}


def handle_catalogue(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    _from_secretariat(session, peer)
    payload = _load(CataloguePayloadSchema(), envelope["payload"])
    inbox.store(session, stored)
    release = session.get(CatalogueRelease, payload["version"])
    if release is not None:
        raise inbox.refuse(
            409,
            "release_exists",
            f"Catalogue {payload['version']} was already published; a release never changes.",
        )
    session.add(
        CatalogueRelease(
            version=payload["version"],
            envelope_id=stored.id,
            document=payload["document"],
            published_at=now,
        )
    )
    session.flush()


def handle_benchmark(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    _from_secretariat(session, peer)
    payload = _load(BenchmarkPayloadSchema(), envelope["payload"])
    inbox.store(session, stored)
    for group in payload["groups"]:
        key = (group["indicator"], group["period"], group["scope"])
        row = session.get(ReceivedBenchmark, key)
        if row is None:
            row = ReceivedBenchmark(indicator=key[0], period=key[1], scope=key[2])
            session.add(row)
        row.envelope_id, row.group, row.received_at = stored.id, group, now
    session.flush()


HANDLERS = {
    DIRECTORY_TYPE: handle_directory,
    CATALOGUE_TYPE: handle_catalogue,
    BENCHMARK_TYPE: handle_benchmark,
}
