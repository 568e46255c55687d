"""eddpm interpolate: a path between two examples through the diffusion latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    DeviceOpt, MaxLengthOpt, ModelOpt, PathMethod, SeedOpt, TemperatureOpt, TopPOpt, decode_options,
)


def _endpoint(value: str) -> str:
    """A sentence, or a file holding exactly one non-blank line."""
    path = Path(value)
    if value != "-" and not path.is_file():
        return value
    from eddpm_cli._inputs import read_texts

    texts = read_texts(value)
    if len(texts) != 1:
        raise fail(f"{value} holds {len(texts)} examples; interpolate needs exactly one per endpoint")
    return texts[0]


@handle_errors
def interpolate(
    a: Annotated[str, typer.Argument(help="Start: a sentence, or a file with one line.", show_default=False)],
    b: Annotated[str, typer.Argument(help="End: a sentence, or a file with one line.", show_default=False)],
    steps: Annotated[int, typer.Option("--steps", "-n", min=2, help="Points on the path, both ends included.")] = 5,
    method: Annotated[PathMethod, typer.Option(help="slerp (spherical) or lerp (linear) in z_T.")] = PathMethod.slerp,
    ddim_steps: Annotated[int, typer.Option("--ddim-steps", "-k", min=1, help="DDIM steps for inversion and sampling.")] = 50,
    model: ModelOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Invert both ends to z_T with DDIM, interpolate there, denoise and decode: one line per point."""
    from eddpm_cli._common import load, resolve_model
    from eddpm_cli._output import write_lines

    if a == "-" and b == "-":
        raise fail("only one endpoint can be read from stdin")
    start, end = _endpoint(a), _endpoint(b)
    net = load(resolve_model(model, "text"), device)
    from models import inference

    write_lines(inference.interpolate(
        net, start, end, steps, method.value, ddim_steps, seed, **decode_options(temperature, top_p, max_length)
    ))
