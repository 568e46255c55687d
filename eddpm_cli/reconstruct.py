"""eddpm reconstruct: encode each input to mu and decode it back."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, FormatOpt, IdColumnOpt, InputArg, MaxLengthOpt, ModelOpt, SeedOpt,
    SequenceColumnOpt, TemperatureOpt, TopPOpt, decode_options, format_value,
)


@handle_errors
def reconstruct(
    source: InputArg,
    model: ModelOpt = None,
    metrics: Annotated[bool, typer.Option("--metrics", help="Report reconstruction quality on stderr: BLEU (text) or identity (protein), exact match and cross-entropy.")] = False,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """One reconstruction per input example, in order, on stdout (lines, or FASTA with the
    input ids)."""
    import math

    from eddpm_cli._common import load_for
    from eddpm_cli._inputs import protein_options, read_inputs
    from eddpm_cli._output import note, write_results

    inputs = read_inputs(source, format_value(input_format), protein_options(sequence_column, id_column))
    net = load_for(model, inputs.modality, device, inputs.examples)
    from models import inference

    outputs = inference.reconstruct(
        net, inputs.examples, batch_size, seed, **decode_options(temperature, top_p, max_length)
    )
    write_results(inputs.modality, outputs, inputs.ids)
    if metrics:
        scores = net.codec.reconstruction_metrics(inputs.examples, outputs)
        nll = float(inference.reconstruction_nll(net, inputs.examples, batch_size).mean())
        scores.update(cross_entropy=nll, perplexity=math.exp(min(nll, 700.0)))
        note("reconstruction " + " ".join(f"{k}={v:.4g}" for k, v in scores.items()) + f" n={len(outputs)}")
