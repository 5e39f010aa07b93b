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
    # The report form's fields (node.community.services): the same sentences the form has
    # always shown, now found by their variant like every other refusal.
    "validation_failed:report_category": _l("Choose one of the categories."),
    "validation_failed:report_district": _l("Choose one of the city's districts."),
    "validation_failed:report_date_format": _l("Give the date as YYYY-MM-DD."),
    "validation_failed:report_date_future": _l("The date cannot be in the future."),
    "validation_failed:report_date_too_old": _l(
        "Only incidents of the last 12 months can be reported."
    ),
    "validation_failed:report_description_short": _l(
        "Describe what happened (at least 10 characters)."
    ),
    "validation_failed:report_description_long": _l("At most 2,000 characters."),
    "validation_failed:report_description_links": _l("At most 2 web links."),
    "validation_failed:report_coordinates": _l(
        "Give both latitude (-90 to 90) and longitude (-180 to 180) as decimal degrees, or neither."
    ),
    "validation_failed:report_contact_long": _l("At most 200 characters."),
}
