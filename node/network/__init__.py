"""The node's side of the network: peers and twinning, keys, summaries, inbox, outbox, pull.

Where things happen (the questions a newcomer asks first; docs/architecture.md has the picture):

- a summary is built in :mod:`node.network.summaries` (``publish_summary``) and **signed** in
  :mod:`node.network.outbox` (``sign_and_store``);
- envelopes leave through the persistent outbox (``outbox.deliver_outbox``, with
  per-destination backoff) and are caught up by :mod:`node.network.pull` (``pull_from``);
- an incoming envelope passes the transport (:mod:`node.network.blueprint`), the one key gate
  (:mod:`node.network.keygate`), the inbox pipeline where it is **verified**
  (:mod:`node.network.inbox`, ``ingest_envelope``), and the handler its type is registered to
  (:mod:`node.network.registry`, filled by ``node.features``), which **stores** it (a summary:
  :mod:`node.network.handlers`);
- keys (ours, pinned ones, the directory's) live in :mod:`node.network.keyring`;
- features use this package through :mod:`node.network.port` only.

The protocol itself (canonical JSON, signatures, request signatures) is the library
:mod:`federation`; this package adds storage and policy.
"""
