"""eddpm decode: turn latents (from encode, or made by other tools) back into examples."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, MaxLengthOpt, ModelOpt, SeedOpt, TemperatureOpt, TopPOpt, decode_options,
)


@handle_errors
def decode(
    source: Annotated[str, typer.Argument(help="An (N, D) .npy, or an .npz with a 'latents' array; '-' reads stdin.", show_default=False)],
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """Decode each latent row: one line per row on stdout, in row order."""
    from eddpm_cli._common import load, resolve_model
    from eddpm_cli._output import write_lines
    from models.data.arrays import read_latents

    latents = read_latents(source)
    model_dir = resolve_model(model, "text")
    net = load(model_dir, device)
    width = net.config.prior.latent_dim
    if latents.shape[1] != width:
        name = "<stdin>" if source == "-" else source
        raise fail(
            f"{name}: latents have width {latents.shape[1]}, but the model {model_dir} needs {width}",
            hint="decode with the --model that encoded them",
        )
    from models import inference

    write_lines(inference.decode(net, latents, batch_size, seed, **decode_options(temperature, top_p, max_length)))
