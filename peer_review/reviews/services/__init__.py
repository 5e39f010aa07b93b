"""Review services, one module per part of the workflow (each imported by its own name):

- :mod:`.queries` — reading a review's tables and the roles a user holds in it;
- :mod:`.drafting` — a city's draft request and :func:`~.drafting.act`, where every move starts;
- :mod:`.decisions` — the home node's :func:`~.decisions.decide` and the shared checks;
- :mod:`.projection` — the event log and :func:`~.projection.fold`, the same on every node;
- :mod:`.relaying` — the home node sending events (and readable bodies) to participants;
- :mod:`.receiving` — a participant appending the events its home node relays;
- :mod:`.presentation` — what the API and the pages show.
"""
