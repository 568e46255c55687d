"""Tests for the sequence metrics of models/metrics.py (identity and mutation counts)."""

from __future__ import annotations

import pytest

from models.metrics import mutation_count, sequence_identity


@pytest.mark.parametrize(
    ("a", "b", "identity"),
    [("MKVL", "MKVL", 1.0), ("MKVL", "MKAL", 0.75), ("MKVL", "MK", 0.5), ("", "", 1.0), ("M", "", 0.0)],
)
def test_sequence_identity(a: str, b: str, identity: float) -> None:
    assert sequence_identity(a, b) == identity
    assert sequence_identity(b, a) == identity


@pytest.mark.parametrize(
    ("a", "b", "count"),
    [("MKVL", "MKVL", 0), ("MKVL", "AKVA", 2), ("MKVLA", "KVLAM", 5), ("MKVL", "MKL", 1),
     ("MKVL", "MAKVLW", 2), ("", "MKV", 3)],
)
def test_mutation_count_is_hamming_for_equal_lengths_else_levenshtein(a: str, b: str, count: int) -> None:
    assert mutation_count(a, b) == count
    assert mutation_count(b, a) == count
