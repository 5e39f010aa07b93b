"""Federation costs: signing and verifying one city's summary envelope.

The document is what a city sends its twins once per period: an ``hrc.summary/1`` payload of
50 indicators, each with a total and 6 breakdowns (sex, age group, district), values as decimal
strings, with baseline and target. It is checked against :class:`SummaryPayloadSchema` before
timing, so the benchmark cannot drift away from the real wire shape unnoticed.

Measured on the same bytes / the same dict:

- envelope sign and verify (:mod:`federation.envelope`: validation + RFC 8785 + Ed25519);
- raw Ed25519 verify of ``cryptography`` (the floor: what the signature alone costs);
- Matrix's ``signedjson`` sign and verify (a mature reference for "canonical JSON + Ed25519");
- canonicalisation alone: ``rfc8785.dumps``, and ``federation.canonical.canonical_bytes``
  (our validation in front of it);
- the node's inbox ingest (parse → key → verify → store in SQLite), when this build has it.
"""

from __future__ import annotations

import importlib
import inspect
import random
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench import Measurement, Section, measure
from federation.canonical import canonical_bytes
from federation.envelope import (
    envelope_signing_bytes,
    make_envelope,
    sign_envelope,
    verify_envelope_signature,
)
from federation.keys import SigningKey, b64decode_unpadded
from schemas.summary import SUMMARY_SCHEMA, SUMMARY_STREAM, SUMMARY_TYPE, SummaryPayloadSchema

ORIGIN = "be-gent"
RECEIVER = "it-padova"
INDICATORS = 50
# A fixed past instant (2026-01-01T00:00Z): the document is identical on every run, and an
# inbox never refuses it as dated in the future.
CREATED_TS = 1_767_225_600_000
SEED = 2025

RIGHTS = [
    ("HOU", "Adequate housing"),
    ("EDU", "Education"),
    ("HEA", "Health"),
    ("WAT", "Water and sanitation"),
    ("WRK", "Work"),
    ("SOC", "Social security"),
    ("PAR", "Participation in public affairs"),
    ("NDI", "Equality and non-discrimination"),
    ("FOO", "Adequate food"),
    ("SAF", "Liberty and security of person"),
]
BREAKDOWNS: list[dict[str, str]] = [
    {"SEX": "F"},
    {"SEX": "M"},
    {"AGE_GROUP": "Y_LT18"},
    {"AGE_GROUP": "Y18T64"},
    {"AGE_GROUP": "Y_GE65"},
    {"DISTRICT": "D03"},
]
INBOX_MODULES = ("node.services.inbox", "node.network.inbox")


def _value(rng: random.Random) -> str:
    # One decimal, as most municipal rates are published; always a string (no JSON floats).
    return f"{rng.uniform(0.5, 250.0):.1f}"


def summary_payload(indicators: int = INDICATORS, seed: int = SEED) -> dict[str, Any]:
    """A deterministic, schema-valid ``hrc.summary/1`` payload of ``indicators`` indicators."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for i in range(indicators):
        abbr, right = RIGHTS[i % len(RIGHTS)]
        kind = ("outcome", "process", "structural")[i % 3]
        results = [{"disaggregation": {}, "value": _value(rng), "status": "published"}]
        results += [
            {"disaggregation": dict(b), "value": _value(rng), "status": "published"}
            for b in BREAKDOWNS
        ]
        items.append(
            {
                "code": f"HRC-{abbr}-{i // len(RIGHTS) + 1:02d}",
                "name": f"{right}: monitored outcome number {i + 1} for residents",
                "right": right,
                "type": kind,
                "value_type": "number",
                "unit": {"code": "PER_10K", "label": "per 10,000 residents"},
                "direction": "good_down" if i % 2 else "good_up",
                "core": True,
                "maps_to": None,
                "results": results,
                "baseline": {"period": "2020", "value": _value(rng)},
                "target": {"period": "2030", "value": _value(rng)},
            }
        )
    return {
        "city": {"city_id": ORIGIN, "name": "Gent", "country": "BE", "region": "europe-west"},
        "period": "2025",
        "revision": 1,
        "supersedes": None,
        "catalogue_version": "0.1.0",
        "themes": None,
        "suppressed_cells": 3,
        "small_cell_threshold": 5,
        "indicators": items,
    }


def summary_envelope(
    key: SigningKey, payload: dict[str, Any], *, seq: int = 42, period: str | None = None
) -> dict[str, Any]:
    """The unsigned envelope around ``payload`` (``period`` overrides the payload's)."""
    if period is not None:
        payload = {**payload, "period": period}
    return make_envelope(
        SUMMARY_TYPE,
        SUMMARY_SCHEMA,
        ORIGIN,
        SUMMARY_STREAM,
        seq,
        CREATED_TS,
        key.key_id,
        [RECEIVER, "network"],
        payload,
    )


def bench_inbox_ingest(
    key: SigningKey, payload: dict[str, Any], *, budget_s: float = 2.0, max_iterations: int = 300
) -> Measurement | str:
    """Time the node's inbox ingest of signed summaries; a note when this build has none.

    A throwaway SQLite node (``RECEIVER``) is created with ``ORIGIN`` as an active twin whose
    key is pinned. Each timed call ingests one new envelope (next ``seq``, a period of its own,
    signed untimed beforehand) and commits, as the inbox endpoint does: strict parse, key
    lookup, signature, replay checks, schema, storing the raw envelope and its 350 figures.
    """
    module = None
    for name in INBOX_MODULES:
        try:
            candidate = importlib.import_module(name)
        except ImportError:
            continue
        if callable(getattr(candidate, "ingest_envelope", None)):
            module = candidate
            break
    if module is None:
        return "inbox ingest: not available in this build"
    try:
        return _measure_ingest(module, key, payload, budget_s, max_iterations)
    except Exception as exc:  # the inbox is young; report why instead of aborting the run
        return f"inbox ingest: present in {module.__name__} but not measurable: {exc!r}"


def _measure_ingest(
    module: Any, key: SigningKey, payload: dict[str, Any], budget_s: float, max_iterations: int
) -> Measurement:
    from node.config import load_config
    from node.db import make_engine, make_sessionmaker, session_scope
    from node.network.models import Peer, PeerKey
    from node.setup import init_node

    workdir = Path(tempfile.mkdtemp(prefix="hrcnet-bench-"))
    try:
        data_dir = workdir / RECEIVER
        init_node(
            data_dir,
            city_id=RECEIVER,
            name="Padova",
            country="IT",
            region="europe-south",
            base_url="http://127.0.0.1:9",
        )
        config = load_config(data_dir)
        engine = make_engine(config.database_url)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        with session_scope(sessions) as session:
            peer = Peer(
                city_id=ORIGIN,
                name="Gent",
                base_url="http://127.0.0.1:9",
                country="BE",
                region="europe-west",
                state="active",
                themes=None,
                requested_at=now,
            )
            peer.keys.append(
                PeerKey(
                    city_id=ORIGIN,
                    key_id=key.key_id,
                    public_b64=key.public_b64,
                    state="current",
                    source="pinned",
                    first_seen=now,
                )
            )
            session.add(peer)

        def prepare(i: int) -> bytes:
            # Warm-up calls get i < 0. Every call gets the next seq and its own monthly period
            # (revision 1): the common case of a first summary, not the n-th revision of one.
            n = i + 100 if i >= 0 else -i
            period = f"{2000 + n // 12}-{n % 12 + 1:02d}"
            envelope = sign_envelope(
                summary_envelope(key, payload, seq=n, period=period), ORIGIN, key
            )
            return canonical_bytes(envelope)

        # Since issue 13 the inbox dispatches through the node's handler registry (built once at
        # start-up, as create_app does); older builds take no registry.
        routes: dict[str, Any] = {}
        if "registry" in inspect.signature(module.ingest_envelope).parameters:
            from node.features import inbound_registry

            routes["registry"] = inbound_registry()

        def ingest(raw: bytes) -> None:
            with session_scope(sessions) as session:
                status = module.ingest_envelope(
                    session,
                    config,
                    raw,
                    now=datetime.now(UTC),
                    via="push",
                    sender=ORIGIN,
                    **routes,
                )
            if status != 202:
                raise RuntimeError(f"ingest answered {status}, expected 202")

        try:
            return measure(
                "inbox ingest (SQLite, commit)",
                ingest,
                prepare=prepare,
                budget_s=budget_s,
                max_iterations=max_iterations,
                warmup=3,
                note=f"{module.__name__}.ingest_envelope",
            )
        finally:
            engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run() -> Section:
    """Run every federation measurement once; about 15 s in total."""
    payload = summary_payload()
    SummaryPayloadSchema().load(payload)  # raises if the benchmark document drifted from /1
    key = SigningKey.from_seed(bytes(range(32)))
    unsigned = summary_envelope(key, payload)
    signed = sign_envelope(unsigned, ORIGIN, key)
    message = envelope_signing_bytes(signed)
    signature = b64decode_unpadded(signed["signatures"][ORIGIN][key.key_id])
    public_key = Ed25519PublicKey.from_public_bytes(key.public_raw)
    signed_part = {k: v for k, v in unsigned.items() if k not in ("signatures", "unsigned")}
    figures = sum(len(i["results"]) for i in payload["indicators"])

    import signedjson.key
    import signedjson.sign

    sj_key = signedjson.key.generate_signing_key("bench")
    sj_verify_key = signedjson.key.get_verify_key(sj_key)
    # signedjson signs the object minus ``signatures``/``unsigned``, like our envelope rule,
    # so the unsigned envelope is the same document for both.
    sj_signed = signedjson.sign.sign_json(dict(signed_part), ORIGIN, sj_key)

    operations: list[tuple[str, Callable[[Any], object]]] = [
        ("envelope sign (federation)", lambda _: sign_envelope(unsigned, ORIGIN, key)),
        (
            "envelope verify (federation)",
            lambda _: verify_envelope_signature(signed, ORIGIN, key.key_id, key.public_raw),
        ),
        ("Ed25519 verify (cryptography, raw)", lambda _: public_key.verify(signature, message)),
        # sign_json adds ``signatures`` to the dict it is given: hand it a shallow copy.
        (
            "signedjson sign_json",
            lambda _: signedjson.sign.sign_json(dict(signed_part), ORIGIN, sj_key),
        ),
        (
            "signedjson verify_signed_json",
            lambda _: signedjson.sign.verify_signed_json(sj_signed, ORIGIN, sj_verify_key),
        ),
        ("canonicalise (rfc8785.dumps)", lambda _: rfc8785.dumps(signed_part)),
        ("canonicalise (federation.canonical)", lambda _: canonical_bytes(signed_part)),
    ]
    section = Section(
        "federation: one summary envelope",
        context={
            "indicators": len(payload["indicators"]),
            "figures": figures,
            "signed_bytes": len(message),
        },
    )
    for name, operation in operations:
        section.measurements.append(measure(name, operation))

    ingest = bench_inbox_ingest(key, payload)
    if isinstance(ingest, Measurement):
        section.measurements.append(ingest)
        section.notes.append(
            f"inbox ingest: {ingest.note}, one commit per envelope, a new period each; "
            f"only {ingest.iterations} samples in the time budget, so p99 is close to the maximum"
        )
    else:
        section.notes.append(ingest)
    section.notes.insert(
        0,
        f"document: {len(payload['indicators'])} indicators, {figures} figures, "
        f"{len(message):,} signed bytes (RFC 8785)",
    )
    return section


if __name__ == "__main__":
    from bench.__main__ import main

    raise SystemExit(main(["bench_federation"]))
