"""Decoded text is printable: a byte-level tokenizer can emit control bytes, which never reach
the output (the text reader refuses NUL, and terminals act on escape sequences)."""

from __future__ import annotations

import pytest

from models.text.codec import printable


@pytest.mark.parametrize(("decoded", "expected"), [
    ("\x00\x00\x00\x00the soup", "the soup"),
    ("red \x1b[31mtext\x1b[0m", "red [31mtext[0m"),
    ("bell\x07 and del\x7f and c1\x85", "bell and del and c1"),
    ("tab\tstays, caf\u00e9 \u2014 \ufffd too ", "tab\tstays, caf\u00e9 \u2014 \ufffd too"),
    ("\r\n", ""),
])
def test_control_characters_are_removed(decoded: str, expected: str) -> None:
    assert printable(decoded) == expected
