"""The node's side of the network: peers and twinning, keys, summaries, inbox, outbox, pull.

Where things happen (the questions a newcomer asks first):

- a summary is built and **signed** in :mod:`node.network.summaries` (``publish_summary``);
- an incoming envelope is **verified** and **stored** in :mod:`node.network.inbox`
  (``ingest_envelope``: size → parse → key → signature → scope → seq → schema → store);
- envelopes leave through the persistent outbox in :mod:`node.network.outbox`
  (``deliver_outbox``, with per-destination backoff) and are caught up by ``pull_from``;
- keys (ours, pinned ones, fetched ones) live in :mod:`node.network.keyring`.

The protocol itself (canonical JSON, signatures, request signatures) is the library
:mod:`federation`; this package adds storage and policy.
"""
