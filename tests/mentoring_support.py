"""Helpers for mentoring tests on one node: a twin, and a proposal as the inbox applies it."""

from __future__ import annotations

from typing import Any

from flask import Flask

from node.network.models import Peer
from peer_review.mentoring import acting, receiving
from schemas.mentoring import PROPOSED_TYPE
from tests.support import Clock

PARTNER = "it-padova"


def add_peer(db: Any, clock: Clock, city_id: str = PARTNER, role: str = "city") -> None:
    """An active peer of the test node (a twin city, or the secretariat it joined)."""
    with db() as session:
        session.add(
            Peer(
                city_id=city_id,
                name=city_id.split("-")[-1].title(),
                base_url="http://127.0.0.1:5102",
                role=role,
                state="active",
                requested_at=clock(),
                failures=0,
                pulled_seq=0,
                unavailable=False,
            )
        )
        if role == "secretariat":
            # The secretariat a city joined is the pinned one (node.network.trust), not a peer
            # whose role says so: pin it as membership would.
            from federation.keys import generate_signing_key
            from node.network.models import SecretariatAnchor

            key = generate_signing_key()
            session.add(
                SecretariatAnchor(
                    slot=1,
                    city_id=city_id,
                    base_url="http://127.0.0.1:5102",
                    key_id=key.key_id,
                    public_b64=key.public_b64,
                    state="pinned",
                    how="membership",
                    pinned_at=clock(),
                )
            )


def receive_proposal(
    app: Flask, db: Any, clock: Clock, rel_id: str, *, seq: int = 1, title: str = "Budgeting"
) -> str:
    """The twin proposes to mentor the test node (applied as the inbox would, minus transport)."""
    config = app.extensions["hrcnet"].config
    with db() as session:
        peer = session.get(Peer, PARTNER)
        payload = {
            "relationship_id": rel_id,
            "action": "propose",
            "actor_role": "mentor_lead",
            "mentor": PARTNER,
            "mentee": config.city_id,
            "title": title,
            "purpose": "",
        }
        receiving.receive(
            session,
            config,
            PROPOSED_TYPE,
            payload,
            peer,
            acting.Carrier(PARTNER, seq, f"{seq:064x}"),
            acting.ms(clock()),
            clock(),
        )
    return rel_id
