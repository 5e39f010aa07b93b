"""Fill the six page catalogues from translation files kept beside the code.

Branches worked on in parallel each add page strings; if each edited the six ``messages.po``
files, every merge would conflict in them. Instead a branch keeps its translations in
``node/translations/pending/<topic>.json`` and this script writes them into the catalogues
after ``make i18n-extract`` (``make i18n-fill`` does both). A pending file is a JSON list::

    [{"msgid": "Targets", "fr": "Cibles", "es": "Metas", "nl": "Doelen",
      "it": "Obiettivi", "sw": "Malengo"},
     {"msgid": "%(n)d report", "msgid_plural": "%(n)d reports",
      "fr": ["%(n)d signalement", "%(n)d signalements"], ...}]

English needs no entry: its empty or fuzzy entries get the msgid itself. Only an *empty* or
fuzzy msgstr is filled, so a translation already reviewed in a ``.po`` file is never
overwritten; an entry whose msgid is no longer extracted is reported and skipped. Once merged,
pending files may be deleted: the catalogues hold their text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

TRANSLATIONS = Path(__file__).resolve().parent.parent / "node" / "translations"
LOCALES = ("fr", "es", "nl", "it", "sw")


def _load_pending(folder: Path) -> dict[str, dict[str, object]]:
    """Every pending entry by msgid; a msgid given twice with different text is an error."""
    entries: dict[str, dict[str, object]] = {}
    for path in sorted(folder.glob("*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")):
            msgid = entry["msgid"]
            previous = entries.get(msgid)
            if previous is not None and previous != entry:
                # Two branches translated one string differently: a person must choose.
                raise SystemExit(f"{path.name}: {msgid!r} is translated differently elsewhere")
            entries[msgid] = entry
    return entries


def fill(folder: Path = TRANSLATIONS / "pending") -> int:
    """Write the pending translations into the catalogues; returns the number of strings filled."""
    pending = _load_pending(folder)
    filled = 0
    for locale in LOCALES:
        po_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        for message in catalog:
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            if not key or key not in pending:
                continue
            text = pending[key].get(locale)
            if text is None:
                continue
            current = message.string
            empty = not any(current) if isinstance(current, tuple) else not current
            if not empty and not message.fuzzy:
                continue
            message.string = tuple(text) if isinstance(message.id, tuple) else text
            message.flags.discard("fuzzy")
            filled += 1
        with po_path.open("wb") as handle:
            write_po(handle, catalog, width=0, include_previous=False)
    filled += _fill_english()
    extracted: set[str] = set()
    with (TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        for message in read_po(handle):
            extracted.add(message.id[0] if isinstance(message.id, tuple) else message.id)
    for msgid in sorted(set(pending) - extracted):
        print(f"not extracted (skipped): {msgid!r}", file=sys.stderr)
    return filled


def _fill_english() -> int:
    """English is the language of the msgids: an empty or fuzzy English entry (pybabel's update
    fuzzy-matches a new msgid to an old, different text: "Answer" -> "Answer due") shows the
    msgid itself. Returns the number of entries written."""
    po_path = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale="en")
    filled = 0
    for message in catalog:
        if not message.id:
            continue
        current = message.string
        empty = not all(current) if isinstance(current, tuple) else not current
        if not empty and not message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            singular, plural = message.id[0], message.id[1]
            message.string = (singular,) + (plural,) * (catalog.num_plurals - 1)
        else:
            message.string = message.id
        message.flags.discard("fuzzy")
        filled += 1
    with po_path.open("wb") as handle:
        write_po(handle, catalog, width=0, include_previous=False)
    return filled


if __name__ == "__main__":
    print(f"{fill()} translations filled")
