"""eddpm encode: the deterministic representation mu(x) of each input as a float32 array."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, DeviceOpt, FormatOpt, IdColumnOpt, InputsArg,
    MaxImagePixelsOpt, ModelOpt, SequenceColumnOpt, format_value,
)


class ArrayFormat(str, Enum):
    npy = "npy"
    npz = "npz"


@handle_errors
def encode(
    sources: InputsArg,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to FILE (.npy, or .npz with ids) instead of stdout.")] = None,
    fmt: Annotated[Optional[ArrayFormat], typer.Option("--array-format", help="npy or npz (default: from the -o suffix; npy on stdout).")] = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    model: ModelOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """Write an (N, D) float32 .npy (or .npz with ids: line<K>, record ids, or image paths) of
    encoder means, rows in input order."""
    from eddpm_cli._common import read_with_model
    from eddpm_cli._inputs import protein_options
    from eddpm_cli._output import array_bytes, is_npz, refuse_binary_tty, write_binary

    refuse_binary_tty(output)
    inputs, net = read_with_model(
        sources, model, device, format_value(input_format),
        protein_options(sequence_column, id_column), max_image_pixels,
    )
    import numpy as np

    from models import inference

    latents = inference.encode(net, inputs.examples, batch_size)
    npz = is_npz(output, fmt.value if fmt else None)
    write_binary(array_bytes({"latents": latents, "ids": np.array(inputs.ids)}, npz), output)
