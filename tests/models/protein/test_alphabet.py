"""Tests for models/protein/alphabet.py: residue rules (cases C01-C03, C05) and token ids."""

from __future__ import annotations

import pytest

from models.errors import InputDataError
from models.protein.alphabet import (
    AMINO_ACIDS, PAD_ID, TOKENS, Piece, clean_sequence, from_ids, to_ids,
)


def clean(*lines: str):
    return clean_sequence([Piece(t, i + 2) for i, t in enumerate(lines)], "rec", "x.fasta", 1)


def test_vocabulary() -> None:
    assert TOKENS[PAD_ID] == "<pad>"
    assert len(TOKENS) == 22
    assert "".join(TOKENS[1:21]) == AMINO_ACIDS and TOKENS[21] == "X"


def test_lowercase_spaces_and_one_terminal_stop() -> None:
    assert clean("mkV l", "\tAa*").residues == "MKVLAA"
    assert clean("MKV", "*").residues == "MKV"


@pytest.mark.parametrize("letter", list("XUOBZJ"))
def test_rare_letters_become_x(letter: str) -> None:
    result = clean(f"MK{letter.lower()}VL")

    assert result.residues == "MKXVL"
    assert result.unknown == (letter != "X")


def test_j_runs_at_the_ends_are_padding() -> None:
    result = clean("JJJAAAJDHJ", "JJ")

    assert (result.residues, result.padding, result.unknown) == ("AAAXDH", 6, 1)


@pytest.mark.parametrize(
    ("lines", "line", "column", "char", "what"),
    [
        (("MKV*LL",), 2, 4, "*", "stop symbol"),
        (("MKV**",), 2, 4, "*", "stop symbol"),
        (("MKV", "LL---QQ"), 3, 3, "-", "alignment gap"),
        (("M K.V",), 2, 4, ".", "alignment gap"),
        (("--",), 2, 1, "-", "'--' separator line"),
        (("MK7",), 2, 3, "7", "digit"),
        (("MK@",), 2, 3, "@", "not an amino-acid letter"),
        (("MK\u00e9",), 2, 3, "\u00e9", "not an amino-acid letter"),
    ],
)
def test_bad_characters_name_record_line_and_column(lines, line, column, char, what) -> None:
    with pytest.raises(InputDataError) as info:
        clean(*lines)

    message = info.value.message
    assert message.startswith(f"x.fasta line {line}, column {column}: record rec has {char!r}")
    assert what in message


def test_columns_count_from_the_piece_start() -> None:
    with pytest.raises(InputDataError, match="line 7, column 12: record r has '-'"):
        clean_sequence([Piece("MK-", 7, 10)], "r", "t.csv", 7)


@pytest.mark.parametrize("lines", [(), ("*",), ("  ",), ("JJJ",)])
def test_empty_sequences_name_the_header_line(lines) -> None:
    with pytest.raises(InputDataError, match="x.fasta line 1: record rec has no residues"):
        clean(*lines)


def test_ids_round_trip_and_stop_at_pad() -> None:
    ids = to_ids("ACDXY")

    assert from_ids(ids + [PAD_ID, 3]) == "ACDXY"
    with pytest.raises(InputDataError, match="'B' is not in the model's alphabet"):
        to_ids("AB")
