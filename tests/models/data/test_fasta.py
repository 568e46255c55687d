"""Tests for models/data/fasta.py: FASTA structure with line numbers (cases C05-C11)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from models.data.fasta import parse_fasta, read_fasta
from models.errors import InputDataError


def records(data: bytes) -> list[tuple[str, str, int, tuple]]:
    return [(r.id, r.description, r.line, r.lines) for r in parse_fasta(data, "x.fasta").records]


def test_ids_descriptions_and_line_numbers() -> None:
    data = b">a first one\nMKV\nLL\n\n> \tb\nQQ\n"

    assert records(data) == [
        ("a", "first one", 1, ((2, "MKV"), (3, "LL"))),
        ("b", "", 5, ((6, "QQ"),)),
    ]


def test_header_without_sequence_lines_is_kept_for_the_alphabet_to_judge() -> None:
    assert records(b">a\n>b\nM\n") == [("a", "", 1, ()), ("b", "", 2, ((3, "M"),))]


@pytest.mark.parametrize("data", [b"MKV\n>a\nM\n", b"\n\n  # comment\n>a\nM\n"])
def test_text_before_the_first_header_is_an_error(data: bytes) -> None:
    with pytest.raises(InputDataError, match="expected a FASTA header starting with '>'"):
        parse_fasta(data, "x.fasta")


def test_error_names_the_offending_line() -> None:
    with pytest.raises(InputDataError, match=r"x.fasta line 3: expected a FASTA header"):
        parse_fasta(b"\n \nMKV\n", "x.fasta")


@pytest.mark.parametrize("header", [b">\n", b">   \n", b">\t \n"])
def test_header_without_id(header: bytes) -> None:
    with pytest.raises(InputDataError, match="line 1: FASTA header without a record id"):
        parse_fasta(header + b"MKV\n", "x.fasta")


@pytest.mark.parametrize("data", [b"", b"\n \n\t\n"])
def test_no_records(data: bytes) -> None:
    with pytest.raises(InputDataError, match="no examples found in x.fasta"):
        parse_fasta(data, "x.fasta")


def test_empty_stdin() -> None:
    with pytest.raises(InputDataError, match="no examples on stdin"):
        read_fasta("-", stdin=io.BytesIO(b""))


def test_line_endings_and_bom_do_not_reach_ids_or_residues() -> None:
    lf = records(b">a x\nMK\nVL\n>b\nQQ\n")

    assert records(b"\xef\xbb\xbf>a x\r\nMK\r\nVL\r\n>b\r\nQQ") == lf
    assert records(b">a x\rMK\rVL\r>b\rQQ\r") == lf


def test_gzip_file_and_stdin(tmp_path: Path) -> None:
    plain = b">a\nMKV\n"
    path = tmp_path / "x.fasta.gz"
    path.write_bytes(gzip.compress(plain))

    assert read_fasta(path).records == parse_fasta(plain, str(path)).records
    assert read_fasta("-", stdin=io.BytesIO(gzip.compress(plain))).records[0].id == "a"


def test_c07_ids_are_first_tokens_verbatim(cases_dir: Path) -> None:
    result = read_fasta(cases_dir / "C07_headers.fasta")

    assert [r.id for r in result.records] == [
        "sp|X0SYN1|SYNA_TEST", "id", "../../escape_attempt/also_a_slash", "ünïcödé_id"
    ]


def test_c05_blank_lines_match_the_reference(cases_dir: Path) -> None:
    blank = read_fasta(cases_dir / "C05_blank_lines.fasta").records
    reference = read_fasta(cases_dir / "C05_blank_lines_reference.fasta").records

    assert [(r.id, [t for _, t in r.lines]) for r in blank] == [
        (r.id, [t for _, t in r.lines]) for r in reference
    ]


@pytest.mark.parametrize("case", ["C06_crlf.fasta", "C06_cr_only.fasta"])
def test_c06_line_endings_match_the_lf_reference(cases_dir: Path, case: str) -> None:
    got = read_fasta(cases_dir / case).records
    want = read_fasta(cases_dir / "C06_lf_reference.fasta").records

    assert [(r.id, r.description, r.lines) for r in got] == [
        (r.id, r.description, r.lines) for r in want
    ]


def test_c11_bom_is_not_part_of_the_first_id(cases_dir: Path) -> None:
    assert read_fasta(cases_dir / "C11_bom.fasta").records[0].id == "bom_first_1"


@pytest.mark.parametrize("case", ["C09_preamble.fasta", "C09_no_header.fasta"])
def test_c09_structure_errors_name_line_1(cases_dir: Path, case: str) -> None:
    with pytest.raises(InputDataError, match="line 1: expected a FASTA header starting with '>'"):
        read_fasta(cases_dir / case)


def test_c09_gzip_reads_like_plain(cases_dir: Path) -> None:
    assert [r.id for r in read_fasta(cases_dir / "C09_gzipped.fasta.gz").records] == ["gz_1", "gz_2"]
