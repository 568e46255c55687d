"""Which reader an input needs: its format, told by ``--format``, the file name, or its content.

Rules, first match wins:

1. An explicit format (``--format text|fasta|csv|tsv|image``).
2. The source itself: a directory, or a glob pattern that names no existing file, is ``image``
   (read by :mod:`models.data.images`).
3. The file name, after dropping a ``.gz`` suffix: ``.fasta``, ``.fa``, ``.faa``, ``.fas`` are
   FASTA; ``.csv`` is CSV; ``.tsv`` is TSV; ``.txt`` is text; image suffixes
   (:data:`models.data.images.IMAGE_SUFFIXES`) and ``.npz`` are ``image``.
4. The content (stdin, and files with other names): image magic bytes (PNG, JPEG, GIF, WebP, or
   a zip header for ``.npz``) give ``image``; FASTA when the first non-blank character (after a
   byte-order mark) is ``>``; text otherwise. CSV and TSV are never guessed from content.

Each format belongs to one modality: text is ``text``; FASTA, CSV and TSV are ``protein``; image
is ``image``. :func:`open_input` reads the text formats; images are read by
:func:`models.data.images.read_images`, which also takes directories and globs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from models.data.images import GLOB_CHARS, IMAGE_SUFFIXES, sniff_image_format
from models.data.text import UTF8_BOM, file_blocks, file_lines, numbered_lines, read_source_bytes
from models.errors import UsageError

FORMAT_MODALITY = {
    "text": "text", "fasta": "protein", "csv": "protein", "tsv": "protein", "image": "image",
}
SUFFIX_FORMAT = {
    ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta", ".fas": "fasta",
    ".csv": "csv", ".tsv": "tsv", ".txt": "text", ".npz": "image",
    **{suffix: "image" for suffix in IMAGE_SUFFIXES},
}


@dataclass(frozen=True)
class RawInput:
    """One input before parsing: read whole, or (``data`` None) a file read again on each pass.

    Args:
        data: the bytes, gzip already decompressed; None for a streamed file.
        name: display name for messages: the path as given, or ``"<stdin>"``.
        format: ``text``, ``fasta``, ``csv`` or ``tsv``.
        path: the file a streamed input is read from.
    """

    data: bytes | None
    name: str
    format: str
    path: str | None = None

    @property
    def modality(self) -> str:
        return FORMAT_MODALITY[self.format]

    @property
    def streamed(self) -> bool:
        return self.data is None

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, line)`` pairs, decoded and split (:mod:`models.data.text`); a
        streamed file is read block by block, from the start on every call."""
        if self.data is not None:
            return numbered_lines(self.data, self.name)
        return file_lines(self.path, name=self.name)


def format_from_name(path: str) -> str | None:
    """The format a file name announces (rule 3), or None."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return SUFFIX_FORMAT.get(os.path.splitext(name)[1])


def sniff_format(data: bytes) -> str:
    """Rule 4: ``image`` for image or ``.npz`` magic bytes; ``fasta`` when the first non-blank
    character is ``>``; else ``text``."""
    if sniff_image_format(data) is not None:
        return "image"
    head = data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data
    return "fasta" if head.lstrip()[:1] == b">" else "text"


def is_image_source(source: str | os.PathLike[str], format: str | None = None,
                    head: bytes | None = None) -> bool:
    """Whether a source holds images (rules 1 to 4), without reading more than its first bytes.

    Args:
        source: a path, a directory, a glob pattern, or ``"-"`` for stdin.
        format: an explicit format (rule 1), or None.
        head: the first bytes of the data (needed for stdin); for a file they are read here, and
            a missing file is not an image source, so the text reader reports it.

    Raises:
        UsageError: an unknown explicit format.
    """
    _check_format(format)
    if format is not None:
        return format == "image"
    path = os.fsdecode(os.fspath(source))
    if path != "-":
        if os.path.isdir(path) or (not os.path.exists(path) and GLOB_CHARS & set(path)):
            return True
        named = format_from_name(path)
        if named is not None:
            return named == "image"
        if head is None:
            head = _file_head(path)
    return sniff_image_format(head or b"") is not None


def _file_head(path: str, size: int = 16) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _check_format(format: str | None) -> None:
    if format is not None and format not in FORMAT_MODALITY:
        raise UsageError(
            f"unknown input format {format!r}", hint=f"use one of: {', '.join(FORMAT_MODALITY)}"
        )


def open_input(
    source: str | os.PathLike[str], format: str | None = None, stdin: BinaryIO | None = None,
    stream: bool = False, name: str | None = None,
) -> RawInput:
    """Read a file (or stdin for ``-``) once and decide its format.

    Args:
        source: a path, or ``"-"`` for stdin.
        format: an explicit format (rule 1), or None to decide from the name and content.
        stdin: binary stream for ``-`` (default ``sys.stdin.buffer``).
        stream: for a file, read only its first block now (to sniff the format) and leave the
            rest to :meth:`RawInput.lines`, so that it can be read in bounded memory; ``-`` is
            read whole (stream a copy made by :func:`models.data.text.spool_stdin` instead).
        name: with ``stream``, what messages call the file instead of its path (``"<stdin>"``
            for a copy of stdin), and then the format is told by content, not by the name.

    Raises:
        UsageError: an unknown explicit format.
        InputDataError: the source cannot be read (see :func:`read_source_bytes`).
    """
    _check_format(format)
    path = os.fsdecode(os.fspath(source))
    if stream and path != "-":
        head = next(file_blocks(path, 1 << 16, name), b"")
        named = None if name is not None else format_from_name(path)
        chosen = format or named or sniff_format(head)
        return RawInput(data=None, name=name or path, format=chosen, path=path)
    data, name = read_source_bytes(source, stdin=stdin)
    chosen = format or (None if path == "-" else format_from_name(path)) or sniff_format(data)
    return RawInput(data=data, name=name, format=chosen)
