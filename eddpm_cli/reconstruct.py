"""eddpm reconstruct: encode each input to mu and decode it back."""

from __future__ import annotations

from typing import Annotated

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, InputArg, MaxLengthOpt, ModelOpt, SeedOpt, TemperatureOpt, TopPOpt,
    decode_options,
)


@handle_errors
def reconstruct(
    source: InputArg,
    model: ModelOpt = None,
    metrics: Annotated[bool, typer.Option("--metrics", help="Report corpus BLEU and exact match against the inputs on stderr.")] = False,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """One reconstruction per input line, in order, on stdout."""
    from eddpm_cli._common import load, resolve_model
    from eddpm_cli._inputs import read_texts
    from eddpm_cli._output import note, write_lines

    texts = read_texts(source)
    net = load(resolve_model(model, "text"), device)
    from models import inference

    outputs = inference.reconstruct(net, texts, batch_size, seed, **decode_options(temperature, top_p, max_length))
    write_lines(outputs)
    if metrics:
        scores = net.codec.reconstruction_metrics(texts, outputs)
        note("reconstruction " + " ".join(f"{k}={v:.4g}" for k, v in scores.items()) + f" n={len(texts)}")
