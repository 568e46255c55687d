"""Tests for models/data/tables.py: CSV/TSV rows with line numbers, columns and numbers."""

from __future__ import annotations

import math

import pytest

from models.data.tables import parse_table
from models.errors import InputDataError, UsageError


def test_header_rows_lines_and_columns() -> None:
    table = parse_table(b"sequence,fitness\n\nMKV,1.5\n QQ , NA\n", "t.csv", "csv")

    assert table.header == ("sequence", "fitness")
    assert [(r.line, r.cells) for r in table.rows] == [(3, ("MKV", "1.5")), (4, ("QQ", "NA"))]
    assert [r.columns for r in table.rows] == [(1, 5), (2, 7)]


def test_tsv_with_quotes_crlf_and_bom() -> None:
    table = parse_table(b'\xef\xbb\xbfid\tsequence\r\n"a\tb"\tMKV\r\n', "t.tsv", "tsv")

    assert table.header == ("id", "sequence")
    assert table.rows[0].cells == ("a\tb", "MKV")
    assert table.rows[0].columns[1] == 7


def test_numbers_missing_values_are_nan() -> None:
    table = parse_table(b"y\n1\n\n-2.5e1\nNA\nnan\n\"\"\nnull\n", "t.csv", "csv")

    values = table.numbers("y", "--label-column")

    assert values[:2] == [1.0, -25.0]
    assert all(math.isnan(v) for v in values[2:])


@pytest.mark.parametrize("cell", [b"abc", b"inf", b"-Infinity"])
def test_non_numbers_name_line_and_column(cell: bytes) -> None:
    table = parse_table(b"s,y\nM,1\nK," + cell + b"\n", "t.csv", "csv")

    with pytest.raises(InputDataError, match=r"t.csv line 3: column 'y' has"):
        table.numbers("y", "--label-column")


def test_unknown_column_lists_the_columns() -> None:
    table = parse_table(b"seq,y\nM,1\n", "t.csv", "csv")

    with pytest.raises(UsageError, match="t.csv has no column 'sequence'; its columns are seq, y") as info:
        table.index("sequence", "--sequence-column")
    assert "--sequence-column" in info.value.hint


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a,b\n1,2,3\n", "line 2: 3 field"),
        (b"a,a\n1,2\n", "line 1: duplicate column name"),
        (b'a,b\n"1,2\n', "line 2: malformed row"),
        (b"a,b\n", "no examples found in t.csv"),
        (b"", "no examples found in t.csv"),
    ],
)
def test_malformed_tables(data: bytes, message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        parse_table(data, "t.csv", "csv")
