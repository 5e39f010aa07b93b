"""What a member does with the secretariat's documents: the directory (notary), catalogue
releases (to adopt when ready) and benchmarks (its position among peers); and, on the
secretariat, what it does with its members' summaries (benchmark inputs).

Each handler runs inside the inbox pipeline after the envelope's signature, ``seq`` and date
checks and after its payload was loaded with the schema registered here
(:func:`register_inbound`); it only accepts these documents from the secretariat it joined.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from node.models import User
from node.network import port
from node.network.port import DirectoryEntry, Inbound, InboundRegistry, KeyChange, Peer
from node.permissions import PERMISSIONS
from node.secretariat import benchmarks
from node.secretariat.models import CatalogueRelease, ReceivedBenchmark
from peer_review.notifications import notify
from schemas.secretariat import (
    BENCHMARK_STREAM,
    BENCHMARK_TYPE,
    CATALOGUE_STREAM,
    CATALOGUE_TYPE,
    DIRECTORY_STREAM,
    DIRECTORY_TYPE,
    BenchmarkPayloadSchema,
    CataloguePayloadSchema,
    DirectoryPayloadSchema,
)
from schemas.summary import SUMMARY_TYPE


def register_inbound(registry: InboundRegistry) -> None:
    """Declare the secretariat's documents, and listen to summaries (benchmark inputs)."""
    registry.register(
        DIRECTORY_TYPE,
        stream=DIRECTORY_STREAM,
        schema=DirectoryPayloadSchema(),
        handler=handle_directory,
    )
    registry.register(
        CATALOGUE_TYPE,
        stream=CATALOGUE_STREAM,
        schema=CataloguePayloadSchema(),
        handler=handle_catalogue,
    )
    registry.register(
        BENCHMARK_TYPE,
        stream=BENCHMARK_STREAM,
        schema=BenchmarkPayloadSchema(),
        handler=handle_benchmark,
    )
    # The network registers summaries; the secretariat listens (before: the inbox imported
    # the benchmarks, a core module depending on a feature).
    registry.subscribe(SUMMARY_TYPE, summary_to_benchmarks)


def _from_secretariat(session: Session, peer: Peer) -> None:
    # The inbox already refuses these types from anyone but the pinned secretariat; checked
    # again here so that no other path into a handler can skip it. The peer's role is a claim
    # and is not looked at.
    if not port.is_pinned_secretariat(session, peer.city_id):
        raise port.refuse(403, "not_secretariat", "Only the network secretariat sends this.")


def handle_directory(inbound: Inbound) -> None:
    """Replace our copy of the directory; record (never apply) key changes it announces."""
    session, peer, envelope, now = inbound.session, inbound.peer, inbound.envelope, inbound.now
    _from_secretariat(session, peer)
    port.store(session, inbound.stored)
    session.execute(delete(DirectoryEntry))
    for member in inbound.payload["members"]:
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
            port.record_directory_keys(
                session,
                twin,
                member["keys"],
                directory_origin=peer.city_id,
                directory_seq=envelope["seq"],
                now=now,
                on_new_change=notify_officials,
            )
    session.flush()


def notify_officials(session: Session, change: KeyChange, now: datetime) -> None:
    """Every active user who may confirm a key change is told in-app (the twin's page shows it
    too)."""
    deciders = session.scalars(
        select(User).where(User.active.is_(True), User.role.in_(PERMISSIONS["network.manage"]))
    )
    new = ", ".join(f"{k['key_id']} ({k['fingerprint']})" for k in change.new_keys)
    for user in deciders:
        notify(
            session,
            user.id,
            kind="key_change",
            title=f"Key change announced for {change.city_id}: confirm it after checking",
            body=(
                f"The network directory lists a new key for {change.city_id}: {new}. Nothing "
                "changes until an official confirms it; compare the fingerprint with the city "
                "by phone or in person first."
            ),
            link=f"/peers/{change.city_id}#key-changes",
            now=now,
        )


def directory_keys(session: Session, city_id: str) -> dict[str, str]:
    """Key id → base64 public key the notary lists for ``city_id`` (empty if not listed)."""
    return port.notary_keys(session, city_id)


def handle_catalogue(inbound: Inbound) -> None:
    """A core catalogue release of the secretariat: kept, to be adopted by an official."""
    session, payload = inbound.session, inbound.payload
    _from_secretariat(session, inbound.peer)
    port.store(session, inbound.stored)
    release = session.get(CatalogueRelease, payload["version"])
    if release is not None:
        raise port.refuse(
            409,
            "release_exists",
            f"Catalogue {payload['version']} was already published; a release never changes.",
        )
    session.add(
        CatalogueRelease(
            version=payload["version"],
            envelope_id=inbound.stored.id,
            document=payload["document"],
            published_at=inbound.now,
        )
    )
    session.flush()


def handle_benchmark(inbound: Inbound) -> None:
    """Benchmark groups the secretariat computed, with our position: the newest per group."""
    session, stored = inbound.session, inbound.stored
    _from_secretariat(session, inbound.peer)
    port.store(session, stored)
    for group in inbound.payload["groups"]:
        key = (group["indicator"], group["period"], group["scope"])
        row = session.get(ReceivedBenchmark, key)
        if row is None:
            row = ReceivedBenchmark(indicator=key[0], period=key[1], scope=key[2])
            session.add(row)
        row.envelope_id, row.group, row.received_at = stored.id, group, inbound.now
    session.flush()


def summary_to_benchmarks(inbound: Inbound) -> None:
    """On the secretariat: a member's stored summary feeds the benchmark groups."""
    if inbound.config.role != "secretariat":
        return
    benchmarks.ingest_summary(
        inbound.session,
        inbound.config,
        inbound.peer,
        inbound.payload,
        digest=inbound.stored.sha256,
        now=inbound.now,
    )
