"""eddpm edit: move each input toward a label in latent space, then decode."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from eddpm_cli._errors import handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, InputArg, MaxLengthOpt, ModelOpt, SeedOpt, StepsOpt, TemperatureOpt, TopPOpt,
    decode_options,
)


class EditMethod(str, Enum):
    guidance = "guidance"
    mean = "mean"


@handle_errors
def edit(
    source: InputArg,
    toward: Annotated[str, typer.Option("--toward", "-t", help="Target label (as in the training labels).", show_default=False)],
    strength: Annotated[float | None, typer.Option("--strength", "-s", help="Guidance scale (guidance, default 2) or step along the direction (mean, default 1).")] = None,
    method: Annotated[EditMethod, typer.Option(help="guidance: latent-classifier guidance during DDIM from the inverted z_T; mean: class-mean direction.")] = EditMethod.guidance,
    steps: StepsOpt = 50,
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
) -> None:
    """One edited line per input line, in order, on stdout."""
    from eddpm_cli._common import load, resolve_model
    from eddpm_cli._inputs import read_texts
    from eddpm_cli._output import write_lines

    texts = read_texts(source)
    net = load(resolve_model(model, "text"), device)
    net.class_index(toward)  # fail on an unknown label before any work
    from models import inference

    options = decode_options(temperature, top_p, max_length)
    if method == EditMethod.guidance:
        s = 2.0 if strength is None else strength
        out = inference.edit_guided(net, texts, toward, s, steps, batch_size, seed, **options)
    else:
        s = 1.0 if strength is None else strength
        out = inference.edit_mean(net, texts, toward, s, batch_size, seed, **options)
    write_lines(out)
