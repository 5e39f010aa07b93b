"""Pure parsing of uploaded result files (no database, no Flask).

:func:`read_table` turns CSV or XLSX bytes into a :class:`Table` of text cells;
:func:`parse_own_layout` and :func:`parse_open_sdg` turn a table into figures
(:class:`ParsedRow`), per-row errors (:class:`RowError`) and rows left out on purpose, against a
:class:`~node.catalogue_view.CatalogueView`. The results service validates and stores the figures.
"""

from node.importing.open_sdg import parse_open_sdg
from node.importing.own_layout import parse_own_layout
from node.importing.profile import ImportProfileSchema, ProfileError, check_profile, load_profile
from node.importing.table import (
    ParsedRow,
    ParseOutcome,
    RowError,
    Table,
    TableError,
    TableRow,
    TableStream,
    open_table,
    read_table,
)

__all__ = [
    "ImportProfileSchema",
    "ParseOutcome",
    "ParsedRow",
    "ProfileError",
    "RowError",
    "Table",
    "TableError",
    "TableRow",
    "TableStream",
    "check_profile",
    "load_profile",
    "open_table",
    "parse_open_sdg",
    "parse_own_layout",
    "read_table",
]
