"""Which reader an input needs: its format, told by ``--format``, the file name, or its content.

Rules, first match wins:

1. An explicit format (``--format text|fasta|csv|tsv``).
2. The file name, after dropping a ``.gz`` suffix: ``.fasta``, ``.fa``, ``.faa``, ``.fas`` are
   FASTA; ``.csv`` is CSV; ``.tsv`` is TSV; ``.txt`` is text.
3. The content (stdin, and files with other names): FASTA when the first non-blank character
   (after a byte-order mark) is ``>``, text otherwise. CSV and TSV are never guessed from content.

Each format belongs to one modality: text is ``text``; FASTA, CSV and TSV are ``protein``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from models.data.text import UTF8_BOM, read_source_bytes
from models.errors import UsageError

FORMAT_MODALITY = {"text": "text", "fasta": "protein", "csv": "protein", "tsv": "protein"}
SUFFIX_FORMAT = {
    ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta", ".fas": "fasta",
    ".csv": "csv", ".tsv": "tsv", ".txt": "text",
}


@dataclass(frozen=True)
class RawInput:
    """One input read whole, before parsing.

    Args:
        data: the bytes, gzip already decompressed.
        name: display name for messages: the path as given, or ``"<stdin>"``.
        format: ``text``, ``fasta``, ``csv`` or ``tsv``.
    """

    data: bytes
    name: str
    format: str

    @property
    def modality(self) -> str:
        return FORMAT_MODALITY[self.format]


def format_from_name(path: str) -> str | None:
    """The format a file name announces (rule 2), or None."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return SUFFIX_FORMAT.get(os.path.splitext(name)[1])


def sniff_format(data: bytes) -> str:
    """Rule 3: ``fasta`` when the first non-blank character is ``>``, else ``text``."""
    head = data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data
    return "fasta" if head.lstrip()[:1] == b">" else "text"


def open_input(
    source: str | os.PathLike[str], format: str | None = None, stdin: BinaryIO | None = None
) -> RawInput:
    """Read a file (or stdin for ``-``) once and decide its format.

    Args:
        source: a path, or ``"-"`` for stdin.
        format: an explicit format (rule 1), or None to decide from the name and content.
        stdin: binary stream for ``-`` (default ``sys.stdin.buffer``).

    Raises:
        UsageError: an unknown explicit format.
        InputDataError: the source cannot be read (see :func:`read_source_bytes`).
    """
    if format is not None and format not in FORMAT_MODALITY:
        raise UsageError(
            f"unknown input format {format!r}", hint=f"use one of: {', '.join(FORMAT_MODALITY)}"
        )
    data, name = read_source_bytes(source, stdin=stdin)
    path = os.fsdecode(os.fspath(source))
    chosen = format or (None if path == "-" else format_from_name(path)) or sniff_format(data)
    return RawInput(data=data, name=name, format=chosen)
