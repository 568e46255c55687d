"""eddpm generate: sample new examples from the latent prior."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt, MaxLengthOpt, ModalityOpt,
    ModelOpt, OutDirOpt, PixelStepsOpt, Sampler, SeedOpt, TemperatureOpt, TopPOpt,
    decode_options,
)


@handle_errors
def generate(
    num_samples: Annotated[int, typer.Option("--num-samples", "-n", min=1, help="How many samples.")] = 10,
    steps: Annotated[int | None, typer.Option("--steps", "-k", min=1, help="Sampler steps (default: 50 for ddim, 1000 for ddpm).")] = None,
    sampler: Annotated[Sampler, typer.Option(help="ddim (deterministic given the seed) or ddpm (ancestral).")] = Sampler.ddim,
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
    """Sample z_T ~ N(0, I), denoise to z0, decode: text one sample per line; proteins as FASTA
    records gen_000001, gen_000002 ...; images as OUT/gen_000001.png ... (paths on stdout) plus
    OUT/gen_grid.png."""
    from eddpm_cli._common import Placement, load_without_input
    from eddpm_cli._output import (
        check_image_out, grid_rows, numbered_ids, write_images, write_results,
    )

    k = steps or (50 if sampler == Sampler.ddim else 1000)
    net = load_without_input(model, modality.value if modality else None, out,
                             Placement(device, precision.value, compile_networks))
    kind = net.config.modality
    out = check_image_out(kind, out)
    options = decode_options(kind, temperature, top_p, max_length, pixel_steps)
    from models import inference

    samples = inference.generate(net, num_samples, k, sampler.value, seed, batch_size, **options)
    ids = numbered_ids("gen", len(samples))
    if out is not None:
        write_images(samples, ids, out, grid_rows(samples), "gen_grid.png")
    else:
        write_results(kind, samples, ids)
