"""The community reports' refusals in the reader's words (registered by ``init_app``;
see :mod:`node.refusals`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.refusals import Message

MESSAGES: dict[str, Message] = {
    "report_invalid": _l(
        "The report is not complete; nothing was saved. See the messages beside the fields."
    ),
    "report_not_found": _l("There is no such community report."),
    "report_already_in_state": _l("The report is already in this state."),
    "duplicate_of_required": _l("Name the report this one duplicates."),
    "bad_duplicate_of": _l("A report can only duplicate another, original report."),
    "report_not_verified": _l("Only verified reports can become evidence: verify it first."),
    "no_indicator": _l("The report's category is linked to no indicator."),
    "rate_limited": _l("Too many reports came from this source: please try again later."),
    "unknown_gateway": _l("There is no such SMS gateway."),
}
