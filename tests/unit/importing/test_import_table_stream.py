"""``open_table`` (a CSV read as a stream) gives exactly what ``read_table`` gives on the bytes.

Same header and header row, same data rows, same row errors, or the same ``TableError``
message, for random files: separators ``,``/``;``, quoted cells with line breaks, blank lines,
short and long rows, a BOM, NUL, bytes that are not UTF-8, files that end anywhere. Small chunks
(the stream checks the file chunk by chunk) put chunk edges everywhere.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.importing import RowError, TableError, open_table, read_table
from node.importing import table as table_module

PIECES = [
    "indicator",
    "period",
    "value",
    "HRC-HOU-01",
    "2021",
    "12.5",
    "",
    " ",
    ",",
    ";",
    '"a,b"',
    '"line\nbreak"',
    "\n",
    "\r\n",
    "\r",
    "é",
    "\x00",
    '"',
    "\u2028",
]


def _whole(data: bytes) -> Any:
    try:
        table = read_table("f.csv", data)
    except TableError as exc:
        return ("refused", exc.message)
    return ("table", table.header, table.header_row, table.rows, table.errors)


def _streamed(data: bytes) -> Any:
    try:
        stream = open_table("f.csv", io.BytesIO(data))
    except TableError as exc:
        return ("refused", exc.message)
    errors: list[RowError] = []
    try:
        rows = list(stream.rows(errors.append))
    except TableError as exc:
        return ("refused", exc.message)
    finally:
        stream.close()
    return ("table", stream.header, stream.header_row, rows, errors)


@settings(
    max_examples=300,
    deadline=None,
    # the patched chunk size is set again for every input
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    bom=st.booleans(),
    garbage=st.sampled_from([b"", b"\xff", b"\xc3"]),
    chunk=st.integers(1, 7),
)
def test_a_streamed_csv_reads_as_the_whole_bytes_read(
    monkeypatch: pytest.MonkeyPatch, text: str, bom: bool, garbage: bytes, chunk: int
) -> None:
    monkeypatch.setattr(table_module, "_CHUNK", chunk)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode() + garbage
    assert _streamed(data) == _whole(data)


def test_the_row_limit_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_module, "MAX_ROWS", 3)
    for rows in (3, 4):
        data = ("a,b\n" + "1,2\n" * rows).encode()
        assert _streamed(data) == _whole(data)
    assert _streamed(("a,b\n" + "1,2\n" * 4).encode())[0] == "refused"
