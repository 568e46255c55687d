"""eddpm decode: turn latents (from encode, or made by other tools) back into examples."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt, MaxLengthOpt, ModalityOpt,
    ModelOpt, OutDirOpt, PixelStepsOpt, SeedOpt, TemperatureOpt, TopPOpt, decode_options,
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
    pixel_steps: PixelStepsOpt = None,
    out: OutDirOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """Decode each latent row, in row order: text one line per row; proteins as FASTA records
    named by the .npz ids, or latent_000001 ... without them; images as OUT/latent_000001_STEM.png
    ... (STEM from the .npz ids; paths on stdout) plus OUT/latent_grid.png."""
    from eddpm_cli._common import Placement, load_without_input
    from eddpm_cli._output import (
        check_image_out, file_stems, grid_rows, numbered_ids, write_images, write_results,
    )
    from models.data.arrays import read_latent_file

    latents, ids = read_latent_file(source)
    net = load_without_input(model, modality.value if modality else None, out,
                             Placement(device, precision.value, compile_networks))
    kind = net.config.modality
    out = check_image_out(kind, out)
    options = decode_options(kind, temperature, top_p, max_length, pixel_steps)
    width = net.config.prior.latent_dim
    if latents.shape[1] != width:
        name = "<stdin>" if source == "-" else source
        raise fail(
            f"{name}: latents have width {latents.shape[1]}, but the model needs {width}",
            hint="decode with the --model that encoded them",
        )
    from models import inference

    outputs = inference.decode(net, latents, batch_size, seed, **options)
    if out is not None:
        stems = file_stems("latent", ids) if ids else numbered_ids("latent", len(outputs))
        write_images(outputs, stems, out, grid_rows(outputs), "latent_grid.png")
    else:
        write_results(kind, outputs, ids or numbered_ids("latent", len(outputs)))
