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
    check_document(document)
    version = document["version"]
    if session.get(CatalogueRelease, version) is not None:
        raise ConflictError(
            f"Version {version} was already published; releases never change.",
            code="release_exists",
            params={"version": version},
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


def check_document(document: Any) -> None:
    """Refuse (422) a document that is not a catalogue file (schemas.catalogue)."""
    try:
        CatalogueFileSchema().load(document)
    except ValidationError as exc:
        raise InvalidInputError(
            "The catalogue does not have the expected shape.", errors=exc.normalized_messages()
        ) from exc


def _refuse_older(session: Session, version: str) -> None:
    current = catalogue.current_version(session)
    if current is not None and catalogue.version_key(version) < catalogue.version_key(current):
        # Going back would retire what the newer version added, and benchmarks compare only
        # cities on one version: an older one would be compared with no one.
        raise ConflictError(
            f"Catalogue {version} is older than {current}, which this node follows.",
            code="release_outdated",
            params={"version": version, "current": current},
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
        raise NotFoundError(
            f"No catalogue release {version}.",
            code="release_not_found",
            params={"version": version},
        )
    if release.adopted_at is not None:
        raise ConflictError(
            f"Catalogue {version} is already adopted.",
            code="already_adopted",
            params={"version": version},
        )
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


def last_published(session: Session) -> CatalogueRelease | None:
    """The newest release this node published or received (by version order, not by date:
    releases never go back, :func:`_refuse_older`)."""
    found = list_releases(session)
    return max(found, key=lambda r: catalogue.version_key(r.version)) if found else None


def _indicators_by_code(document: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not isinstance(document, dict):
        return {}
    return {
        i["code"]: i
        for i in document.get("indicators", [])
        if isinstance(i, dict) and isinstance(i.get("code"), str)
    }


def diff_base(session: Session) -> tuple[str | None, dict[str, Any] | None, bool]:
    """What a draft is compared with: ``(version, document, is_release)``.

    The last published release; before any release, the core catalogue this node follows (the
    one ``hrcnet init`` loaded), rebuilt from its tables (``is_release`` False: only the fields
    the draft states can then be compared, the tables hold more than a catalogue file does)."""
    release = last_published(session)
    if release is not None:
        return release.version, release.document, True
    indicators = [
        catalogue.indicator_to_wire(i) for i in catalogue.list_indicators(session, core=True)
    ]
    if not indicators:
        return None, None, False
    return catalogue.current_version(session), {"indicators": indicators}, False


def field_diff(
    base: dict[str, Any] | None, draft: dict[str, Any], *, draft_fields_only: bool = False
) -> dict[str, Any]:
    """What publishing ``draft`` changes against ``base`` (the last published release; None:
    nothing published yet), indicator by indicator and field by field.

    ``added`` and ``retired`` list whole indicators (code and name); ``changed`` lists, for
    each indicator in both, every field whose value differs (``field``, ``old``, ``new``; a
    field present on one side only has ``None`` on the other). Every field of the file is
    compared, not only the ones benchmarks depend on: the people publishing must see a changed
    definition or translation too (with ``draft_fields_only``, only the fields the draft
    states). Codes are sorted, fields too, so the page reads the same every time.
    """
    ours, theirs = _indicators_by_code(base), _indicators_by_code(draft)
    changed = []
    for code in sorted(set(ours) & set(theirs)):
        stated = set(theirs[code]) if draft_fields_only else set(ours[code]) | set(theirs[code])
        fields_ = sorted(stated - {"code"})
        differences = [
            {"field": f, "old": ours[code].get(f), "new": theirs[code].get(f)}
            for f in fields_
            if ours[code].get(f) != theirs[code].get(f)
        ]
        if differences:
            changed.append({"code": code, "name": theirs[code].get("name"), "fields": differences})
    return {
        "added": [
            {"code": c, "name": theirs[c].get("name")} for c in sorted(set(theirs) - set(ours))
        ],
        "retired": [
            {"code": c, "name": ours[c].get("name")} for c in sorted(set(ours) - set(theirs))
        ],
        "changed": changed,
    }
