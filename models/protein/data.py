"""Protein records from FASTA, CSV or TSV inputs, with optional fitness labels.

FASTA records keep their ids (:mod:`models.data.fasta`); CSV/TSV rows take their sequence from one
column and their id from ``--id-column`` or, without it, ``line<K>`` (K the 1-based line). Labels
come from numeric CSV/TSV columns, or for FASTA from a separate table keyed by record id. Every
sequence goes through the alphabet rules of :mod:`models.protein.alphabet`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from models.data.fasta import fasta_records
from models.data.formats import RawInput, format_from_name, open_input
from models.data.tables import Table, TableRow, label_value, parse_table, table_rows
from models.errors import InputDataError, UsageError
from models.protein.alphabet import Piece, clean_sequence
from models.training import Dataset


@dataclass(frozen=True)
class ProteinOptions:
    """How to find sequences, ids and labels in an input (the CLI's table options).

    Args:
        sequence_column: CSV/TSV column holding the sequences.
        id_column: CSV/TSV column holding record ids; for ``labels_csv`` it defaults to ``id``.
        label_columns: numeric columns to read as labels, one prediction head each.
        labels_csv: for FASTA input, a CSV/TSV with an id column and the label columns.
    """

    sequence_column: str = "sequence"
    id_column: str | None = None
    label_columns: tuple[str, ...] = ()
    labels_csv: str | None = None


@dataclass(frozen=True)
class ProteinRecord:
    """One cleaned protein: id, residues (20 amino acids and X), source line and labels."""

    id: str
    sequence: str
    line: int
    labels: tuple[float, ...] = ()


@dataclass(frozen=True)
class ProteinReadResult:
    """The records of one input, in order, plus what reading changed.

    Args:
        records: at least one record.
        source: display name of the input.
        label_names: the label columns, in the order of each record's ``labels``.
        unknown: residues read as X (U, O, B, Z, interior J).
        padding: J padding residues removed from sequence ends.
        unlabelled: records that found no row in ``labels_source``.
        labels_source: the labels table of a FASTA input, if any.
    """

    records: list[ProteinRecord]
    source: str
    label_names: tuple[str, ...] = ()
    unknown: int = 0
    padding: int = 0
    unlabelled: int = 0
    labels_source: str | None = None

    def notes(self) -> list[str]:
        """One line per change made while reading, for the user (empty when nothing changed)."""
        notes = ReadCounts(self.unknown, self.padding).notes(self.source)
        if self.unlabelled:
            notes.append(
                f"{self.source}: {self.unlabelled} record(s) have no row in {self.labels_source} "
                "and are unlabelled"
            )
        return notes


def read_proteins(raw: RawInput, options: ProteinOptions = ProteinOptions()) -> ProteinReadResult:
    """Read the protein records of a FASTA, CSV or TSV input.

    Raises:
        InputDataError: malformed input, a bad residue, a bad label value.
        UsageError: options that do not fit the input (a missing column, labels for FASTA
            without ``labels_csv``...).
    """
    if options.labels_csv and not options.label_columns:
        raise UsageError(
            "--labels-csv needs at least one --label-column naming the label(s) to read",
            hint="eddpm train --data seqs.fasta --labels-csv FILE --label-column fitness",
        )
    counts = ReadCounts()
    records = list(iter_proteins(raw, options, counts))
    unlabelled = 0
    if raw.format == "fasta" and options.label_columns:
        records, unlabelled = _labels_from_table(records, options)
    return ProteinReadResult(
        records, raw.name, tuple(options.label_columns), counts.unknown, counts.padding,
        unlabelled, options.labels_csv,
    )


@dataclass
class ReadCounts:
    """Residues changed while reading: read as X (``unknown``) and J padding removed."""

    unknown: int = 0
    padding: int = 0

    def add(self, clean) -> None:
        self.unknown += clean.unknown
        self.padding += clean.padding

    def notes(self, source: str) -> list[str]:
        """One line per kind of change, for the user (empty when nothing changed)."""
        notes = []
        if self.unknown:
            notes.append(f"{source}: read {self.unknown} U/O/B/Z/J residue(s) as X")
        if self.padding:
            notes.append(
                f"{source}: removed {self.padding} J padding residue(s) from sequence ends"
            )
        return notes


def iter_proteins(
    raw: RawInput, options: ProteinOptions = ProteinOptions(), counts: ReadCounts | None = None
) -> Iterator[ProteinRecord]:
    """The cleaned records of a FASTA, CSV or TSV input one at a time, as they are read (a file
    input is streamed); changed residues are counted in ``counts``. Labels of a table's
    ``label_columns`` are attached; a FASTA input's ``labels_csv`` is not (see
    :func:`read_proteins`).

    Raises:
        InputDataError, UsageError: as for :func:`read_proteins`.
    """
    counts = counts if counts is not None else ReadCounts()
    if raw.format == "fasta":
        for rec in fasta_records(raw.lines(), raw.name):
            pieces = [Piece(text, number) for number, text in rec.lines]
            clean = clean_sequence(pieces, rec.id, raw.name, rec.line)
            counts.add(clean)
            yield ProteinRecord(rec.id, clean.residues, rec.line)
    elif raw.format in ("csv", "tsv"):
        if options.labels_csv:
            raise UsageError(
                "--labels-csv is for FASTA input; a CSV/TSV input carries its own label columns",
                hint="pass --label-column NAME for each label column of the table",
            )
        yield from _table_records(raw, options, counts)
    else:
        raise UsageError(f"{raw.name} is {raw.format}, not a protein input (FASTA, CSV or TSV)")


def _table_records(raw: RawInput, options: ProteinOptions,
                   counts: ReadCounts) -> Iterator[ProteinRecord]:
    columns = None
    for header, row in table_rows(raw.lines(), raw.name, raw.format):
        if columns is None:  # checked at the first data row: a header-only table has no examples
            table = Table(header, [], raw.name)
            id_k = None if options.id_column is None else table.index(options.id_column,
                                                                          "--id-column")
            columns = (table.index(options.sequence_column, "--sequence-column"), id_k,
                       [table.index(name, "--label-column") for name in options.label_columns])
        k, id_k, label_ks = columns
        record_id = (f"line{row.line}" if id_k is None
                     else _row_id(row, id_k, options.id_column, raw.name))
        labels = tuple(label_value(row.cells[j], row.line, name, raw.name)
                       for j, name in zip(label_ks, options.label_columns))
        clean = clean_sequence([Piece(row.cells[k], row.line, row.columns[k])], record_id,
                               raw.name, row.line)
        counts.add(clean)
        yield ProteinRecord(record_id, clean.residues, row.line, labels)


def _row_id(row: TableRow, k: int, column: str, source: str) -> str:
    if not row.cells[k]:
        raise InputDataError(f"{source} line {row.line}: empty id in column {column!r}")
    return row.cells[k]


def _labels_from_table(
    records: list[ProteinRecord], options: ProteinOptions
) -> tuple[list[ProteinRecord], int]:
    """Attach labels from ``options.labels_csv`` by record id; records without a row get NaN."""
    if not options.labels_csv:
        raise UsageError(
            "--label-column with FASTA input needs --labels-csv FILE (a table of id and labels)",
            hint="eddpm train --data seqs.fasta --labels-csv fitness.csv --id-column id "
            "--label-column fitness",
        )
    source = options.labels_csv
    fmt = format_from_name(source)
    table_input = open_input(source, fmt if fmt in ("csv", "tsv") else "csv")
    table = parse_table(table_input.data, table_input.name, table_input.format)
    id_column = options.id_column or "id"
    ids = [row.cells[table.index(id_column, "--id-column")] for row in table.rows]
    values = [table.numbers(name, "--label-column") for name in options.label_columns]
    by_id: dict[str, tuple[float, ...]] = {}
    for i, (row, key) in enumerate(zip(table.rows, ids)):
        if key in by_id:
            raise InputDataError(f"{table.source} line {row.line}: id {key!r} appears twice")
        by_id[key] = tuple(v[i] for v in values)
    missing = tuple(math.nan for _ in options.label_columns)
    labelled = [ProteinRecord(r.id, r.sequence, r.line, by_id.get(r.id, missing)) for r in records]
    return labelled, sum(r.id not in by_id for r in records)


def protein_dataset(results: Sequence[ProteinReadResult]) -> tuple[Dataset, tuple[str, ...], str]:
    """Training data from one or more read inputs.

    Returns:
        The dataset (cleaned sequences; one float target tensor (N,) per label column, NaN where
        unlabelled), the label names, and a SHA-256 fingerprint of ids, sequences and labels.

    Raises:
        UsageError: the inputs have different label columns.
    """
    names = results[0].label_names
    for result in results[1:]:
        if result.label_names != names:
            raise UsageError(f"{result.source} has labels {result.label_names}, expected {names}")
    records = [r for result in results for r in result.records]
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r.id}\t{r.sequence}\t{r.labels}\n".encode())
    targets = {
        name: torch.tensor([r.labels[k] for r in records], dtype=torch.float32)
        for k, name in enumerate(names)
    }
    return Dataset([r.sequence for r in records], targets), names, digest.hexdigest()
