"""The secretariat's refusals in the reader's words (registered by ``init_app``;
see :mod:`node.refusals`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from node.refusals import Message

MESSAGES: dict[str, Message] = {
    "not_a_member": _l("%(city)s is not a member of the network."),
    "release_exists": _l(
        "Version %(version)s was already published; a published release never changes. Choose a "
        "new version number."
    ),
    "release_not_found": _l("There is no catalogue release %(version)s."),
    "release_outdated": _l(
        "Catalogue %(version)s is older than %(current)s, which this node already follows."
    ),
    "already_adopted": _l("Catalogue %(version)s is already adopted."),
    "release_base_changed": _l(
        "Release %(version)s was published since you compared: compare again."
    ),
}
