"""What a member does with the secretariat's documents: the directory (notary), catalogue
releases (to adopt when ready) and benchmarks (its position among peers).

Each handler runs inside the inbox pipeline after the envelope's signature, ``seq`` and date
checks; it only accepts these documents from the secretariat it joined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import delete
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.network import inbox
from node.network.models import InEnvelope, Peer, PeerKey
from node.secretariat.models import CatalogueRelease, DirectoryEntry, ReceivedBenchmark
from schemas.keys import mentions_weak_key
from schemas.secretariat import (
    BENCHMARK_TYPE,
    CATALOGUE_TYPE,
    DIRECTORY_TYPE,
    BenchmarkPayloadSchema,
    CataloguePayloadSchema,
    DirectoryPayloadSchema,
)


def _from_secretariat(peer: Peer) -> None:
    if peer.role != "secretariat":
        raise inbox.refuse(403, "not_secretariat", "Only the network secretariat sends this.")


def _load(schema: Any, payload: Any) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(payload)
    except ValidationError as exc:
        messages = exc.normalized_messages()
        if mentions_weak_key(messages):
            # Its own code: a small-order key is not a typo but a key anyone could sign with.
            raise inbox.refuse(
                422, "weak_public_key", f"The document lists a weak key: {str(messages)[:300]}"
            ) from exc
        raise inbox.refuse(
            422, "invalid_payload", f"Malformed document: {str(messages)[:300]}"
        ) from exc
    return loaded


def handle_directory(
    session: Session,
    config: NodeConfig,
    envelope: dict[str, Any],
    peer: Peer,
    stored: InEnvelope,
    now: datetime,
) -> None:
    """Replace our copy of the directory; update twins' keys the secretariat vouches for."""
    _from_secretariat(peer)
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
        if twin is not None and twin.role == "city":
            _apply_notary_keys(session, twin, member["keys"], now)
    session.flush()


def _apply_notary_keys(
    session: Session, twin: Peer, listed: list[dict[str, Any]], now: datetime
) -> None:
    """Lost-key recovery: a key the directory lists becomes trusted; one it dropped while we
    still hold it as current is revoked (the secretariat replaced it)."""
    listed_ids = {k["key_id"] for k in listed}
    known = {k.key_id: k for k in twin.keys}
    for entry in listed:
        if entry["key_id"] not in known:
            twin.keys.append(
                PeerKey(
                    city_id=twin.city_id,
                    key_id=entry["key_id"],
                    public_b64=entry["key"],
                    state=entry["state"],
                    expired_ts=entry.get("expired_ts"),
                    source="notary",
                    first_seen=now,
                )
            )
    for key_id, key in known.items():
        if key_id not in listed_ids and key.state == "current":
            key.state = "revoked"
            key.revoked_ts = int(now.timestamp() * 1000)


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
    _from_secretariat(peer)
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
    _from_secretariat(peer)
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
