"""The public portal's refusals in the reader's words (registered by ``init_app``;
see :mod:`node.refusals`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.refusals import Message

MESSAGES: dict[str, Message] = {
    "pdf_engine_missing": _l(
        "The PDF cannot be printed on this server; the printable page is available."
    ),
    "report_timeout": _l("Printing the report took too long; please try again later."),
    "report_failed": _l("The report could not be printed."),
}
