"""Documents of a relationship: the agreement (goals measured against signed summaries), the
closure report and the action plan, as whole versions; and each city's signature of a version.

Each version is sent whole, its hash (SHA-256 of the RFC 8785 canonical content) is what a city
signs in its own envelope; a version counts as co-signed when both cities' envelopes name its
hash. A goal's baseline is read from a signed summary, never typed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from node.config import NodeConfig
from node.errors import DomainError, InvalidInputError, NotFoundError
from node.network.port import InEnvelope, OutEnvelope
from node.permissions import Actor
from peer_review.mentoring.acting import (
    Acting,
    MentoringRefusal,
    content_sha256,
    local_actor,
    new_id,
)
from peer_review.mentoring.checks import (
    check_rel,
    latest,
    message_head,
    relationship_for,
    send,
    signing_facts,
    versions,
)
from peer_review.mentoring.effects import EFFECTS, Change
from peer_review.mentoring.models import Document, Relationship, Signature
from peer_review.mentoring.workflow import DOCUMENT_ACTIONS, SIGN_ACTIONS
from peer_review.statemachine import Transition
from schemas.mentoring import CONTENT_SCHEMAS, DOCUMENT_TYPE, SIGNATURE_TYPE
from schemas.summary import SUMMARY_STREAM, SUMMARY_TYPE

# --- documents -----------------------------------------------------------------------------------


def held_summary(session: Session, sha256: str) -> dict[str, Any] | None:
    """The payload of a signed summary this node holds (its own, or a twin's as received)."""
    raw = session.scalar(
        select(OutEnvelope.raw).where(
            OutEnvelope.sha256 == sha256, OutEnvelope.stream == SUMMARY_STREAM
        )
    ) or session.scalar(
        select(InEnvelope.raw).where(InEnvelope.sha256 == sha256, InEnvelope.type == SUMMARY_TYPE)
    )
    if raw is None:
        return None
    payload: dict[str, Any] = json.loads(raw)["payload"]
    return payload


def measure_from_summary(summary: Mapping[str, Any], indicator: str) -> dict[str, Any] | None:
    """Baseline (the total figure) and target of ``indicator`` as a signed summary states them."""
    for entry in summary.get("indicators", []):
        if entry.get("code") != indicator:
            continue
        totals = [f["value"] for f in entry.get("results", []) if f.get("disaggregation") == {}]
        if not totals:
            return None
        return {"period": summary["period"], "baseline": totals[0], "target": entry.get("target")}
    return None


def check_measure(session: Session, rel: Relationship, measure: Mapping[str, Any]) -> str | None:
    """Whether a goal's measure agrees with the signed summary it cites: ``None`` when it does,
    ``"not_held"`` when this node does not hold that summary, else the reason it does not."""
    summary = held_summary(session, measure["summary_sha256"])
    if summary is None:
        return "not_held"
    if summary.get("city", {}).get("city_id") not in (rel.mentor_city, rel.mentee_city):
        return "the summary is from neither city of the relationship"
    stated = measure_from_summary(summary, measure["indicator"])
    if stated is None:
        return f"the summary has no total figure for {measure['indicator']}"
    if (stated["period"], stated["baseline"]) != (measure["period"], measure["baseline"]):
        return f"the summary says {stated['baseline']} for {stated['period']}"
    if measure.get("target_source", "summary") == "summary" and stated["target"] != measure.get(
        "target"
    ):
        return "the summary states another target"
    return None


def resolve_measure(
    session: Session, rel: Relationship, wanted: Mapping[str, Any], index: int
) -> dict[str, Any]:
    """A goal's measure, with baseline and target read from the signed summary it cites."""
    summary = held_summary(session, wanted["summary_sha256"])
    stated = None
    if summary is None:
        problem = "no signed summary with that hash on this node"
    elif summary.get("city", {}).get("city_id") not in (rel.mentor_city, rel.mentee_city):
        problem = "the summary is from neither city of the relationship"
    else:
        stated = measure_from_summary(summary, wanted["indicator"])
        problem = f"the summary has no total figure for {wanted['indicator']}"
    if stated is None:
        raise InvalidInputError(
            "A goal's baseline must come from a signed summary.",
            code="unknown_summary",
            errors={f"goals.{index}.measure": [problem]},
        )
    agreed = wanted.get("target")
    return {
        "indicator": wanted["indicator"],
        "summary_sha256": wanted["summary_sha256"],
        "period": stated["period"],
        "baseline": stated["baseline"],
        "target": agreed if agreed is not None else stated["target"],
        "target_source": "agreed" if agreed is not None else "summary",
    }


def goal_content(
    session: Session, rel: Relationship, goal: Mapping[str, Any], index: int
) -> dict[str, Any]:
    """One goal of an agreement as signed: its measure resolved from a signed summary."""
    indicators = list(dict.fromkeys(goal.get("indicators") or []))
    measure = None
    if goal.get("measure"):
        measure = resolve_measure(session, rel, goal["measure"], index)
        if measure["indicator"] not in indicators:
            indicators.insert(0, measure["indicator"])
    return {
        "goal_id": goal.get("goal_id") or new_id(),
        "text": goal["text"],
        "indicators": indicators,
        "recommendations": list(dict.fromkeys(goal.get("recommendations") or [])),
        "measure": measure,
        "due_on": goal["due_on"].isoformat() if goal.get("due_on") else None,
    }


def build_content(
    session: Session, rel: Relationship, kind: str, version: int, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The content of a document version as both cities sign it, valid against the wire
    contract (422 otherwise)."""
    content: dict[str, Any] = {
        "relationship_id": rel.id,
        "kind": kind,
        "version": version,
        "mentor": rel.mentor_city,
        "mentee": rel.mentee_city,
    }
    if kind == "agreement":
        content.update(
            terms=data.get("terms") or "",
            starts_on=data["starts_on"].isoformat(),
            ends_on=data["ends_on"].isoformat(),
            goals=[goal_content(session, rel, g, i) for i, g in enumerate(data["goals"])],
        )
    elif kind == "closure_report":
        agreement = latest(rel, "agreement")
        known = {g["goal_id"] for g in (agreement.content["goals"] if agreement else [])}
        unknown = [g["goal_id"] for g in data.get("goals", []) if g["goal_id"] not in known]
        if unknown:
            raise InvalidInputError(
                "The closure report can only assess the agreement's goals.",
                code="unknown_goal",
                errors={"goals": [f"no goal {g} in the agreement" for g in unknown]},
            )
        content.update(
            summary=data["summary"],
            lessons=data.get("lessons") or "",
            goals=[
                {"goal_id": g["goal_id"], "status": g["status"], "note": g.get("note") or ""}
                for g in data.get("goals", [])
            ],
        )
    else:
        parties = (rel.mentor_city, rel.mentee_city)
        strangers = sorted({i["city"] for i in data["items"]} - set(parties))
        if strangers:
            raise InvalidInputError(
                "Action items are for one of the two cities.",
                errors={"items": [f"{c} is not a party" for c in strangers]},
            )
        content["items"] = [
            {
                "text": i["text"],
                "city": i["city"],
                "due_on": i["due_on"].isoformat() if i.get("due_on") else None,
                "status": i.get("status") or "open",
            }
            for i in data["items"]
        ]
    try:
        CONTENT_SCHEMAS[kind]().load(content)  # what we sign must pass the wire contract
    except ValidationError as exc:
        raise InvalidInputError(
            "The document is not valid.", errors=exc.normalized_messages()
        ) from exc
    return content


def propose_document(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    kind: str,
    data: Mapping[str, Any],
    *,
    user: Actor | None,
    now: datetime,
) -> Document:
    """A new version of the agreement, the closure report or the action plan, sent to the
    partner. Signatures of earlier versions do not carry over."""
    if kind not in DOCUMENT_ACTIONS:
        raise NotFoundError(f"No document kind '{kind[:40]}'.", code="unknown_document")
    rel = relationship_for(session, rel_id, user)
    actor = local_actor(config, rel, user, now)
    previous = latest(rel, kind)
    version = (previous.version if previous else 0) + 1
    # The table first: a refused action must not depend on whether its content would be valid.
    check_rel(session, config, rel, DOCUMENT_ACTIONS[kind], actor, DOCUMENT_TYPE, goals=1)
    content = build_content(session, rel, kind, version, data)
    found = check_rel(
        session,
        config,
        rel,
        DOCUMENT_ACTIONS[kind],
        actor,
        DOCUMENT_TYPE,
        goals=len(content.get("goals", [])),
    )
    payload = {
        **message_head(rel.id, found, actor),
        "kind": kind,
        "version": version,
        "sha256": content_sha256(content),
        "prev_sha256": previous.sha256 if previous else None,
        "content": content,
    }
    carrier = send(session, config, rel.partner_of(config.city_id), DOCUMENT_TYPE, payload, now)
    return EFFECTS.apply(
        found.action, Change(session, rel, found.action, actor, carrier, now, payload)
    )


def sign_document(
    session: Session,
    config: NodeConfig,
    rel_id: str,
    kind: str,
    version: int,
    sha256: str,
    *,
    user: Actor | None,
    now: datetime,
) -> Signature:
    """This city signs one version: its envelope says "version ``version`` has hash
    ``sha256``". ``sha256`` is the hash the official read; a different one is refused."""
    if kind not in SIGN_ACTIONS:
        raise NotFoundError(f"'{kind[:40]}' is not a signed document.", code="unknown_document")
    rel = relationship_for(session, rel_id, user)
    actor = local_actor(config, rel, user, now)
    found, _doc = check_signature(session, config, rel, kind, version, sha256, actor, NotFoundError)
    payload = {
        **message_head(rel.id, found, actor),
        "kind": kind,
        "version": version,
        "sha256": sha256,
    }
    carrier = send(session, config, rel.partner_of(config.city_id), SIGNATURE_TYPE, payload, now)
    return EFFECTS.apply(
        found.action, Change(session, rel, found.action, actor, carrier, now, payload)
    )


def check_signature(
    session: Session,
    config: NodeConfig,
    rel: Relationship,
    kind: str,
    version: int,
    sha256: str,
    actor: Acting,
    missing: type[DomainError],
) -> tuple[Transition, Document]:
    """The version a city signs, by ours or the partner's hand: the hash must be this node's."""
    doc = version_of(rel, kind, version, missing=missing)
    if doc.sha256 != sha256:
        # Security: a signature counts only for the exact content this node holds; a stale or
        # forged hash is refused (the official reads the version again, the partner is told).
        raise MentoringRefusal(
            f"{actor.city} signs {sha256}, but {kind} version {version} here has hash "
            f"{doc.sha256}.",
            code="hash_mismatch",
            status=409,
        )
    found = check_rel(
        session,
        config,
        rel,
        SIGN_ACTIONS[kind],
        actor,
        SIGNATURE_TYPE,
        **signing_facts(rel, kind, doc, actor.city),
    )
    return found, doc


def version_of(rel: Relationship, kind: str, version: int, missing: type[DomainError]) -> Document:
    """Version ``version`` of ``kind``, or ``missing`` (404 locally, 422 from the partner)."""
    for doc in versions(rel, kind):
        if doc.version == version:
            return doc
    raise missing(f"There is no {kind} version {version}.", code="unknown_version")
