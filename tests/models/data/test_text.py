"""Tests for models/data/text.py: the shared one-example-per-line reader."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest

from models.data.text import (
    TextReadResult,
    TextRecord,
    decode_text,
    read_source_bytes,
    read_text_lines,
    split_lines,
)
from models.errors import InputDataError

REVIEWS = [
    "The blender was loud but it crushed ice in seconds.",
    "Arrived late, boxed dented, product works fine.",
    "Five stars for the battery, one star for the manual.",
]


def write(tmp_path: Path, data: bytes, name: str = "reviews.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def texts(result: TextReadResult) -> list[str]:
    return [record.text for record in result.records]


# --- split_lines -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\n", ["a", "b"]),
        ("a\r\nb\r\n", ["a", "b"]),
        ("a\rb\r", ["a", "b"]),
        ("a\nb", ["a", "b"]),
        ("a\r\n\r\nb", ["a", "", "b"]),
        ("a\n\rb", ["a", "", "b"]),  # LF then CR is two breaks, not one
        ("", []),
        ("\n", [""]),
        ("only", ["only"]),
    ],
)
def test_split_lines_on_cr_lf_and_crlf(text: str, expected: list[str]) -> None:
    assert split_lines(text) == expected


def test_split_lines_keeps_other_unicode_breaks_inside_the_line() -> None:
    text = "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\nnext"
    assert split_lines(text) == ["a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g", "next"]


# --- decode_text -------------------------------------------------------------------------------


def test_decode_strips_utf8_bom_only_at_the_start() -> None:
    assert decode_text(b"\xef\xbb\xbfhi\xef\xbb\xbf", "x.txt") == "hi\ufeff"


def test_decode_invalid_utf8_names_line_byte_and_column() -> None:
    data = b"first\nsecond\nab\xc3\xa9d\xffz\n"  # 0xff is at offset 18, column 5 of line 3
    with pytest.raises(InputDataError) as info:
        decode_text(data, "reviews.txt")
    assert info.value.message == "reviews.txt line 3: invalid UTF-8 byte 0xff at byte 18 (column 5)"
    assert "iconv" in info.value.hint


def test_decode_error_counts_cr_only_and_crlf_lines_and_the_bom() -> None:
    data = b"\xef\xbb\xbfa\r\nb\rc\x80"
    with pytest.raises(InputDataError) as info:
        decode_text(data, "in.txt")
    assert info.value.message == "in.txt line 3: invalid UTF-8 byte 0x80 at byte 9 (column 2)"


def test_decode_truncated_sequence_at_end_of_data() -> None:
    with pytest.raises(InputDataError, match=r"line 1: invalid UTF-8 byte 0xe2 at byte 2"):
        decode_text(b"ok\xe2\x82", "t.txt")


def test_decode_utf16_gets_a_utf16_hint() -> None:
    with pytest.raises(InputDataError) as info:
        decode_text("hi\n".encode("utf-16"), "u16.txt")
    assert "line 1: invalid UTF-8 byte 0xff at byte 0 (column 1)" in info.value.message
    assert "UTF-16" in info.value.hint


# --- read_source_bytes -------------------------------------------------------------------------


def test_read_source_bytes_from_file_and_stdin(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\r\nb")
    assert read_source_bytes(path) == (b"a\r\nb", str(path))
    assert read_source_bytes(str(path)) == (b"a\r\nb", str(path))
    assert read_source_bytes("-", stdin=io.BytesIO(b"a\r\nb")) == (b"a\r\nb", "<stdin>")


def test_read_source_bytes_defaults_to_sys_stdin_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfx\r\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", fake)
    assert read_source_bytes("-") == (b"\xef\xbb\xbfx\r\n", "<stdin>")


def test_read_source_bytes_rejects_a_text_stream() -> None:
    with pytest.raises(TypeError, match="binary stream"):
        read_source_bytes("-", stdin=io.StringIO("text"))  # type: ignore[arg-type]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InputDataError, match=f"{missing}: no such file"):
        read_source_bytes(missing)


def test_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="is a directory"):
        read_text_lines(tmp_path)


def test_gzip_is_decompressed_for_files_and_stdin(tmp_path: Path) -> None:
    plain = "\n".join(REVIEWS).encode()
    packed = gzip.compress(plain)
    path = write(tmp_path, packed, "reviews.txt.gz")
    assert read_source_bytes(path)[0] == plain
    assert texts(read_text_lines(path)) == REVIEWS
    assert texts(read_text_lines("-", stdin=io.BytesIO(packed))) == REVIEWS


def test_bad_gzip_is_an_input_error(tmp_path: Path) -> None:
    truncated = gzip.compress(b"some text\n" * 50)[:20]
    path = write(tmp_path, truncated, "bad.gz")
    with pytest.raises(InputDataError, match=f"{path} starts like gzip data"):
        read_text_lines(path)


# --- read_text_lines ---------------------------------------------------------------------------


def test_records_keep_physical_line_numbers_and_count_blanks(tmp_path: Path) -> None:
    data = "\n  first  \n\t\n\u00a0\n\u3000second\u3000\r\n \r\nthird".encode()
    result = read_text_lines(write(tmp_path, data))
    assert result.records == [
        TextRecord(text="first", line=2, label=None),
        TextRecord(text="second", line=5, label=None),
        TextRecord(text="third", line=7, label=None),
    ]
    assert result.skipped_blank == 4


def test_lines_are_nfc_normalised(tmp_path: Path) -> None:
    result = read_text_lines(write(tmp_path, "cafe\u0301\n".encode()))
    assert texts(result) == ["caf\u00e9"]


def test_internal_tabs_and_spaces_are_kept(tmp_path: Path) -> None:
    result = read_text_lines(write(tmp_path, b"a\t b  c\n"))
    assert texts(result) == ["a\t b  c"]


def test_nul_character_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, b"fine\nab\x00c\n")
    with pytest.raises(InputDataError, match=f"{path} line 2: NUL character at column 3"):
        read_text_lines(path)


def test_utf16_without_bom_is_caught_by_the_nul_check(tmp_path: Path) -> None:
    path = write(tmp_path, "hello\n".encode("utf-16-le"))
    with pytest.raises(InputDataError, match="line 1: NUL character at column 2"):
        read_text_lines(path)


def test_invalid_utf8_file_names_file_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path, b"good line\nbad \xff line\n")
    with pytest.raises(InputDataError) as info:
        read_text_lines(path)
    assert info.value.message == f"{path} line 2: invalid UTF-8 byte 0xff at byte 14 (column 5)"


def test_blank_only_file_is_no_examples(tmp_path: Path) -> None:
    path = write(tmp_path, b" \n\t\n\xc2\xa0\n")
    with pytest.raises(InputDataError, match=f"no examples found in {path}") as info:
        read_text_lines(path)
    assert "3 lines were blank" in info.value.hint


def test_empty_stdin_is_no_examples_on_stdin() -> None:
    with pytest.raises(InputDataError, match="^no examples on stdin$"):
        read_text_lines("-", stdin=io.BytesIO(b""))


def test_result_reports_stdin_display_name() -> None:
    result = read_text_lines("-", stdin=io.BytesIO(b"x\n"))
    assert result.source == "<stdin>"


# --- labels ------------------------------------------------------------------------------------


def test_labels_split_at_the_first_tab(tmp_path: Path) -> None:
    data = b"pos\tGreat blender.\r\n\r\n neg \t Broke\tin a week. \n"
    result = read_text_lines(write(tmp_path, data), labels=True)
    assert result.records == [
        TextRecord(text="Great blender.", line=1, label="pos"),
        TextRecord(text="Broke\tin a week.", line=3, label="neg"),
    ]
    assert result.skipped_blank == 1


def test_without_labels_the_label_is_none(tmp_path: Path) -> None:
    result = read_text_lines(write(tmp_path, b"pos\tGreat.\n"))
    assert result.records == [TextRecord(text="pos\tGreat.", line=1, label=None)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"no tab here", "found no tab"),
        (b"\tjust text", "found an empty label"),
        (b"  \tjust text", "found an empty label"),
        (b"pos\t", "found an empty text"),
        (b"pos\t   ", "found an empty text"),
    ],
)
def test_malformed_labelled_line_names_file_and_line(
    tmp_path: Path, line: bytes, problem: str
) -> None:
    path = write(tmp_path, b"pos\tok\n\n" + line + b"\n")
    with pytest.raises(InputDataError) as info:
        read_text_lines(path, labels=True)
    assert info.value.message.startswith(f"{path} line 3: expected LABEL<TAB>TEXT, {problem}")


# --- the shared input cases (../shared/cases) --------------------------------------------------


def test_c05_blank_lines(cases_dir: Path) -> None:
    result = read_text_lines(cases_dir / "C05_blank_lines.txt")
    assert len(result.records) == 3
    assert result.skipped_blank > 0
    assert all(record.text and record.text == record.text.strip() for record in result.records)


def test_c05_empty_file(cases_dir: Path) -> None:
    with pytest.raises(InputDataError, match="no examples found in .*C05_empty.txt"):
        read_text_lines(cases_dir / "C05_empty.txt")


def test_c06_crlf_without_final_newline_equals_lf_reference(cases_dir: Path) -> None:
    crlf = read_text_lines(cases_dir / "C06_crlf_no_final_newline.txt")
    reference = read_text_lines(cases_dir / "C06_lf_reference.txt")
    assert texts(crlf) == texts(reference)
    assert len(crlf.records) == 3
    assert not any("\r" in text for text in texts(crlf))


def test_c06_crlf_from_stdin_equals_path(cases_dir: Path) -> None:
    path = cases_dir / "C06_crlf_no_final_newline.txt"
    piped = read_text_lines("-", stdin=io.BytesIO(path.read_bytes()))
    assert texts(piped) == texts(read_text_lines(path))


def test_c11_bom_equals_reference(cases_dir: Path) -> None:
    bom = read_text_lines(cases_dir / "C11_bom.txt")
    reference = read_text_lines(cases_dir / "C11_no_bom_reference.txt")
    assert texts(bom) == texts(reference)
    assert not texts(bom)[0].startswith("\ufeff")


def test_c26_small(cases_dir: Path) -> None:
    assert len(read_text_lines(cases_dir / "C26_small.txt").records) == 3


def test_c28_stdin_equals_path(cases_dir: Path) -> None:
    path = cases_dir / "C28_reviews.txt"
    from_path = read_text_lines(path)
    from_stdin = read_text_lines("-", stdin=io.BytesIO(path.read_bytes()))
    assert from_stdin.records == from_path.records
    assert from_stdin.skipped_blank == from_path.skipped_blank
    assert from_stdin.source == "<stdin>"
    assert from_path.source == str(path)
