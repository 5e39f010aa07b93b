"""The federation core's public face: everything a feature may use of ``node.network``.

Features (``peer_review.reviews``, ``peer_review.mentoring``, ``node.secretariat`` …) import
network things from this module only, never from ``inbox``, ``outbox``, ``keyring`` or ``trust``
directly. The internals can then be reshaped without touching a feature, and the import graph
keeps one direction: feature → port → network internals, never back (``tests/unit/core/
test_import_graph.py``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from node.network import keyring
from node.network.inbox import InboxRefusal, load_payload, refuse, still_verifies, store
from node.network.keygate import KeyGate
from node.network.keyring import ms, notary_keys, peer_public_key
from node.network.models import (
    DirectoryEntry,
    InEnvelope,
    KeyChange,
    OutEnvelope,
    Peer,
    PeerKey,
    ReceivedSummary,
)
from node.network.outbox import queue, sign_and_store
from node.network.peers import active_twins, get_peer, peer_to_wire
from node.network.peers import answer as answer_twinning
from node.network.registry import DuplicateRegistration, Inbound, InboundRegistry
from node.network.summaries import own_summaries, received
from node.network.trust import is_pinned_secretariat, record_directory_keys, secretariat_peer


def directory_entry(session: Session, city_id: str) -> DirectoryEntry | None:
    """The pinned secretariat's directory entry for ``city_id`` (None: not listed)."""
    return keyring.directory_entry(session, city_id)


__all__ = [
    "DirectoryEntry",
    "DuplicateRegistration",
    "InEnvelope",
    "Inbound",
    "InboundRegistry",
    "InboxRefusal",
    "KeyChange",
    "KeyGate",
    "OutEnvelope",
    "Peer",
    "PeerKey",
    "ReceivedSummary",
    "active_twins",
    "answer_twinning",
    "directory_entry",
    "get_peer",
    "is_pinned_secretariat",
    "load_payload",
    "ms",
    "notary_keys",
    "own_summaries",
    "peer_to_wire",
    "peer_public_key",
    "queue",
    "received",
    "record_directory_keys",
    "refuse",
    "secretariat_peer",
    "sign_and_store",
    "still_verifies",
    "store",
]
