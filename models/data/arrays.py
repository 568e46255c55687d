"""Reading latent arrays (.npy / .npz) safely: never unpickles."""

from __future__ import annotations

import io
import zipfile

import numpy as np

from models.data.text import read_source_bytes
from models.errors import InputDataError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"  # .npz files are zip archives


def read_latent_file(source: str) -> tuple[np.ndarray, list[str] | None]:
    """Load (N, D) float32 latents and, from an .npz that has them, the ``ids`` of the rows.

    Returns:
        ``(latents, ids)``; ids is None for a .npy or an .npz without an ``ids`` array.

    Raises:
        InputDataError: not a .npy/.npz, pickled objects, wrong rank, non-finite rows, or ids
            that are not N strings.
    """
    data, name = read_source_bytes(source)
    if not data.startswith((NPY_MAGIC, ZIP_MAGIC)):
        # Without this check numpy reports any non-array bytes as "pickled (object) data".
        raise InputDataError(
            f"{name}: not a .npy or .npz array (no .npy magic bytes \\x93NUMPY or zip header)",
            hint="pass the output of: eddpm encode FILE -o latents.npy",
        )
    ids = None
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            if "latents" not in loaded.files:
                raise InputDataError(
                    f"{name}: .npz has no 'latents' array (found {', '.join(loaded.files) or 'none'})"
                )
            ids = loaded["ids"] if "ids" in loaded.files else None
            loaded = loaded["latents"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputDataError(f"{name}: not a readable .npy or .npz array ({exc})") from None
    if loaded.ndim == 1:
        loaded = loaded[None]
    if loaded.ndim != 2 or not np.issubdtype(loaded.dtype, np.number):
        raise InputDataError(f"{name}: expected a numeric (N, D) array, got {loaded.dtype} {loaded.shape}")
    bad = np.flatnonzero(~np.isfinite(loaded).all(axis=1))
    if bad.size:
        raise InputDataError(f"{name}: row {int(bad[0]) + 1} has NaN or infinite values")
    if loaded.shape[0] == 0:
        raise InputDataError(f"no examples found in {name}")
    if ids is not None and (ids.dtype.kind != "U" or ids.shape != (loaded.shape[0],)):
        raise InputDataError(
            f"{name}: 'ids' must be {loaded.shape[0]} strings, one per row; got {ids.dtype} {ids.shape}"
        )
    return loaded.astype(np.float32), None if ids is None else [str(i) for i in ids]
