"""eddpm encode: the deterministic representation mu(x) of each input as a float32 array."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import BatchOpt, DeviceOpt, InputArg, ModelOpt


class ArrayFormat(str, Enum):
    npy = "npy"
    npz = "npz"


@handle_errors
def encode(
    source: InputArg,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to FILE (.npy, or .npz with ids) instead of stdout.")] = None,
    fmt: Annotated[Optional[ArrayFormat], typer.Option("--array-format", help="npy or npz (default: from the -o suffix; npy on stdout).")] = None,
    model: ModelOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """Write an (N, D) float32 .npy (or .npz with ids) of encoder means, rows in input order."""
    from eddpm_cli._common import load, resolve_model
    from eddpm_cli._inputs import read_records
    from eddpm_cli._output import array_bytes, is_npz, refuse_binary_tty, write_binary

    refuse_binary_tty(output)
    records = read_records(source)
    net = load(resolve_model(model, "text"), device)
    import numpy as np

    from models import inference

    latents = inference.encode(net, [r.text for r in records], batch_size)
    npz = is_npz(output, fmt.value if fmt else None)
    ids = np.array([f"line{r.line}" for r in records])
    write_binary(array_bytes({"latents": latents, "ids": ids}, npz), output)
