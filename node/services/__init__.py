"""Service functions: take a session (and ``now``), do one thing, flush, never commit.

They raise :mod:`node.errors` domain errors and never touch Flask's request, so the API, the
pages, the CLI and the scheduler's jobs share them.
"""
