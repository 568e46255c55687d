"""The only writer to stdout and stderr: result lines, binary arrays, notes and progress."""

from __future__ import annotations

import io
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence

from eddpm_cli._errors import fail, state


_held: list[str] | None = None  # messages kept back by held_messages()


def _message(line: str) -> None:
    if _held is not None:
        _held.append(line)
        return
    sys.stderr.write(line)
    sys.stderr.flush()


def note(message: str) -> None:
    """A message for people, on stderr (silenced by --quiet)."""
    if not state.quiet:
        _message(f"eddpm: {message}\n")


def report(message: str) -> None:
    """A result that was asked for (``--metrics``) on stderr, shown even with --quiet."""
    _message(f"eddpm: {message}\n")


def warn(message: str) -> None:
    """A warning on stderr, shown even with --quiet."""
    _message(f"eddpm: warning: {message}\n")


@contextmanager
def held_messages() -> Iterator[None]:
    """Keep notes and warnings back until the block succeeds; drop them if it fails, so that a
    usage error found after reading the input is the only line the user sees."""
    global _held
    _held = []
    try:
        yield
    except BaseException:
        _held = None
        raise
    lines, _held = _held, None
    for line in lines:
        _message(line)


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


def numbered_ids(prefix: str, n: int, start: int = 1) -> list[str]:
    """Stable ids for records eddpm makes: ``PREFIX_000001`` ... (1-based; ``start`` is the
    number of the first one, for output written chunk by chunk)."""
    return [f"{prefix}_{i:06d}" for i in range(start, start + n)]


def refuse_binary_tty(output: Path | None) -> None:
    """Exit 2 before any work when binary output would go to a terminal."""
    if output is not None and output.is_dir():
        raise fail(f"-o {output} is a directory, expected a file name",
                   hint=f"for example -o {output / 'embeddings.npy'}")
    if output is None and sys.stdout.isatty():
        raise fail(
            "refusing to write binary .npy to a terminal; redirect stdout or use -o FILE",
            hint="eddpm encode FILE > embeddings.npy",
        )


def write_rows(chunks: Iterable[Any], shape: tuple[int, int], output: Path | None,
               ids: Sequence[str] | None = None) -> None:
    """Write float32 row chunks as they come: one .npy of ``shape`` (to ``output`` atomically,
    or to stdout), or with ``ids`` an .npz of ``latents`` and ``ids``, whose rows wait in a
    temporary .npy on disk rather than in memory."""
    import shutil
    import tempfile

    import numpy as np

    from models.checkpoint import atomic_path

    def rows_to(handle: BinaryIO) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
                  "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(handle, header)
        for chunk in chunks:
            handle.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
        handle.flush()

    if ids is None and output is None:
        rows_to(sys.stdout.buffer)
        return
    if ids is None:
        with atomic_path(output) as tmp, open(tmp, "wb") as handle:
            rows_to(handle)
        return
    # The rows wait beside a regular output file (one file system for the final rename).
    where = output.parent if output is not None and (output.is_file() or not output.exists()) \
        else None
    with tempfile.TemporaryDirectory(prefix=".eddpm-", dir=where) as scratch:
        rows, archive = Path(scratch) / "latents.npy", Path(scratch) / "out.npz"
        with open(rows, "wb") as handle:
            rows_to(handle)
        np.savez(archive, latents=np.load(rows, mmap_mode="r"), ids=np.array(ids))
        if output is None:
            with open(archive, "rb") as handle:
                shutil.copyfileobj(handle, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with atomic_path(output) as tmp, open(archive, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)


def is_npz(output: Path | None, fmt: str | None) -> bool:
    if fmt:
        return fmt == "npz"
    return output is not None and output.suffix.lower() == ".npz"



# -- images ----------------------------------------------------------------------------------------
GRID_COLUMNS = 8
# Streamed image outputs show this many inputs (and their results) in the overview grid.
GRID_LIMIT = 64


def check_image_out(modality: str, out: Path | None) -> Path | None:
    """Exit 2 unless ``--out`` is given exactly when the model writes images (and is no file)."""
    if modality != "image":
        if out is not None:
            raise fail(f"--out is for image models; {modality} results go to stdout",
                       hint="drop --out and redirect stdout to a file")
        return None
    if out is None:
        raise fail("image results are PNG files: pass --out DIR for them",
                   hint="for example --out samples/; the paths of the files go to stdout")
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file, expected a directory")
    return out


def safe_stem(name: str, limit: int = 40) -> str:
    """A file-name fragment from an input id: its last path part without an image suffix, with
    anything but ASCII letters, digits, ``-`` and ``_`` replaced (never a path, never ``..``)."""
    import re

    from models.data.images import IMAGE_SUFFIXES

    base = re.split(r"[\\/]", name)[-1]
    head, dot, suffix = base.rpartition(".")
    if dot and head and f".{suffix.lower()}" in IMAGE_SUFFIXES:
        base = head
    return re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_")[:limit]


def file_stems(prefix: str, ids: Sequence[str], start: int = 1) -> list[str]:
    """``PREFIX_000001_STEM`` ...: numbered in order from ``start`` (so names are unique), with
    the sanitised input id (:func:`safe_stem`) for people to recognise."""
    stems = []
    for name, k in zip(ids, numbered_ids(prefix, len(ids), start)):
        stem = safe_stem(name)
        stems.append(f"{k}_{stem}" if stem else k)
    return stems


def grid_rows(*sequences: Sequence, columns: int = GRID_COLUMNS) -> list[list]:
    """Rows of a grid: every ``columns`` images of each sequence, the sequences interleaved
    (inputs above their outputs when given two)."""
    rows = []
    for i in range(0, len(sequences[0]), columns):
        rows += [list(seq[i : i + columns]) for seq in sequences]
    return rows


def write_images(images: Sequence, stems: Sequence[str], out: Path, grid: list[list],
                 grid_name: str) -> None:
    """Write each image as ``OUT/STEM.png`` and the grid as ``OUT/GRID_NAME`` (each atomically),
    then print the image paths on stdout, one per line, and the grid's path on stderr.

    Args:
        images: model images (3, H, W) in [-1, 1].
        stems: one file stem per image (from :func:`file_stems` or :func:`numbered_ids`).
        out: the --out directory, created if needed.
        grid: rows of images for the overview (see :func:`grid_rows`).
        grid_name: its file name.
    """
    paths = save_image_files(images, stems, out)
    grid_path = save_grid(grid, out, grid_name)
    write_lines(str(p) for p in paths)
    note(f"overview: {grid_path}")


def save_image_files(images: Sequence, stems: Sequence[str], out: Path) -> list[Path]:
    """Write each image as ``OUT/STEM.png`` (atomically) and return the paths."""
    from models.checkpoint import atomic_path
    from models.data.images import save_png

    paths = [out / f"{stem}.png" for stem in stems]
    for image, path in zip(images, paths):
        with atomic_path(path) as tmp:
            save_png(image, tmp)
    return paths


def save_grid(grid: list[list], out: Path, name: str) -> Path:
    """Write the rows of images ``grid`` (see :func:`grid_rows`) as one PNG ``OUT/NAME``."""
    from models.checkpoint import atomic_path
    from models.data.images import save_rgb_png, tile_images

    with atomic_path(out / name) as tmp:
        save_rgb_png(tile_images(grid), tmp)
    return out / name
