"""Tests for models/data/formats.py: an input's format from --format, its name or its content."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from models.data.formats import format_from_name, open_input, sniff_format
from models.errors import UsageError


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.fasta", "fasta"), ("a.FA", "fasta"), ("x/a.faa.gz", "fasta"), ("a.fas", "fasta"),
     ("a.csv", "csv"), ("a.tsv.gz", "tsv"), ("a.txt", "text"), ("a.dat", None), ("-", None)],
)
def test_format_from_name(name: str, fmt: str | None) -> None:
    assert format_from_name(name) == fmt


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(b">a\nM\n", "fasta"), (b"\xef\xbb\xbf\n  >a\nM\n", "fasta"), (b"MKV\n", "text"), (b"", "text"),
     (b"sequence,fitness\n", "text")],
)
def test_sniff(data: bytes, fmt: str) -> None:
    assert sniff_format(data) == fmt


def test_name_beats_content_and_format_beats_both(tmp_path: Path) -> None:
    path = tmp_path / "seqs.fasta"
    path.write_bytes(b"MKV\n")

    assert open_input(path).format == "fasta"
    assert open_input(path, "text").format == "text"
    assert open_input(path).modality == "protein"


def test_stdin_is_sniffed_after_gunzip() -> None:
    raw = open_input("-", stdin=io.BytesIO(gzip.compress(b">a\nM\n")))

    assert (raw.format, raw.name, raw.data) == ("fasta", "<stdin>", b">a\nM\n")


def test_unknown_format() -> None:
    with pytest.raises(UsageError, match="unknown input format 'xml'"):
        open_input("-", "xml", stdin=io.BytesIO(b""))
