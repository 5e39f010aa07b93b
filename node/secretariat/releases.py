"""Core catalogue releases: the secretariat signs and sends them; a city sees what changed and
adopts a release when it is ready (its summaries then state that version)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import ConflictError, InvalidInputError, NotFoundError
from node.network import port
from node.network.port import Peer
from node.permissions import Actor, require
from node.secretariat import benchmarks
from node.secretariat.models import CatalogueRelease
from node.services import catalogue
from schemas.catalogue import CatalogueFileSchema
from schemas.secretariat import CATALOGUE_STREAM, CATALOGUE_TYPE

COMPARED_FIELDS = ("name", "right", "type", "value_type", "unit", "direction", "disaggregations")


def publish_release(
    session: Session,
    config: NodeConfig,
    document: Any,
    *,
    notes: str | None,
    user: Actor | None,
    now: datetime,
) -> CatalogueRelease:
    """Sign a new core catalogue version, adopt it here, and send it to every active member."""
    require(user, "catalogue.publish")
    if config.role != "secretariat":
        raise ConflictError(
            "Only the secretariat publishes core catalogues.", code="not_secretariat"
        )
    try:
        CatalogueFileSchema().load(document)
    except ValidationError as exc:
        raise InvalidInputError(
            "The catalogue does not have the expected shape.", errors=exc.normalized_messages()
        ) from exc
    version = document["version"]
    if session.get(CatalogueRelease, version) is not None:
        raise ConflictError(
            f"Version {version} was already published; releases never change.",
            code="release_exists",
        )
    _refuse_older(session, version)
    catalogue.load_catalogue(session, document, now=now)
    release = CatalogueRelease(version=version, document=document, published_at=now, adopted_at=now)
    session.add(release)
    members = [
        p.city_id
        for p in session.scalars(select(Peer).where(Peer.role == "city", Peer.state == "active"))
    ]
    envelope = port.sign_and_store(
        session,
        config,
        type_=CATALOGUE_TYPE,
        schema=CATALOGUE_TYPE + "/1",
        stream=CATALOGUE_STREAM,
        payload={"version": version, "document": document, "notes": notes},
        audience=members,
        now=now,
    )
    port.queue(session, envelope, members, now)
    session.flush()
    # Benchmarks follow the new version from now on (like with like): recompute them.
    benchmarks.ensure_current(session, config, now)
    return release


def _refuse_older(session: Session, version: str) -> None:
    current = catalogue.current_version(session)
    if current is not None and catalogue.version_key(version) < catalogue.version_key(current):
        # Going back would retire what the newer version added, and benchmarks compare only
        # cities on one version: an older one would be compared with no one.
        raise ConflictError(
            f"Catalogue {version} is older than {current}, which this node follows.",
            code="release_outdated",
        )


def diff(session: Session, document: dict[str, Any]) -> dict[str, list[str]]:
    """What adopting ``document`` would change in our core catalogue: ``added`` and
    ``changed`` core indicators, and ``removed`` ones (adopting retires them: they become
    local indicators, with their results, and are no longer compared as core)."""
    ours = {
        i.code: catalogue.indicator_to_wire(i)
        for i in catalogue.list_indicators(session, core=True)
    }
    theirs = {
        i["code"]: i
        for i in document.get("indicators", [])
        if isinstance(i, dict) and isinstance(i.get("code"), str)
    }
    changed = [
        code
        for code in sorted(set(ours) & set(theirs))
        if any(ours[code].get(f) != theirs[code].get(f) for f in COMPARED_FIELDS)
    ]
    return {
        "added": sorted(set(theirs) - set(ours)),
        "removed": sorted(set(ours) - set(theirs)),
        "changed": changed,
    }


def list_releases(session: Session) -> list[CatalogueRelease]:
    return list(session.scalars(select(CatalogueRelease).order_by(CatalogueRelease.published_at)))


def adopt(session: Session, version: str, *, user: Actor | None, now: datetime) -> CatalogueRelease:
    """Load a received release into our catalogue (local indicators are kept). Core indicators
    the release no longer lists are retired: they become local, with all their results
    (:func:`node.services.catalogue.retire_indicator`)."""
    require(user, "catalogue.write")
    release = session.get(CatalogueRelease, version)
    if release is None:
        raise NotFoundError(f"No catalogue release {version}.", code="release_not_found")
    if release.adopted_at is not None:
        raise ConflictError(f"Catalogue {version} is already adopted.", code="already_adopted")
    _refuse_older(session, version)
    catalogue.load_catalogue(session, release.document, now=now)
    release.adopted_at = now
    session.flush()
    return release


def release_to_wire(session: Session, release: CatalogueRelease) -> dict[str, Any]:
    return {
        "version": release.version,
        "published_at": release.published_at,
        "adopted_at": release.adopted_at,
        "indicators": len(release.document.get("indicators", [])),
        "changes": diff(session, release.document) if release.adopted_at is None else None,
    }
