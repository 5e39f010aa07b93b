"""Words the pages show from data (states, types, trends…), marked here for translation.

Templates translate such a value with ``{{ _(value) }}``; extraction cannot see a variable, so
every value a page passes through ``_()`` is listed here with the no-op marker ``N_`` (pybabel
extracts ``N_``; see ``babel.cfg``). A value missing here would stay English on every page:
``tests/web/test_i18n.py`` checks these lists against the sets of values the code defines.
"""

from __future__ import annotations


def N_(text: str) -> str:
    """Mark ``text`` for extraction without translating it (it is translated where shown)."""
    return text


INDICATOR_TYPES = (N_("structural"), N_("process"), N_("outcome"))
RESULT_STATUSES = (N_("draft"), N_("validated"), N_("published"))
PROGRESS_LABELS = (
    N_("Target achieved"),
    N_("On track"),
    N_("Off track"),
    N_("Improving"),
    N_("Worsening"),
    N_("No change"),
    N_("No data"),
    N_("No baseline or target"),
    N_("Not assessed"),
    N_("Breakdowns only (no total)"),
)
BENCHMARK_TRENDS = (N_("improving"), N_("worsening"), N_("stable"), N_("no_data"))
PEER_STATES = (
    N_("pending"),
    N_("requested"),
    N_("active"),
    N_("declined"),
    N_("ended"),
    N_("rejected"),
)
PEER_DECISIONS = (N_("Accept"), N_("Decline"), N_("End"))
KEY_CHANGE_STATES = (N_("pending"), N_("confirmed"), N_("rejected"), N_("superseded"))
SUMMARY_ROUTES = (N_("push"), N_("pull"))
MENTORING_STATES = (
    N_("new"),
    N_("proposed"),
    N_("scoping"),
    N_("active"),
    N_("paused"),
    N_("closing"),
    N_("closed"),
    N_("declined"),
    N_("expired"),
)
MENTORING_OUTCOMES = (N_("completed"), N_("ended_early"), N_("abandoned"))
MENTORING_NOTE_KINDS = (N_("progress"), N_("midpoint"), N_("private"))
MENTORING_SESSION_STATES = (
    N_("new"),
    N_("planned"),
    N_("held"),
    N_("documented"),
    N_("cancelled"),
)
MENTORING_GOAL_STATUSES = (N_("achieved"), N_("partly_achieved"), N_("not_achieved"))
ACTION_ITEM_STATUSES = (N_("open"), N_("done"), N_("dropped"))
MENTORING_DEADLINE_KINDS = (
    N_("mentoring_answer"),
    N_("mentoring_agreement"),
    N_("session_notes"),
)
# Kinds of qualitative evidence (node.services.planning.EVIDENCE_KINDS) and how pages name them.
EVIDENCE_KIND_LABELS = {
    "cso_report": N_("Civil-society report"),
    "community_report": N_("Community report"),
    "survey": N_("Survey"),
    "testimony": N_("Testimony"),
    "media": N_("Media report"),
    "other": N_("Other"),
}
USER_ROLES = (
    N_("admin"),
    N_("official"),
    N_("data_collector"),
    N_("cso_partner"),
    N_("reviewer"),
    N_("viewer"),
    N_("secretariat"),
)
EVIDENCE_STATUSES = (N_("submitted"), N_("published"))
