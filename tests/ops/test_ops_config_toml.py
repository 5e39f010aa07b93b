"""``node.toml`` is written with tomli-w and read with tomllib: every value round-trips.

On main the file was written by hand-escaping only ``\\``, ``"`` and newline: a carriage return
or another control character in a city's name made a file the node could not read back.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.config import CONFIG_FILE, load_config, write_config
from tests.support import examples

BASE = {
    "city_id": "be-gent",
    "name": "Gent",
    "country": "BE",
    "region": "europe-west",
    "base_url": "http://127.0.0.1:5001",
}

# Any text TOML can hold: every code point but surrogates (not encodable in UTF-8).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
SCALARS = st.one_of(ANY_TEXT, st.booleans(), st.integers(-(2**63), 2**63 - 1))
KEYS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=examples(300), deadline=None)
@given(values=st.dictionaries(KEYS, SCALARS, max_size=8))
def test_every_value_reads_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, values: dict
) -> None:
    folder = tmp_path_factory.mktemp("toml")
    written = write_config(folder, values)
    assert tomllib.loads(written.read_text(encoding="utf-8")) == values


@pytest.mark.parametrize(
    "name",
    ["Gent\r", "Gent\x00Oost", "Gent\x1b[31m", 'Sint-"Amands"\\', "Gent\u2028", "Ghent\tOost\n"],
)
def test_a_name_with_control_characters_gives_a_node_that_starts(tmp_path: Path, name: str) -> None:
    write_config(tmp_path, {**BASE, "name": name})
    assert load_config(tmp_path, {"database_url": "sqlite://"}).name == name
    assert (tmp_path / CONFIG_FILE).read_text(encoding="utf-8").startswith("# hrcnet node")
