"""Reading command inputs of any modality from files, directories, globs or stdin.

The input's format (text, FASTA, CSV, TSV, image) is told by ``--format``, the source (a
directory or a glob is images), the file name, or its first bytes (:mod:`models.data.formats`);
the format decides the modality, and the modality decides which model a command may use. Images
are read at the model's resolution, so they are read after the model's config.
"""

from __future__ import annotations

import io
import os
from collections import deque
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator, Sequence

from eddpm_cli._errors import fail
from eddpm_cli._output import note


@dataclass
class Inputs:
    """Examples read from one source.

    Args:
        modality: ``text``, ``protein`` or ``image``.
        source: display name (the path as given, or ``<stdin>``; the sources joined by ", ").
        examples: what the codec takes: stripped lines, cleaned sequences, or float32 images
            (3, R, R) in [-1, 1].
        ids: one per example: ``line<K>`` for text and for tables without an id column, record
            ids for FASTA, file paths (``FILE.npz[i]`` for arrays) for images. Ids are shown and
            stored, never used as file names.
    """

    modality: str
    source: str
    examples: list[Any]
    ids: list[str]

    @property
    def count(self) -> int:
        return len(self.examples)

    def chunks(self, size: int) -> Iterator[tuple[list[str], list[Any]]]:
        """``(ids, examples)`` of ``size`` examples at a time, in order."""
        for i in range(0, len(self.examples), size):
            yield self.ids[i : i + size], self.examples[i : i + size]

    def repeated(self) -> frozenset[int]:
        """Digests of the examples that occur more than once (see :class:`Stream`)."""
        from models.inference import example_digest, repeated_digests

        return repeated_digests(example_digest(x) for x in self.examples)

    def crop_note(self, codec) -> str | None:
        """The codec's one-line note on examples it will crop, or None."""
        return codec.truncation_note(self.examples)

    def pick(self, record_id: str, option: str) -> Any:
        """The example with this id (for ``--a ID``/``--b ID``); exits 2 if absent or ambiguous."""
        found = [i for i, x in enumerate(self.ids) if x == record_id]
        if len(found) != 1:
            what = "no record" if not found else f"{len(found)} records"
            raise fail(f"{option} {record_id}: {self.source} has {what} with that id",
                       hint=f"ids in {self.source} start: {', '.join(self.ids[:5])}")
        return self.examples[found[0]]


@dataclass
class Stream:
    """The examples of one text or protein file, or of image sources, read again on each pass
    instead of held.

    A first pass (:func:`stream_input`) checks every record, so bad input fails before any
    output, and keeps 12 bytes per example: a 64-bit content digest (to give repeated examples
    identical outputs) and the length (for the crop note). :meth:`chunks` reads the file again.
    Its interface is that of :class:`Inputs` where a command only streams.
    """

    modality: str
    source: str
    count: int
    digests: Any  # np.ndarray (N,) uint64
    lengths: Any  # np.ndarray (N,) int32
    records: Callable[[], Iterator[tuple[str, Any]]]

    def chunks(self, size: int) -> Iterator[tuple[list[str], list[Any]]]:
        """The examples again, ``size`` at a time; each is checked against the first pass.

        Raises:
            InputDataError: the input changed between the passes (a record differs, or there
                are more or fewer of them), so the output would not match it.
        """
        from models.inference import example_digest

        ids: list[str] = []
        examples: list[Any] = []
        seen = 0
        for record_id, example in self.records():
            if seen >= self.count or int(self.digests[seen]) != example_digest(example):
                self._changed(f"{record_id} differs from the first reading")
            seen += 1
            ids.append(record_id)
            examples.append(example)
            if len(examples) == size:
                yield ids, examples
                ids, examples = [], []
        if seen != self.count:
            self._changed(f"it now has {seen} records instead of {self.count}")
        if examples:
            yield ids, examples

    def _changed(self, what: str) -> None:
        from models.errors import InputDataError

        raise InputDataError(f"{self.source} changed while eddpm read it: {what}",
                             hint="copy the input first if something else writes to it")

    def repeated(self) -> frozenset[int]:
        from models.inference import repeated_digests

        return repeated_digests(self.digests.tolist())

    def crop_note(self, codec) -> str | None:
        return codec.length_note(self.lengths)


def stream_input(source: str, fmt: str | None = None, options: Any = None,
                 name: str | None = None) -> Stream:
    """Check a text or protein file in one pass and return it as a :class:`Stream` (notes as
    :func:`read_inputs`); errors exit 2 naming the source (or ``name``), record and line."""
    from array import array

    import numpy as np

    from models.data.formats import open_input
    from models.inference import example_digest

    raw = open_input(source, fmt, stream=True, name=name)
    if raw.modality == "text":
        from models.data.text import LineCounts, text_records

        counts = LineCounts()

        def records(counts: LineCounts | None = None) -> Iterator[tuple[str, Any]]:
            return ((f"line{r.line}", r.text) for r in text_records(raw.lines(), raw.name,
                                                                     counts=counts))
    else:
        from models.protein.data import ReadCounts, iter_proteins

        counts = ReadCounts()
        options = options or protein_options()

        def records(counts: ReadCounts | None = None) -> Iterator[tuple[str, Any]]:
            return ((r.id, r.sequence) for r in iter_proteins(raw, options, counts))

    digests, lengths = array("Q"), array("i")
    for _, example in records(counts):
        digests.append(example_digest(example))
        lengths.append(len(example))
    if raw.modality == "text":
        _note_blank(raw.name, counts.blank)
    else:
        for line in counts.notes(raw.name):
            note(line)
    return Stream(raw.modality, raw.name, len(digests), np.frombuffer(digests, dtype=np.uint64),
                  np.frombuffer(lengths, dtype=np.int32), records)


def split_ids(
    chunks: Iterator[tuple[list[str], list[Any]]],
) -> tuple[Iterator[list[Any]], deque[list[str]]]:
    """The examples of ``(ids, examples)`` chunks as one iterator, and a queue that receives each
    chunk's ids as the chunk is taken: a consumer producing one result per chunk pops them in
    step."""
    ids: deque[list[str]] = deque()

    def examples() -> Iterator[list[Any]]:
        for chunk_ids, chunk in chunks:
            ids.append(chunk_ids)
            yield chunk

    return examples(), ids


def _note_blank(source: str, blank: int) -> None:
    if blank:
        note(f"{source}: skipped {blank} blank line(s)")


def protein_options(sequence_column: str = "sequence", id_column: str | None = None,
                    label_columns: list[str] | None = None, labels_csv: str | None = None):
    """The table options of the command line as :class:`models.protein.data.ProteinOptions`."""
    from models.protein.data import ProteinOptions

    return ProteinOptions(sequence_column, id_column, tuple(label_columns or ()), labels_csv)


@dataclass(frozen=True)
class Probe:
    """What a command's sources hold, found from their names and first bytes only.

    Args:
        sources: as given on the command line.
        images: True for image sources, False for one text or protein source.
        stdin: the bytes of stdin when a source is ``-`` (read once, here), else None.
    """

    sources: list[str]
    images: bool
    stdin: bytes | None
    spooled: str | None = None  # a copy of stdin or of a pipe, read twice
    spooled_name: str | None = None  # what errors call it

    def stdin_stream(self) -> BinaryIO | None:
        """A fresh binary stream over the stdin bytes (None without ``-``)."""
        return None if self.stdin is None else io.BytesIO(self.stdin)


def probe(sources: Sequence[str], fmt: str | None = None, several: bool = False,
          spool: bool = False) -> Probe:
    """Tell whether ``sources`` are images; exits 2 when they mix kinds, when ``-`` appears
    twice, or (unless ``several``) when several text or protein files are given. With
    ``spool``, stdin is copied to a temporary file (``Probe.spooled``) instead of memory, unless
    it holds images."""
    from models.data.formats import is_image_source
    from models.data.text import STDIN_NAME, file_blocks, read_source_bytes, spool_stdin

    sources = list(sources)
    if sources.count("-") > 1:
        raise fail("'-' (stdin) can be given only once")
    spooled, name = None, STDIN_NAME
    if spool and len(sources) == 1 and _pipe_like(sources[0]):
        # A named pipe, or /dev/fd/N of <(...), can be read once: a copy is read twice.
        name = sources[0]
        with open(name, "rb") as stream:
            spooled = spool_stdin(stream, name=name)
    elif spool and "-" in sources:
        spooled = spool_stdin()
    if spooled is not None:
        head = next(file_blocks(spooled, 1 << 16, name), b"")
        if not is_image_source("-", fmt, head):
            return Probe(sources, False, None, spooled, name)
        if name != STDIN_NAME:
            raise fail(f"{name} is a pipe of images; images are read from files or stdin",
                       hint="save the images to files, or pipe them into '-'")
        stdin = read_source_bytes(spooled)[0]
    else:
        stdin = read_source_bytes("-")[0] if "-" in sources else None
    kinds = {s: is_image_source(s, fmt, stdin if s == "-" else None) for s in sources}
    if len(set(kinds.values())) > 1:
        images = ", ".join(s for s, image in kinds.items() if image)
        others = ", ".join(s for s, image in kinds.items() if not image)
        raise fail(f"the inputs mix images ({images}) with text or protein data ({others})",
                   hint="run the command once per kind of input")
    images = all(kinds.values())
    if not images and len(sources) > 1 and not several:
        raise fail(f"{len(sources)} inputs given; several inputs are supported for images only",
                   hint="give one text or protein file, or concatenate the files first")
    return Probe(sources, images, stdin)


def _pipe_like(source: str) -> bool:
    """A source that exists but is neither a regular file nor a directory: a named pipe, a
    character device or the /dev/fd/N of a shell's process substitution."""
    import stat

    try:
        mode = os.stat(source).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def read_image_inputs(found: Probe, resolution: int, max_image_pixels: int) -> Inputs:
    """Every image of the probed sources at the model's resolution; exits 2 naming the first
    unreadable file (every one is checked before any is used)."""
    from models.data.images import read_images

    result = read_images(found.sources, resolution, max_image_pixels=max_image_pixels or None,
                         stdin=found.stdin_stream())
    if result.skipped_files:
        note(f"skipped {result.skipped_files} file(s) without an image suffix in directories")
    return Inputs("image", ", ".join(found.sources), [r.image for r in result.records],
                  [r.id for r in result.records])


def stream_images(found: Probe, resolution: int, max_image_pixels: int) -> Stream:
    """The probed images as a :class:`Stream`: every one is decoded and checked first (exit 2
    naming the first unreadable file), then they are decoded again chunk by chunk."""
    import numpy as np

    from models.data.images import find_images
    from models.inference import example_digest

    limit = max_image_pixels or None
    files = find_images(found.sources, stdin=found.stdin_stream())
    digests = files.check(resolution, example_digest, limit)
    if files.skipped_files:
        note(f"skipped {files.skipped_files} file(s) without an image suffix in directories")

    def records(counts: Any = None) -> Iterator[tuple[str, Any]]:
        return ((r.id, r.image) for r in files.records(resolution, limit))

    return Stream("image", ", ".join(found.sources), len(files),
                  np.asarray(digests, dtype=np.uint64), np.zeros(0, dtype=np.int32), records)


def read_inputs(source: str, fmt: str | None = None, options: Any = None,
                stdin: bytes | None = None) -> Inputs:
    """Read one text or protein input ('-' is stdin, or the ``stdin`` bytes already read).

    Text: blank lines are skipped with one note. Protein: residues read as X and removed J
    padding are reported in one note each. Errors exit 2 naming the source, record and line.
    """
    from models.data.formats import open_input

    raw = open_input(source, fmt, stdin=None if stdin is None else io.BytesIO(stdin))
    if raw.modality == "text":
        from models.data.text import parse_text_lines

        result = parse_text_lines(raw.data, raw.name)
        _note_blank(result.source, result.skipped_blank)
        return Inputs("text", raw.name, [r.text for r in result.records],
                      [f"line{r.line}" for r in result.records])
    from models.protein.data import read_proteins

    proteins = read_proteins(raw, options or protein_options())
    for line in proteins.notes():
        note(line)
    return Inputs("protein", raw.name, [r.sequence for r in proteins.records],
                  [r.id for r in proteins.records])
