"""eddpm reconstruct: encode each input to mu and decode it back."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt,
    FormatOpt, IdColumnOpt, InputsArg, MaxImagePixelsOpt, MaxLengthOpt, ModelOpt, OutDirOpt,
    PixelStepsOpt, SeedOpt, SequenceColumnOpt, TemperatureOpt, TokensPerBatchOpt, TopPOpt,
    decode_options, format_value,
)


@handle_errors
def reconstruct(
    sources: InputsArg,
    model: ModelOpt = None,
    metrics: Annotated[bool, typer.Option("--metrics", help="Report reconstruction quality on stderr: BLEU (text) or identity (protein), exact match and cross-entropy; PSNR and SSIM (image).")] = False,
    exact: Annotated[bool, typer.Option("--exact", help="Image models: decode from the pixel noise found by deterministic DDIM inversion given the latent (near-exact), instead of fresh noise (semantic).")] = False,
    out: OutDirOpt = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    pixel_steps: PixelStepsOpt = None,
    batch_size: BatchOpt = 64,
    tokens_per_batch: TokensPerBatchOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """One reconstruction per input example, in order: on stdout as lines, or FASTA with the
    input ids; images as OUT/recon_000001_STEM.png ... (paths on stdout) plus a before/after
    OUT/recon_grid.png."""
    import math

    from eddpm_cli._common import Placement, read_with_model
    from eddpm_cli._inputs import protein_options, split_ids
    from eddpm_cli._output import check_image_out, file_stems, grid_rows, note, write_images, write_results

    checked: dict = {}

    def check(modality: str) -> None:
        checked["out"] = check_image_out(modality, out)
        if exact and modality != "image":
            raise fail(f"--exact is for image models; {modality} reconstructions decode mu directly")
        checked["options"] = decode_options(modality, temperature, top_p, max_length, pixel_steps)

    inputs, net = read_with_model(
        sources, model, Placement(device, precision.value, compile_networks),
        format_value(input_format), protein_options(sequence_column, id_column),
        max_image_pixels, check,
        stream=not metrics,  # the metrics compare every input with its reconstruction
    )
    out, options = checked["out"], checked["options"]
    from models import inference

    if out is not None:  # images: PNG files and a grid of all of them
        if exact:
            from models.image.inference import reconstruct_exact

            outputs = reconstruct_exact(net, inputs.examples, pixel_steps, batch_size)
        else:
            outputs = inference.reconstruct(net, inputs.examples, batch_size, seed, **options)
        grid = grid_rows(inputs.examples, outputs)
        write_images(outputs, file_stems("recon", inputs.ids), out, grid, "recon_grid.png")
    else:  # text and proteins stream out chunk by chunk
        examples, chunk_ids = split_ids(inputs.chunks(inference.chunk_length(batch_size)))
        chunks = inference.reconstruct_stream(net, examples, batch_size, seed, tokens_per_batch,
                                              inputs.repeated(), **options)
        outputs = []
        for chunk in chunks:
            write_results(inputs.modality, chunk, chunk_ids.popleft())
            if metrics:
                outputs += chunk
    if metrics:
        scores = net.codec.reconstruction_metrics(inputs.examples, outputs)
        if inputs.modality != "image":  # token likelihoods; the pixel loss draws a random step
            nll = inference.reconstruction_nll(net, inputs.examples, batch_size, tokens_per_batch)
            scores.update(cross_entropy=float(nll.mean()),
                          perplexity=math.exp(min(float(nll.mean()), 700.0)))
        note("reconstruction " + " ".join(f"{k}={v:.4g}" for k, v in scores.items()) + f" n={len(outputs)}")
