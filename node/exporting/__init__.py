"""Pure export of results (no database, no Flask): CSV, plain JSON and SDMX-JSON 2.1.0.

Input everywhere: a list of result dicts (``indicator``, ``period``, ``value`` as Decimal or
bool, ``disaggregation``, ``status``, optional ``source``/``method``/``note``) and the
:class:`~node.catalogue_view.CatalogueView`; JSON and SDMX also take the node (``city_id``,
``name``, optional ``base_url``) and the time of preparation.
"""

from node.exporting.sdmx import SDMX_JSON_SCHEMA, sdmx_period, to_sdmx_json
from node.exporting.tabular import to_csv, to_json

__all__ = ["SDMX_JSON_SCHEMA", "sdmx_period", "to_csv", "to_json", "to_sdmx_json"]
