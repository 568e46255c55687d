"""eddpm decode: turn latents (from encode, or made by other tools) back into examples."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, MaxLengthOpt, ModalityOpt, ModelOpt, SeedOpt, TemperatureOpt, TopPOpt,
    decode_options,
)


@handle_errors
def decode(
    source: Annotated[str, typer.Argument(help="An (N, D) .npy, or an .npz with a 'latents' array (and optionally 'ids'); '-' reads stdin.", show_default=False)],
    model: ModelOpt = None,
    modality: ModalityOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """Decode each latent row, in row order: text one line per row; proteins as FASTA records
    named by the .npz ids, or latent_000001 ... without them."""
    from eddpm_cli._common import load_without_input
    from eddpm_cli._output import numbered_ids, write_results
    from models.data.arrays import read_latent_file

    latents, ids = read_latent_file(source)
    net = load_without_input(model, modality.value if modality else None, device)
    width = net.config.prior.latent_dim
    if latents.shape[1] != width:
        name = "<stdin>" if source == "-" else source
        raise fail(
            f"{name}: latents have width {latents.shape[1]}, but the model needs {width}",
            hint="decode with the --model that encoded them",
        )
    from models import inference

    outputs = inference.decode(net, latents, batch_size, seed, **decode_options(temperature, top_p, max_length))
    write_results(net.config.modality, outputs, ids or numbered_ids("latent", len(outputs)))
