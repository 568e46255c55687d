"""Read FASTA files with line numbers: plain or gzip, from a file or stdin.

Biopython's parsers lose line numbers, fail on a UTF-8 byte-order mark (or silently drop the first
record) and glue grep's ``--`` separator lines onto sequences (NOTES.md section 9), so eddpm reads
FASTA itself. The structural rules:

1. Bytes, gzip, strict UTF-8, a leading byte-order mark, and LF / CRLF / CR line breaks are handled
   exactly as for text inputs (:mod:`models.data.text`).
2. Lines that are empty after stripping whitespace are skipped anywhere in the file.
3. The first other line must be a header starting with ``>``; text before it (a preamble, or a
   file of bare residues) is an error naming its line (case C09).
4. A record's id is the first whitespace-delimited token after ``>``, kept verbatim (``|``, ``/``,
   ``..`` and non-ASCII letters included, case C07); the rest of the line is its description. A
   header without an id is an error.
5. Every line up to the next header is sequence text of that record, kept raw with its line
   number; what counts as a residue is the modality's business (:mod:`models.protein.alphabet`),
   so a ``--`` separator line is reported there as a gap at its line and column.
6. No record at all is an error: ``no examples found in FILE`` or ``no examples on stdin``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from models.data.text import no_examples_error, numbered_lines, read_source_bytes
from models.errors import InputDataError


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record as written in the file.

    Args:
        id: the first whitespace-delimited token of the header, verbatim.
        description: the header after the id, stripped (may be empty).
        line: 1-based line number of the header.
        lines: ``(line number, raw text)`` of each non-blank sequence line, in order.
    """

    id: str
    description: str
    line: int
    lines: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class FastaReadResult:
    """The records of one FASTA source, in file order (at least one), and its display name."""

    records: list[FastaRecord]
    source: str


def read_fasta(source: str | os.PathLike[str], stdin: BinaryIO | None = None) -> FastaReadResult:
    """Read a FASTA file, a gzip FASTA file, or stdin (``-``).

    Raises:
        InputDataError: unreadable or undecodable input, or a structural error (rules 3, 4, 6).
    """
    data, name = read_source_bytes(source, stdin=stdin)
    return parse_fasta(data, name)


def parse_fasta(data: bytes, name: str) -> FastaReadResult:
    """Split bytes already read into FASTA records, following the module's rules.

    Args:
        data: the (decompressed) bytes.
        name: display name for messages.

    Raises:
        InputDataError: see :func:`read_fasta`.
    """
    return FastaReadResult(records=list(fasta_records(numbered_lines(data, name), name)),
                           source=name)


def fasta_records(lines: Iterable[tuple[int, str]], name: str) -> Iterator[FastaRecord]:
    """FASTA records from ``(line number, line)`` pairs, each as soon as the next header (or the
    end) closes it, so a file can be streamed.

    Raises:
        InputDataError: see :func:`read_fasta`.
    """
    header: tuple[str, str, int] | None = None
    body: list[tuple[int, str]] = []
    count = 0
    for number, raw in lines:
        count = number
        if not raw.strip():
            continue
        if raw.startswith(">"):
            if header is not None:
                yield FastaRecord(*header, tuple(body))
            header, body = _header(raw, number, name), []
        elif header is None:
            raise InputDataError(
                f"{name} line {number}: expected a FASTA header starting with '>'",
                hint="a FASTA file starts with a '>ID description' line; remove any text before it",
            )
        else:
            body.append((number, raw))
    if header is None:
        detail = "there was no data" if not count else f"all {count} lines were blank"
        raise no_examples_error(name, detail, "FASTA records ('>ID' then sequence lines)")
    yield FastaRecord(*header, tuple(body))


def _header(raw: str, number: int, name: str) -> tuple[str, str, int]:
    """``(id, description, line)`` of a header line."""
    parts = raw[1:].strip().split(maxsplit=1)
    if not parts:
        raise InputDataError(
            f"{name} line {number}: FASTA header without a record id",
            hint="write the id right after '>', e.g. '>seq1 description'",
        )
    return parts[0], parts[1] if len(parts) > 1 else "", number
