"""The only writer to stdout and stderr: result lines, binary arrays, notes and progress."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Iterable

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


def write_lines(lines: Iterable[str]) -> None:
    """Stream result lines to stdout, one per item, flushing each so pipes see them at once.

    Line breaks inside an item (``\\r\\n``, ``\\r``, ``\\n``: those the input reader splits on)
    become spaces, so each item stays one line for any reader.
    """
    import re

    out = sys.stdout
    for line in lines:
        out.write(re.sub(r"\r\n|\r|\n", " ", line) + "\n")
        out.flush()


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

