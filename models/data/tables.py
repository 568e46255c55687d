"""Read CSV and TSV tables with line numbers: a header row, then one record per row.

Rules:

1. Bytes, gzip, strict UTF-8, a byte-order mark and LF / CRLF / CR line breaks are handled as for
   text inputs (:mod:`models.data.text`). Each physical line is one row: quoted fields may contain
   the delimiter but not a line break.
2. Blank lines are skipped. The first other line is the header; column names are stripped and
   must be unique.
3. Every row needs as many fields as the header; cells are stripped of surrounding whitespace.
4. Numeric (label) columns: empty, ``NA``, ``N/A``, ``NaN``, ``null`` and ``None`` mean missing
   (NaN, an unlabelled example); anything else must be a finite number.
5. No data row at all is an error: ``no examples found in FILE`` or ``no examples on stdin``.

Errors name the source, the 1-based line and, where it applies, the column name.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

from models.data.text import no_examples_error, numbered_lines
from models.errors import InputDataError, UsageError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclass(frozen=True)
class TableRow:
    """One data row.

    Args:
        line: 1-based line number.
        cells: stripped cell values, one per header column.
        columns: 1-based character column where each cell's stripped text starts on the line.
    """

    line: int
    cells: tuple[str, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class Table:
    """A parsed table: header names, data rows (at least one) and the source's display name."""

    header: tuple[str, ...]
    rows: list[TableRow]
    source: str

    def index(self, name: str, option: str) -> int:
        """Position of column ``name``.

        Args:
            name: the column wanted.
            option: the command-line option that chose it, for the hint.

        Raises:
            UsageError: no such column (the message lists the columns there are).
        """
        if name not in self.header:
            raise UsageError(
                f"{self.source} has no column {name!r}; its columns are {', '.join(self.header)}",
                hint=f"choose one with {option} NAME",
            )
        return self.header.index(name)

    def numbers(self, name: str, option: str) -> list[float]:
        """The values of a numeric column, NaN where missing (rule 4).

        Raises:
            UsageError: no such column.
            InputDataError: a value that is not a finite number (names line and column).
        """
        k = self.index(name, option)
        return [label_value(row.cells[k], row.line, name, self.source) for row in self.rows]


def parse_table(data: bytes, name: str, format: str) -> Table:
    """Parse CSV (``format="csv"``) or TSV (``"tsv"``) bytes already read.

    Raises:
        InputDataError: undecodable data, a malformed row, a duplicate column name, or no rows.
    """
    pairs = list(table_rows(numbered_lines(data, name), name, format))
    return Table(header=pairs[0][0], rows=[row for _, row in pairs], source=name)


def table_rows(
    lines: Iterable[tuple[int, str]], name: str, format: str
) -> Iterator[tuple[tuple[str, ...], TableRow]]:
    """``(header, row)`` for each data row of ``(line number, line)`` pairs of CSV (``format=
    "csv"``) or TSV (``"tsv"``), as they are read, so a file can be streamed.

    Raises:
        InputDataError: as for :func:`parse_table`.
    """
    delimiter = DELIMITERS[format]
    header: tuple[str, ...] | None = None
    found = False
    for number, raw in lines:
        if not raw.strip():
            continue
        cells = _split(raw, delimiter, number, name)
        if header is None:
            header = _header(cells, number, name)
            continue
        if len(cells) != len(header):
            raise InputDataError(
                f"{name} line {number}: {len(cells)} field(s), but the header has {len(header)}",
                hint=f"every row needs one value per column, separated by {delimiter!r}",
            )
        stripped = tuple(c.strip() for c in cells)
        found = True
        yield header, TableRow(number, stripped, _starts(raw, stripped))
    if not found:
        detail = "there was no data" if header is None else "there was only a header row"
        raise no_examples_error(name, detail, "a header row and one row per example")


def _split(raw: str, delimiter: str, number: int, name: str) -> list[str]:
    try:
        return next(csv.reader([raw], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise InputDataError(
            f"{name} line {number}: malformed row ({exc})",
            hint="quoted fields must be closed on the same line",
        ) from None


def _header(cells: list[str], number: int, name: str) -> tuple[str, ...]:
    header = tuple(c.strip() for c in cells)
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise InputDataError(
            f"{name} line {number}: duplicate column name(s) {', '.join(duplicates)}"
        )
    return header


def _starts(raw: str, cells: tuple[str, ...]) -> tuple[int, ...]:
    """1-based column where each stripped cell starts on the line, found left to right (exact
    for unquoted rows; quoted cells are found after their opening quote)."""
    starts, position = [], 0
    for cell in cells:
        found = raw.find(cell, position)
        position = found if found >= 0 else position
        starts.append(position + 1)
        position += len(cell)
    return tuple(starts)


def label_value(text: str, line: int, column: str, source: str) -> float:
    """A numeric cell as a float, NaN where missing (rule 4); errors name line and column."""
    if text.lower() in MISSING:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.inf
    if not math.isfinite(value):
        raise InputDataError(
            f"{source} line {line}: column {column!r} has {text!r}, expected a finite number",
            hint="leave the cell empty (or NA) for an unlabelled example",
        )
    return value
