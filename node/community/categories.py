"""What people can report: categories, each mapped to a right and to catalogue indicators.

The default set fits most cities; a node replaces it with ``[[community_categories]]`` tables in
``node.toml`` (code, label, right, indicators, keywords). Keywords let people type the category
in an SMS in any of the six languages (``EVICTION``, ``EXPULSION``, ``DESALOJO``…) or its number.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from node.errors import InvalidInputError


def N_(text: str) -> str:  # noqa: N802 - the gettext "no-op" marker babel extracts (-k N_)
    """Mark a label for extraction; it is translated where it is shown."""
    return text


@dataclass(frozen=True)
class Category:
    """One kind of incident: its code, label, the right it concerns and related indicators."""

    code: str
    label: str
    right: str
    indicators: tuple[str, ...]
    keywords: tuple[str, ...]

    @property
    def derived_indicator(self) -> str:
        """The local indicator its verified reports are counted in (``CR-<code>``)."""
        return f"CR-{self.code}"


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(
        "EVICTION",
        N_("Forced eviction"),
        "Adequate housing",
        ("HRC-HOU-01",),
        ("eviction", "expulsion", "desalojo", "uitzetting", "sfratto", "kufukuzwa"),
    ),
    Category(
        "WATER",
        N_("Water disconnection"),
        "Water and sanitation",
        ("HRC-WAT-01",),
        ("water", "eau", "agua", "acqua", "maji"),
    ),
    Category(
        "POLLUTION",
        N_("Pollution"),
        "Healthy environment / health",
        ("HRC-ENV-01",),
        ("pollution", "contaminacion", "vervuiling", "inquinamento", "uchafuzi"),
    ),
    Category(
        "DISCRIMINATION",
        N_("Discrimination in services"),
        "Non-discrimination and equality",
        ("HRC-EQU-01",),
        ("discrimination", "discriminacion", "discriminatie", "discriminazione", "ubaguzi"),
    ),
    Category(
        "HEALTH",
        N_("Denied health care"),
        "Health",
        ("HRC-HEA-01",),
        ("health", "sante", "salud", "gezondheid", "salute", "afya"),
    ),
)


def fold(text: str) -> str:
    """Lower case without accents: ``DESALOJO``, ``désalojo`` and ``desalojo`` read the same."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def categories_from_config(raw: list[dict[str, Any]] | None) -> tuple[Category, ...]:
    """The node's categories: its ``community_categories`` tables, or the default set."""
    if not raw:
        return DEFAULT_CATEGORIES
    loaded: list[Category] = []
    for position, item in enumerate(raw):
        code = str(item.get("code", "")).strip().upper()
        if not code.isascii() or not code.replace("_", "").isalnum() or len(code) > 30:
            raise InvalidInputError(f"community_categories[{position}]: bad code {code!r}")
        loaded.append(
            Category(
                code=code,
                label=str(item.get("label") or code),
                right=str(item.get("right") or ""),
                indicators=tuple(str(c) for c in item.get("indicators") or ()),
                keywords=tuple(fold(str(k)) for k in item.get("keywords") or ()),
            )
        )
    return tuple(loaded)


def find_category(categories: tuple[Category, ...], word: str) -> Category | None:
    """The category a typed word names: its number (1-based), its code or one of its keywords."""
    folded = fold(word)
    if folded.isdigit():
        index = int(folded) - 1
        return categories[index] if 0 <= index < len(categories) else None
    for category in categories:
        if folded == category.code.lower() or folded in category.keywords:
            return category
    return None


# Which language a keyword is in, so the SMS reply speaks it (the default set's keywords).
KEYWORD_LANGUAGE = {
    "expulsion": "fr",
    "eau": "fr",
    "sante": "fr",
    "desalojo": "es",
    "agua": "es",
    "contaminacion": "es",
    "discriminacion": "es",
    "salud": "es",
    "uitzetting": "nl",
    "vervuiling": "nl",
    "discriminatie": "nl",
    "gezondheid": "nl",
    "sfratto": "it",
    "acqua": "it",
    "inquinamento": "it",
    "discriminazione": "it",
    "salute": "it",
    "kufukuzwa": "sw",
    "maji": "sw",
    "uchafuzi": "sw",
    "ubaguzi": "sw",
    "afya": "sw",
}

# Report states as pages show them ({{ _(state) }}), marked for extraction.
STATE_WORDS = (N_("received"), N_("verified"), N_("duplicate"), N_("rejected"))
