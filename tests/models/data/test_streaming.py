"""Streamed file reading gives the same lines, records and errors as reading the file whole,
whatever the block size (a CRLF, a multi-byte character or a record split across blocks)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from models.data.formats import open_input
from models.data.text import file_lines, numbered_lines
from models.errors import InputDataError
from models.protein.data import ProteinOptions, iter_proteins, read_proteins

TEXTS = [
    b"",
    b"\r",
    b"one\ntwo\n",
    b"no newline at the end",
    b"crlf\r\nlines\r\n\r\nblank above\r\n",
    b"cr\ronly\rlines\r",
    b"\xef\xbb\xbfbom first\nthen \xc3\xa9t\xc3\xa9 \xe2\x82\xac\n",
    b"mixed\r\n\rbreaks\n\r\nend",
    b"\x0bvertical tab stays\x0cinside\n",
]

BAD = [
    b"ok\nsecond \xff line\n",
    b"\xef\xbb\xbfbom\r\nthen a cut \xe2\x82",
    b"\xff\xfeu\x00t\x00f\x00",
    b"a\r\n" * 50 + b"late \xc3\x28 error\n",
]


def _whole(data: bytes, name: str):
    try:
        return list(numbered_lines(data, name))
    except InputDataError as exc:
        return exc.message


def _streamed(path: Path, block: int):
    try:
        return list(file_lines(str(path), block))
    except InputDataError as exc:
        return exc.message


@pytest.mark.parametrize("data", TEXTS + BAD)
@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_streamed_lines_equal_whole_file_lines(tmp_path: Path, data: bytes, block: int) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(data)

    assert _streamed(path, block) == _whole(data, str(path))


@pytest.mark.parametrize("block", [1, 5, 1 << 20])
def test_gzip_files_stream_too(tmp_path: Path, block: int) -> None:
    data = b"first\r\nsecond\nthird"
    path = tmp_path / "in.txt.gz"
    path.write_bytes(gzip.compress(data))

    assert _streamed(path, block) == _whole(data, str(path))


def test_a_corrupt_gzip_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "in.txt.gz"
    path.write_bytes(gzip.compress(b"x\n" * 1000)[:-20])

    with pytest.raises(InputDataError, match="cannot be decompressed"):
        list(file_lines(str(path)))


def test_a_missing_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="no such file"):
        list(file_lines(str(tmp_path / "absent.txt")))


FASTA = b">a first\nMKT\naya\n\n>b\r\nMKV*\r\n>c\nJJMKJLJJ\n"
CSV = b"name,sequence,fitness\nx,MKT,1.5\ny,mkv,NA\n"


@pytest.mark.parametrize(("name", "data", "options"), [
    ("p.fasta", FASTA, ProteinOptions()),
    ("p.csv", CSV, ProteinOptions(id_column="name", label_columns=("fitness",))),
])
def test_streamed_proteins_equal_whole_file_proteins(tmp_path: Path, name: str, data: bytes,
                                                     options: ProteinOptions) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    whole = read_proteins(open_input(str(path)), options)

    streamed = open_input(str(path), stream=True)
    records = list(iter_proteins(streamed, options))

    assert streamed.streamed and streamed.data is None
    assert [(r.id, r.sequence, r.line) for r in records] == [
        (r.id, r.sequence, r.line) for r in whole.records]
    assert str([r.labels for r in records]) == str([r.labels for r in whole.records])


def test_the_conversion_hint_of_a_gzip_file_decompresses_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress(b"ok\ncaf\xe9\n"))

    with pytest.raises(InputDataError) as raised:
        list(file_lines(str(path)))

    assert "line 2" in raised.value.message
    assert raised.value.hint.startswith("save the file as UTF-8")
    assert f"gzip -dc {path} | iconv -f WINDOWS-1252 -t UTF-8 > converted.txt" in raised.value.hint
