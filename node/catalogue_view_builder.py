"""Build a :class:`~node.catalogue_view.CatalogueView` straight from catalogue JSON documents.

For pure code and tests that have the network's seed catalogue file (and a city's additions,
e.g. ``node/demo/los_angeles/catalogue_additions.json``) but no database. The additions document
has the shape::

    {"dimensions": [{"code", "label", "ground", "codes": [{"code", "label"}]}],
     "dimension_codes": {"SEX": [{"code", "label"}]},
     "indicators": [<entries shaped like the seed catalogue's indicators, core false>]}

The database path (:func:`node.services.catalogue.view`) gives the same view once the same
documents are loaded through the catalogue service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from node.catalogue_view import CatalogueView, DimensionInfo, IndicatorInfo


def view_from_catalogue_json(
    seed: Mapping[str, Any], additions: Mapping[str, Any] | None = None
) -> CatalogueView:
    """The catalogue view of a seed catalogue document plus a city's additions.

    Raises ``ValueError`` when the additions clash with the seed (an indicator, dimension or
    code defined twice) or refer to dimensions that do not exist.
    """
    codes: dict[str, dict[str, str]] = {}
    labels: dict[str, str] = {}
    for code, spec in seed["disaggregation_dimensions"].items():
        labels[code] = spec["label"]
        codes[code] = {str(value): str(label) for value, label in (spec.get("codes") or {}).items()}
    indicators = [(entry, bool(entry.get("core", False))) for entry in seed["indicators"]]

    extra = additions or {}
    for dimension in extra.get("dimensions", []):
        if dimension["code"] in labels:
            raise ValueError(f"dimension {dimension['code']} already exists")
        labels[dimension["code"]] = dimension["label"]
        codes[dimension["code"]] = {}
        _add_codes(codes[dimension["code"]], dimension["code"], dimension.get("codes", []))
    for dimension_code, new_codes in extra.get("dimension_codes", {}).items():
        if dimension_code not in codes:
            raise ValueError(f"codes added to unknown dimension {dimension_code}")
        _add_codes(codes[dimension_code], dimension_code, new_codes)
    for entry in extra.get("indicators", []):
        if entry.get("core"):
            raise ValueError(f"local indicator {entry['code']} must have core false")
        indicators.append((entry, False))

    infos: dict[str, IndicatorInfo] = {}
    for entry, core in indicators:
        if entry["code"] in infos:
            raise ValueError(f"indicator {entry['code']} is defined twice")
        unknown = [dim for dim in entry["disaggregations"] if dim not in labels]
        if unknown:
            raise ValueError(f"indicator {entry['code']} uses unknown dimensions {unknown}")
        infos[entry["code"]] = IndicatorInfo(
            code=entry["code"],
            name=entry["name"],
            type=entry["type"],
            value_type=entry["value_type"],
            unit_code=entry["unit"]["code"],
            unit_label=entry["unit"]["label"],
            direction=entry["direction"],
            dimensions=tuple(entry["disaggregations"]),
            right=entry.get("right", ""),
            core=core,
            maps_to=entry.get("maps_to"),
        )
    dimensions = {code: DimensionInfo(code, labels[code], codes[code]) for code in labels}
    return CatalogueView(infos, dimensions, seed.get("version"))


def _add_codes(target: dict[str, str], dimension: str, new_codes: list[Mapping[str, str]]) -> None:
    for entry in new_codes:
        if entry["code"] in target:
            raise ValueError(f"code {entry['code']} already exists in dimension {dimension}")
        target[entry["code"]] = entry["label"]
