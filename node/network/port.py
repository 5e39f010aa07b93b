"""The federation core's public face: everything a feature may use of ``node.network``.

Features (``peer_review.reviews``, ``peer_review.mentoring``, ``node.secretariat`` …) import
network things from this module only, never from ``inbox``, ``outbox``, ``keyring`` or ``trust``
directly. The internals can then be reshaped without touching a feature, and the import graph
keeps one direction: feature → port → network internals, never back (``tests/unit/core/
test_import_graph.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from node.network.inbox import InboxRefusal, load_payload, refuse, still_verifies, store
from node.network.keyring import ms, notary_keys, peer_public_key
from node.network.models import InEnvelope, OutEnvelope, Peer, ReceivedSummary
from node.network.outbox import queue, sign_and_store
from node.network.registry import Inbound, InboundRegistry
from node.network.summaries import own_summaries, received
from node.network.trust import is_pinned_secretariat, record_directory_keys, secretariat_peer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from node.secretariat.models import DirectoryEntry


def directory_entry(session: Session, city_id: str) -> DirectoryEntry | None:
    """The secretariat's signed directory entry of ``city_id`` as this node holds it (state,
    keys, base URL), or None. Trust data of the core: features read it here, never from its
    table's module (issue 13 moves the table into ``node.network.models``; only this body
    changes then)."""
    # transitional: implemented over the table's current home until the move lands.
    from node.secretariat.models import DirectoryEntry

    return session.get(DirectoryEntry, city_id)


__all__ = [
    "InEnvelope",
    "Inbound",
    "InboundRegistry",
    "InboxRefusal",
    "OutEnvelope",
    "Peer",
    "ReceivedSummary",
    "directory_entry",
    "is_pinned_secretariat",
    "load_payload",
    "ms",
    "notary_keys",
    "own_summaries",
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
