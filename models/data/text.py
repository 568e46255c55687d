"""Read a text dataset: one example per line, from a file, a gzip file or stdin.

The rules, in the order they are applied:

1. Bytes: ``-`` reads all of stdin as bytes, anything else is a file path. Data starting with the
   gzip magic bytes ``1f 8b`` is decompressed, whatever the file is called.
2. Decoding: strict UTF-8. A leading UTF-8 byte-order mark is dropped. An invalid byte is an error
   that names the line, the byte offset, the byte value and the column.
3. Lines: split on ``\\r\\n``, ``\\r`` and ``\\n`` only, so CRLF and CR-only files read like LF
   files and a last line without a newline is kept. Other characters that :meth:`str.splitlines`
   treats as line breaks (``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029) stay
   inside the line, so line numbers match what text editors show.
4. Each line: a NUL character is an error; otherwise Unicode NFC normalisation, then
   :meth:`str.strip`, which also removes U+00A0, U+3000 and the other Unicode spaces. A line that
   is empty after that is skipped and counted.
5. Labels (optional): ``LABEL<TAB>TEXT``, split at the first tab; both parts are stripped and must
   be non-empty. Further tabs stay in the text.

No function here prints; every user-caused failure raises :class:`~models.errors.InputDataError`
with a message naming the source and the 1-based line (and column where it applies).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import re
import shlex
import sys
import unicodedata
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from models.errors import InputDataError

STDIN_NAME = "<stdin>"
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class TextRecord:
    """One example read from a text source.

    Args:
        text: the example, NFC-normalised and stripped; never empty.
        line: 1-based physical line number in the source.
        label: the label when read with ``labels=True``, else None.
    """

    text: str
    line: int
    label: str | None = None


@dataclass(frozen=True)
class TextReadResult:
    """All examples of a text source, in file order.

    Args:
        records: the non-blank lines; at least one.
        skipped_blank: how many lines were empty after Unicode whitespace stripping.
        source: display name used in messages: the path as given, or ``"<stdin>"``.
    """

    records: list[TextRecord]
    skipped_blank: int
    source: str


def read_source_bytes(
    source: str | os.PathLike[str], stdin: BinaryIO | None = None
) -> tuple[bytes, str]:
    """Read a whole input as bytes, from stdin for ``-`` and from a file otherwise.

    Gzip data (magic bytes ``1f 8b``) is decompressed transparently, for files and for stdin.

    Args:
        source: a file path, or ``"-"`` for stdin. A file literally named ``-`` can be read as
            ``./-``.
        stdin: binary stream to read for ``-``; defaults to ``sys.stdin.buffer``.

    Returns:
        ``(data, display_name)``, where the display name is the path as given or ``"<stdin>"``.

    Raises:
        InputDataError: the file is missing, is a directory or cannot be read, or the data looks
            like gzip but does not decompress.
        TypeError: ``stdin`` is a text stream rather than a binary one.
    """
    path = os.fsdecode(os.fspath(source))
    if path == "-":
        data, name = _read_stdin(stdin), STDIN_NAME
    else:
        data, name = _read_file(path), path

    if data.startswith(GZIP_MAGIC):
        data = _gunzip(data, name)
    return data, name


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    if stream is None:  # stdin closed, or replaced by an object without a binary layer
        return b""
    try:
        data = stream.read()
    except OSError as exc:
        raise InputDataError(f"cannot read stdin: {exc.strerror or exc}") from exc
    if isinstance(data, str):
        raise TypeError("stdin must be a binary stream (e.g. sys.stdin.buffer or io.BytesIO)")
    return data


def _read_file(path: str) -> bytes:
    with _file_errors(path), open(path, "rb") as handle:
        return handle.read()


@contextlib.contextmanager
def _file_errors(path: str) -> Iterator[None]:
    """Turn the OS errors of opening or reading ``path`` into one-line input errors."""
    try:
        yield
    except FileNotFoundError as exc:
        raise InputDataError(
            f"{path}: no such file", hint="check the path, or pass - to read from stdin"
        ) from exc
    except IsADirectoryError as exc:
        raise InputDataError(
            f"{path} is a directory, expected a text file with one example per line"
        ) from exc
    except PermissionError as exc:
        raise InputDataError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        if isinstance(exc, (gzip.BadGzipFile, EOFError)):
            raise
        raise InputDataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _gunzip(data: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise _gzip_error(source, exc) from exc


def _gzip_error(source: str, exc: Exception) -> InputDataError:
    return InputDataError(
        f"{source} starts like gzip data (bytes 1f 8b) but cannot be decompressed: {exc}",
        hint="check the file with 'gzip -t', or decompress it yourself with 'gzip -dc'",
    )


def file_blocks(path: str, block_size: int = 1 << 20, name: str | None = None) -> Iterator[bytes]:
    """The bytes of a file in blocks, gzip data (magic bytes ``1f 8b``) decompressed on the fly;
    ``name`` (default the path) is what messages call it.

    Raises:
        InputDataError: as for :func:`read_source_bytes`, when the file is opened or read.
    """
    name = name or path
    with _file_errors(name), open(path, "rb") as handle:
        gzipped = handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC
        handle.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=handle) if gzipped else handle
        while True:
            try:
                block = stream.read(block_size)
            except (OSError, EOFError, zlib.error) as exc:
                if not gzipped:
                    raise
                raise _gzip_error(name, exc) from exc
            if not block:
                return
            yield block


def spool_stdin(stdin: BinaryIO | None = None, block_size: int = 1 << 20,
                name: str = "stdin") -> str:
    """Copy stdin (or another stream read once, called ``name`` in errors) block by block to a
    temporary file, deleted when the process exits, so that it can be read twice in bounded
    memory; returns the file's path.

    Raises:
        InputDataError: the stream cannot be read.
    """
    import atexit
    import shutil
    import tempfile

    stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
    handle, path = tempfile.mkstemp(prefix="eddpm-stdin-")
    atexit.register(_remove_quietly, path)
    with os.fdopen(handle, "wb") as out:
        try:
            if stream is not None:
                shutil.copyfileobj(stream, out, block_size)
        except OSError as exc:
            raise InputDataError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def file_lines(path: str, block_size: int = 1 << 20,
               name: str | None = None) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a file, read block by block: the same lines, and the same
    errors, as :func:`numbered_lines` on the whole file, in memory bounded by the longest line;
    ``name`` (default the path) is what messages call it.

    Raises:
        InputDataError: unreadable or undecodable data (named by line, byte and column).
    """
    name = name or path
    blocks = file_blocks(path, block_size, name)
    head = b""
    for block in blocks:  # enough bytes to see a byte-order mark
        head += block
        if len(head) >= len(UTF8_BOM):
            break
    offset = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
    pending, number = head[offset:], 0
    for block in itertools.chain([b""], blocks):
        pending += block
        # A block ending in CR may continue with LF: keep that CR for the next round.
        end = len(pending) - 1 if pending.endswith(b"\r") else len(pending)
        start = 0
        for match in _LINE_BREAK_BYTES.finditer(pending, 0, end):
            number += 1
            yield number, _decode_line(pending[start : match.start()], number, offset + start,
                                       name, head)
            start = match.end()
        pending, offset = pending[start:], offset + start
    if pending:
        number += 1
        line = pending[:-1] if pending.endswith(b"\r") else pending
        yield number, _decode_line(line, number, offset, name, head)


def _decode_line(line: bytes, number: int, offset: int, source: str, head: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _utf8_error(line, exc.start, number, offset + exc.start, source,
                          head.startswith(_UTF16_BOMS)) from None


def numbered_lines(data: bytes, name: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of bytes already read, decoded and split as the module says."""
    return enumerate(split_lines(decode_text(data, name)), start=1)


def decode_text(data: bytes, source: str) -> str:
    """Decode UTF-8 bytes strictly, dropping a leading byte-order mark.

    Args:
        data: the raw (already decompressed) bytes.
        source: display name used in error messages.

    Returns:
        The decoded text, without a leading U+FEFF.

    Raises:
        InputDataError: the data is not valid UTF-8. The message names the 1-based line, the
            0-based byte offset from the start of ``data`` (as ``xxd`` or ``od`` show it), the
            byte value and the 1-based character column, e.g. ``reviews.txt line 3: invalid UTF-8
            byte 0xff at byte 17 (column 5)``.
    """
    bom = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    body = data[bom:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        breaks = list(_LINE_BREAK_BYTES.finditer(body, 0, exc.start))
        line_start = breaks[-1].end() if breaks else 0
        raise _utf8_error(body[line_start:], exc.start - line_start, len(breaks) + 1,
                          bom + exc.start, source, data.startswith(_UTF16_BOMS)) from None


def _utf8_error(line: bytes, start: int, number: int, offset: int, source: str,
                utf16: bool) -> InputDataError:
    """The error for the first undecodable byte, at ``start`` of ``line`` (line ``number``)
    and at ``offset`` of the whole data."""
    # Everything before ``start`` decoded cleanly, so this count of characters is exact.
    column = len(line[:start].decode("utf-8")) + 1
    message = (
        f"{source} line {number}: invalid UTF-8 byte 0x{line[start]:02x} "
        f"at byte {offset} (column {column})"
    )
    target = "FILE" if source == STDIN_NAME else shlex.quote(source)
    # iconv reads the text itself: a gzip file is decompressed on the way in
    convert = (f"gzip -dc {target} | iconv -f {{}} -t UTF-8 > converted.txt"
               if source.lower().endswith(".gz") else
               f"iconv -f {{}} -t UTF-8 {target} > converted.txt")
    if utf16:
        hint = "the data starts with a UTF-16 byte-order mark; convert it with: "
        hint += convert.format("UTF-16")
    else:
        hint = "save the file as UTF-8, or convert it, e.g. from Windows-1252 with: "
        hint += convert.format("WINDOWS-1252")
    return InputDataError(message, hint=hint)


def split_lines(text: str) -> list[str]:
    """Split text into physical lines at ``\\r\\n``, ``\\r`` or ``\\n``.

    Unlike :meth:`str.splitlines`, this does not split at ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``,
    ``\\x85``, U+2028 or U+2029, so line numbers agree with text editors.

    Args:
        text: decoded text.

    Returns:
        The lines without their line breaks. A final line break does not start an extra (empty)
        line; a last line without one is kept. Empty text gives an empty list.
    """
    lines = _LINE_BREAK.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def read_text_lines(
    source: str | os.PathLike[str], *, labels: bool = False, stdin: BinaryIO | None = None
) -> TextReadResult:
    """Read one example per line from a file, a gzip file, or stdin (``-``).

    Args:
        source: a file path, or ``"-"`` for stdin.
        labels: when True, every non-blank line must be ``LABEL<TAB>TEXT``.
        stdin: binary stream to read for ``-``; defaults to ``sys.stdin.buffer``.

    Returns:
        The records in file order, the number of blank lines skipped, and the display name.

    Raises:
        InputDataError: the source cannot be read or decoded, a line contains a NUL character, a
            labelled line is malformed, or no line holds an example.
    """
    data, name = read_source_bytes(source, stdin=stdin)
    return parse_text_lines(data, name, labels=labels)


def parse_text_lines(data: bytes, name: str, *, labels: bool = False) -> TextReadResult:
    """Apply rules 2-5 of the module docstring to bytes already read (and decompressed).

    Args:
        data: the raw bytes of the source.
        name: display name used in messages (a path, or ``"<stdin>"``).
        labels: when True, every non-blank line must be ``LABEL<TAB>TEXT``.

    Returns:
        The records in file order, the number of blank lines skipped, and the display name.

    Raises:
        InputDataError: as for :func:`read_text_lines`.
    """
    counts = LineCounts()
    records = list(text_records(numbered_lines(data, name), name, labels=labels, counts=counts))
    return TextReadResult(records=records, skipped_blank=counts.blank, source=name)


@dataclass
class LineCounts:
    """What a pass over numbered lines saw: the last line number and the blank lines skipped."""

    lines: int = 0
    blank: int = 0


def text_records(
    lines: Iterable[tuple[int, str]], name: str, *, labels: bool = False,
    counts: LineCounts | None = None,
) -> Iterator[TextRecord]:
    """Rules 4 and 5 over ``(line number, line)`` pairs, one record per non-blank line, as they
    are read (so a file can be streamed); blank lines are counted in ``counts``.

    Raises:
        InputDataError: a NUL character, a malformed labelled line, or (once the lines run out)
            no example at all.
    """
    counts = counts if counts is not None else LineCounts()
    found = False
    for number, raw in lines:
        counts.lines = number
        _reject_nul(raw, number, name)
        line = unicodedata.normalize("NFC", raw)
        if not line.strip():
            counts.blank += 1
            continue
        found = True
        if labels:
            label, text = _split_label(line, number, name)
            yield TextRecord(text=text, line=number, label=label)
        else:
            yield TextRecord(text=line.strip(), line=number, label=None)
    if not found:
        raise _no_examples(name, counts.lines)


def _reject_nul(raw: str, number: int, source: str) -> None:
    column = raw.find("\x00") + 1
    if column:
        raise InputDataError(
            f"{source} line {number}: NUL character at column {column}; "
            "expected plain text with one example per line",
            hint="the file may be binary or UTF-16; "
            "convert UTF-16 with: iconv -f UTF-16 -t UTF-8 FILE > converted.txt",
        )


def _split_label(line: str, number: int, source: str) -> tuple[str, str]:
    """Split a non-blank line into stripped ``(label, text)`` at its first tab."""
    label, tab, text = line.partition("\t")
    label, text = label.strip(), text.strip()
    if not tab:
        problem = "found no tab"
    elif not label:
        problem = "found an empty label"
    elif not text:
        problem = "found an empty text after the label"
    else:
        return label, text
    raise InputDataError(
        f"{source} line {number}: expected LABEL<TAB>TEXT, {problem}",
        hint="put the label, one tab character, then the text on each line, "
        "or read the file without labels",
    )


def _no_examples(source: str, num_lines: int) -> InputDataError:
    detail = "there was no data" if num_lines == 0 else f"all {num_lines} lines were blank"
    return no_examples_error(source, detail, "one example per line")


def no_examples_error(source: str, detail: str, expected: str) -> InputDataError:
    """The error for a source without a single example (cases C05 and C28).

    Args:
        source: display name, ``"<stdin>"`` for stdin.
        detail: what was found instead, e.g. ``"there was no data"``.
        expected: what the input should hold, e.g. ``"one example per line"``.
    """
    if source == STDIN_NAME:
        return InputDataError("no examples on stdin", hint=f"{detail}; pipe in {expected}")
    return InputDataError(f"no examples found in {source}", hint=f"{detail}; the file needs {expected}")
