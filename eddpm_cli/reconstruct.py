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
    OUT/recon_grid.png of the first 64. Inputs are read in chunks (except with --metrics)."""
    import math
    from collections import deque
    from typing import Iterator

    from eddpm_cli._common import Placement, read_with_model
    from eddpm_cli._inputs import protein_options
    from eddpm_cli._output import (
        GRID_LIMIT, check_image_out, file_stems, grid_rows, note, report, save_grid,
        save_image_files, write_lines, write_results,
    )

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

    # Chunk by chunk for every modality: lines, FASTA records, or PNG files (paths on stdout)
    # plus an overview of the first GRID_LIMIT images; every output is kept only for --metrics.
    pending: deque[list[str]] = deque()
    shown: list = []  # the first inputs, for the image overview

    def examples() -> Iterator[list]:
        for ids, chunk in inputs.chunks(inference.chunk_length(batch_size)):
            pending.append(ids)
            if out is not None:
                shown.extend(chunk[: GRID_LIMIT - len(shown)])
            yield chunk

    if exact:
        from models.image.inference import reconstruct_exact

        chunks = (reconstruct_exact(net, chunk, pixel_steps, batch_size) for chunk in examples())
    else:
        chunks = inference.reconstruct_stream(net, examples(), batch_size, seed, tokens_per_batch,
                                              inputs.repeated(), **options)
    outputs: list = []
    results: list = []  # the first outputs, for the image overview
    done = 0
    for chunk in chunks:
        ids = pending.popleft()
        if out is None:
            write_results(inputs.modality, chunk, ids)
        else:
            paths = save_image_files(chunk, file_stems("recon", ids, done + 1), out)
            write_lines(str(p) for p in paths)
            results.extend(chunk[: GRID_LIMIT - len(results)])
        done += len(ids)
        if metrics:
            outputs += chunk
    if out is not None:
        note(f"overview: {save_grid(grid_rows(shown, results), out, 'recon_grid.png')}")
    if metrics:
        scores = net.codec.reconstruction_metrics(inputs.examples, outputs)
        if inputs.modality != "image":  # token likelihoods; the pixel loss draws a random step
            nll = inference.reconstruction_nll(net, inputs.examples, batch_size, tokens_per_batch)
            scores.update(cross_entropy=float(nll.mean()),
                          perplexity=math.exp(min(float(nll.mean()), 700.0)))
        shown = " ".join(f"{k}={v:.4g}" for k, v in scores.items())
        report(f"reconstruction {shown} n={len(outputs)}")
