"""Tests for models/data/formats.py: an input's format from --format, its name or its content."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from models.data.formats import format_from_name, is_image_source, open_input, sniff_format
from models.errors import UsageError


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.fasta", "fasta"), ("a.FA", "fasta"), ("x/a.faa.gz", "fasta"), ("a.fas", "fasta"),
     ("a.csv", "csv"), ("a.tsv.gz", "tsv"), ("a.txt", "text"), ("a.dat", None), ("-", None),
     ("a.PNG", "image"), ("a.jpeg", "image"), ("x.npz", "image")],
)
def test_format_from_name(name: str, fmt: str | None) -> None:
    assert format_from_name(name) == fmt


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(b">a\nM\n", "fasta"), (b"\xef\xbb\xbf\n  >a\nM\n", "fasta"), (b"MKV\n", "text"), (b"", "text"),
     (b"sequence,fitness\n", "text"), (b"\x89PNG\r\n\x1a\n....", "image"), (b"PK\x03\x04", "image")],
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


def test_image_sources(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(8)
    (tmp_path / "photo").write_bytes(png)  # no suffix: sniffed
    (tmp_path / "seqs.txt").write_bytes(png)  # the name wins over the content
    (tmp_path / "folder").mkdir()

    assert is_image_source(tmp_path / "photo")
    assert not is_image_source(tmp_path / "seqs.txt")
    assert is_image_source(tmp_path / "folder")
    assert is_image_source(f"{tmp_path}/*.png")  # a pattern that names no file
    assert not is_image_source(tmp_path / "missing")  # the text reader reports it
    assert is_image_source("-", head=png) and not is_image_source("-", head=b">a\nM\n")
    assert is_image_source(tmp_path / "seqs.txt", "image")
    with pytest.raises(UsageError, match="unknown input format"):
        is_image_source("-", "xml")
