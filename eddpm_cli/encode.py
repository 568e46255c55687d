"""eddpm encode: the deterministic representation mu(x) of each input as a float32 array."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt,
    FormatOpt, IdColumnOpt, InputsArg, MaxImagePixelsOpt, ModelOpt, SequenceColumnOpt,
    TokensPerBatchOpt, format_value,
)


class ArrayFormat(str, Enum):
    npy = "npy"
    npz = "npz"


@handle_errors
def encode(
    sources: InputsArg,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o",
        help="Write to FILE (.npy, or .npz with ids) instead of stdout ('-': stdout).")] = None,
    fmt: Annotated[Optional[ArrayFormat], typer.Option("--array-format", help="npy or npz (default: from the -o suffix; npy on stdout).")] = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    model: ModelOpt = None,
    batch_size: BatchOpt = 64,
    tokens_per_batch: TokensPerBatchOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """Write an (N, D) float32 .npy (or .npz with ids: line<K>, record ids, or image paths) of
    encoder means, rows in input order."""
    from eddpm_cli._common import Placement, read_with_model
    from eddpm_cli._inputs import protein_options, split_ids
    from eddpm_cli._output import is_npz, refuse_binary_tty, write_rows

    if output is not None and str(output) == "-":  # as for inputs, "-" is the standard stream
        output = None
    refuse_binary_tty(output)
    inputs, net = read_with_model(
        sources, model, Placement(device, precision.value, compile_networks),
        format_value(input_format), protein_options(sequence_column, id_column), max_image_pixels,
        stream=True,
    )
    from models import inference

    examples, chunk_ids = split_ids(inputs.chunks(inference.CHUNK_SIZE))
    latents = inference.encode_stream(net, examples, batch_size, tokens_per_batch,
                                      inputs.repeated())
    npz = is_npz(output, fmt.value if fmt else None)
    ids: list[str] = []

    def rows():
        for chunk in latents:
            done = chunk_ids.popleft()
            if npz:  # an .npz stores the ids after the rows
                ids.extend(done)
            yield chunk

    shape = (inputs.count, net.config.prior.latent_dim)
    write_rows(rows(), shape, output, ids if npz else None)
