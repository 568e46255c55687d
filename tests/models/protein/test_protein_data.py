"""Tests for models/protein/data.py: records, ids and labels from FASTA, CSV and TSV inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models.data.formats import RawInput
from models.errors import InputDataError, UsageError
from models.protein.data import ProteinOptions, protein_dataset, read_proteins


def fasta(text: str) -> RawInput:
    return RawInput(text.encode(), "s.fasta", "fasta")


def csv(text: str, fmt: str = "csv") -> RawInput:
    return RawInput(text.encode(), f"t.{fmt}", fmt)


def test_fasta_records_keep_ids_and_header_lines() -> None:
    result = read_proteins(fasta(">a desc\nmkv\nLL*\n>b\nJJAUJ\n"))

    assert [(r.id, r.sequence, r.line, r.labels) for r in result.records] == [
        ("a", "MKVLL", 1, ()), ("b", "AX", 4, ()),
    ]
    assert result.notes() == [
        "s.fasta: read 1 U/O/B/Z/J residue(s) as X",
        "s.fasta: removed 3 J padding residue(s) from sequence ends",
    ]


def test_csv_ids_are_lines_or_the_id_column() -> None:
    raw = csv("name,sequence,fitness,other\nx1,MKV,1.5,2\n\nx2,QQ,,3\n")

    plain = read_proteins(raw, ProteinOptions(label_columns=("fitness", "other")))
    named = read_proteins(raw, ProteinOptions(id_column="name"))

    assert [r.id for r in plain.records] == ["line2", "line4"]
    assert plain.label_names == ("fitness", "other")
    assert plain.records[0].labels == (1.5, 2.0)
    assert math.isnan(plain.records[1].labels[0])
    assert [r.id for r in named.records] == ["x1", "x2"]


def test_csv_residue_errors_point_into_the_line() -> None:
    with pytest.raises(InputDataError, match=r"t.tsv line 3, column 4: record line3 has '-'"):
        read_proteins(csv("fitness\tsequence\n1\tMKV\n2\tM-K\n", "tsv"))


def test_sequence_column_option_errors() -> None:
    with pytest.raises(UsageError, match="no column 'sequence'"):
        read_proteins(csv("seq\nMKV\n"))
    assert read_proteins(csv("seq\nMKV\n"), ProteinOptions(sequence_column="seq")).records[0].sequence == "MKV"


def test_fasta_labels_from_a_table_by_id(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,fitness\nb,2.5\na,1.0\nz,9\n", encoding="utf-8")
    options = ProteinOptions(label_columns=("fitness",), labels_csv=str(labels))

    result = read_proteins(fasta(">a\nM\n>b\nK\n>c\nL\n"), options)

    values = [r.labels[0] for r in result.records]
    assert values[:2] == [1.0, 2.5] and math.isnan(values[2])
    assert result.unlabelled == 1
    assert "1 record(s) have no row in" in result.notes()[0]


def test_fasta_labels_need_a_table_and_tables_need_no_table(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --labels-csv"):
        read_proteins(fasta(">a\nM\n"), ProteinOptions(label_columns=("fitness",)))
    with pytest.raises(UsageError, match="--labels-csv is for FASTA input"):
        options = ProteinOptions(label_columns=("y",), labels_csv=str(tmp_path / "x.csv"))
        read_proteins(csv("sequence,y\nM,1\n"), options)
    with pytest.raises(UsageError, match="--labels-csv needs at least one --label-column"):
        read_proteins(fasta(">a\nM\n"), ProteinOptions(labels_csv=str(tmp_path / "x.csv")))


def test_duplicate_label_ids_are_an_error(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("id,y\na,1\na,2\n", encoding="utf-8")

    with pytest.raises(InputDataError, match="line 3: id 'a' appears twice"):
        read_proteins(fasta(">a\nM\n"), ProteinOptions(label_columns=("y",), labels_csv=str(labels)))


def test_dataset_targets_and_fingerprint() -> None:
    a = read_proteins(csv("sequence,y\nMKV,1\nQQ,NA\n"), ProteinOptions(label_columns=("y",)))
    b = read_proteins(csv("sequence,y\nMKV,1\nQQ,2\n"), ProteinOptions(label_columns=("y",)))

    data, names, fingerprint = protein_dataset([a])

    assert data.examples == ["MKV", "QQ"] and names == ("y",)
    assert data.targets["y"][0] == 1.0 and math.isnan(float(data.targets["y"][1]))
    assert fingerprint != protein_dataset([b])[2]
    assert fingerprint == protein_dataset([a])[2]
