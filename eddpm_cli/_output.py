"""The only writer to stdout and stderr: result lines, binary arrays, notes and progress."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Iterable, Sequence

from eddpm_cli._errors import fail, state


def note(message: str) -> None:
    """A message for people, on stderr (silenced by --quiet)."""
    if not state.quiet:
        sys.stderr.write(f"eddpm: {message}\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    sys.stderr.write(f"eddpm: warning: {message}\n")
    sys.stderr.flush()


def show_progress() -> bool:
    """Progress bars only when stderr is a terminal and --quiet is off."""
    return not state.quiet and sys.stderr.isatty()


def _one_line(text: str) -> str:
    """Line breaks (``\\r\\n``, ``\\r``, ``\\n``, where input readers split) become spaces."""
    import re

    return re.sub(r"\r\n|\r|\n", " ", text)


def write_lines(lines: Iterable[str]) -> None:
    """Stream result lines to stdout, one per item, flushing each so pipes see them at once.

    Line breaks inside an item become spaces, so each item stays one line for any reader.
    """
    out = sys.stdout
    for line in lines:
        out.write(_one_line(line) + "\n")
        out.flush()


def write_fasta(records: Iterable[tuple[str, str]]) -> None:
    """Stream FASTA records to stdout: ``>HEADER`` then the sequence on one line, per record.

    Args:
        records: ``(header, sequence)`` pairs; the header is the id, optionally followed by a
            space and a description.
    """
    out = sys.stdout
    for header, sequence in records:
        out.write(f">{_one_line(header)}\n{_one_line(sequence)}\n")
        out.flush()


def write_results(modality: str, examples: Sequence[str], ids: Sequence[str],
                  descriptions: Sequence[str] | None = None) -> None:
    """Write decoded examples in their modality's format: text one per line; proteins as FASTA
    records headed by their ids (and descriptions, when given)."""
    if modality == "text":
        write_lines(examples)
    elif modality == "protein":
        extra = descriptions or [""] * len(ids)
        write_fasta(((f"{i} {d}" if d else i), x) for i, d, x in zip(ids, extra, examples))
    else:
        raise NotImplementedError(f"writing {modality} results is not supported yet")


def write_tsv(rows: Iterable[Sequence[str]]) -> None:
    """Stream tab-separated rows to stdout; tabs and line breaks inside a cell become spaces."""
    out = sys.stdout
    for row in rows:
        out.write("\t".join(_one_line(cell).replace("\t", " ") for cell in row) + "\n")
        out.flush()


def numbered_ids(prefix: str, n: int) -> list[str]:
    """Stable ids for records eddpm makes: ``PREFIX_000001`` ... (1-based)."""
    return [f"{prefix}_{i:06d}" for i in range(1, n + 1)]


def refuse_binary_tty(output: Path | None) -> None:
    """Exit 2 before any work when binary output would go to a terminal."""
    if output is None and sys.stdout.isatty():
        raise fail(
            "refusing to write binary .npy to a terminal; redirect stdout or use -o FILE",
            hint="eddpm encode FILE > embeddings.npy",
        )


def write_binary(data: bytes, output: Path | None) -> None:
    """Write bytes to ``output`` atomically (temp file + rename), or to stdout when None."""
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from models.checkpoint import atomic_path

    with atomic_path(output) as tmp:
        tmp.write_bytes(data)


def array_bytes(arrays: dict, npz: bool) -> bytes:
    """Serialise arrays to .npy (the ``latents`` array only) or .npz bytes."""
    import numpy as np

    buf = io.BytesIO()
    if npz:
        np.savez(buf, **arrays)
    else:
        np.save(buf, arrays["latents"], allow_pickle=False)
    return buf.getvalue()


def is_npz(output: Path | None, fmt: str | None) -> bool:
    if fmt:
        return fmt == "npz"
    return output is not None and output.suffix == ".npz"

