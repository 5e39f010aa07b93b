"""A read-only, database-free view of the catalogue for pure code (importers, exporters, summaries).

Services build it from the database once per operation (:func:`node.services.catalogue.view`);
pure functions take it as an argument, so they can be tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IndicatorInfo:
    code: str
    name: str
    type: str  # structural | process | outcome
    value_type: str  # number | boolean | ordinal
    unit_code: str
    unit_label: str
    direction: str  # good_up | good_down | context
    dimensions: tuple[str, ...]
    right: str = ""
    core: bool = False
    maps_to: str | None = None


@dataclass(frozen=True)
class DimensionInfo:
    code: str
    label: str
    codes: dict[str, str] = field(default_factory=dict)  # code → label, in catalogue order


@dataclass(frozen=True)
class CatalogueView:
    indicators: dict[str, IndicatorInfo]
    dimensions: dict[str, DimensionInfo]
    version: str | None = None

    def known_codes(self) -> dict[str, set[str]]:
        return {code: set(dim.codes) for code, dim in self.dimensions.items()}
