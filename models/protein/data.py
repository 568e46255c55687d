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
from typing import Sequence

import torch

from models.data.fasta import parse_fasta
from models.data.formats import RawInput, format_from_name, open_input
from models.data.tables import Table, parse_table
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
        notes = []
        if self.unknown:
            notes.append(f"{self.source}: read {self.unknown} U/O/B/Z/J residue(s) as X")
        if self.padding:
            notes.append(
                f"{self.source}: removed {self.padding} J padding residue(s) from sequence ends"
            )
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
    unlabelled = 0
    if raw.format == "fasta":
        records, unknown, padding = _fasta_records(raw)
        if options.label_columns:
            records, unlabelled = _labels_from_table(records, options)
    elif raw.format in ("csv", "tsv"):
        if options.labels_csv:
            raise UsageError(
                "--labels-csv is for FASTA input; a CSV/TSV input carries its own label columns",
                hint="pass --label-column NAME for each label column of the table",
            )
        records, unknown, padding = _table_records(raw, options)
    else:
        raise UsageError(f"{raw.name} is {raw.format}, not a protein input (FASTA, CSV or TSV)")
    return ProteinReadResult(
        records, raw.name, tuple(options.label_columns), unknown, padding, unlabelled,
        options.labels_csv,
    )


def _fasta_records(raw: RawInput) -> tuple[list[ProteinRecord], int, int]:
    records, unknown, padding = [], 0, 0
    for rec in parse_fasta(raw.data, raw.name).records:
        pieces = [Piece(text, number) for number, text in rec.lines]
        clean = clean_sequence(pieces, rec.id, raw.name, rec.line)
        records.append(ProteinRecord(rec.id, clean.residues, rec.line))
        unknown, padding = unknown + clean.unknown, padding + clean.padding
    return records, unknown, padding


def _table_records(raw: RawInput, options: ProteinOptions) -> tuple[list[ProteinRecord], int, int]:
    table = parse_table(raw.data, raw.name, raw.format)
    k = table.index(options.sequence_column, "--sequence-column")
    ids = _ids(table, options.id_column)
    labels = [table.numbers(name, "--label-column") for name in options.label_columns]
    records, unknown, padding = [], 0, 0
    for i, row in enumerate(table.rows):
        piece = Piece(row.cells[k], row.line, row.columns[k])
        clean = clean_sequence([piece], ids[i], raw.name, row.line)
        records.append(ProteinRecord(ids[i], clean.residues, row.line, tuple(v[i] for v in labels)))
        unknown, padding = unknown + clean.unknown, padding + clean.padding
    return records, unknown, padding


def _ids(table: Table, id_column: str | None) -> list[str]:
    if id_column is None:
        return [f"line{row.line}" for row in table.rows]
    k = table.index(id_column, "--id-column")
    for row in table.rows:
        if not row.cells[k]:
            raise InputDataError(
                f"{table.source} line {row.line}: empty id in column {id_column!r}"
            )
    return [row.cells[k] for row in table.rows]


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
