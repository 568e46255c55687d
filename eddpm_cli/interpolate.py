"""eddpm interpolate: a path between two examples through the diffusion latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    DeviceOpt, FormatOpt, IdColumnOpt, MaxLengthOpt, ModelOpt, PathMethod, SeedOpt,
    SequenceColumnOpt, TemperatureOpt, TopPOpt, decode_options, format_value,
)


def _endpoint(value: str, fmt: str | None, options: Any) -> tuple[str, Any, str]:
    """``(modality, example, id)`` of an endpoint: a sentence, or a file ('-': stdin) holding
    exactly one example (a text line, or one protein record)."""
    from eddpm_cli._inputs import read_inputs
    from models.data.formats import format_from_name

    if value != "-" and not Path(value).is_file():
        if format_from_name(value) not in (None, "text") or fmt not in (None, "text"):
            raise fail(f"{value}: no such file", hint="check the path, or pass - to read stdin")
        return "text", value, "argument"
    inputs = read_inputs(value, fmt, options)
    if len(inputs.examples) != 1:
        raise fail(
            f"{value} holds {len(inputs.examples)} examples; interpolate needs exactly one per endpoint",
            hint="or pass one file with --a ID --b ID to pick two of its records",
        )
    return inputs.modality, inputs.examples[0], inputs.ids[0]


@handle_errors
def interpolate(
    a: Annotated[str, typer.Argument(help="Start: a sentence, or a file with one example (a line, or one protein record). With --a/--b: the file holding both records.", show_default=False)],
    b: Annotated[Optional[str], typer.Argument(help="End: a sentence, or a file with one example (omit it with --a/--b).", show_default=False)] = None,
    a_id: Annotated[Optional[str], typer.Option("--a", help="Id of the start record in file A (a FASTA id, a table id, or line<K>).")] = None,
    b_id: Annotated[Optional[str], typer.Option("--b", help="Id of the end record in file A.")] = None,
    steps: Annotated[int, typer.Option("--steps", "-n", min=2, help="Points on the path, both ends included.")] = 5,
    method: Annotated[PathMethod, typer.Option(help="slerp (spherical) or lerp (linear) in z_T.")] = PathMethod.slerp,
    ddim_steps: Annotated[int, typer.Option("--ddim-steps", "-k", min=1, help="DDIM steps for inversion and sampling.")] = 50,
    model: ModelOpt = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Invert both ends to z_T with DDIM, interpolate there, denoise and decode: text one line per
    point; proteins as FASTA records path_000001 ... with their weight and end ids."""
    from eddpm_cli._common import load_for
    from eddpm_cli._inputs import protein_options, read_inputs
    from eddpm_cli._output import numbered_ids, write_results

    fmt, options = format_value(input_format), protein_options(sequence_column, id_column)
    if (a_id is None) != (b_id is None):
        raise fail("--a and --b go together", hint="eddpm interpolate FILE --a ID --b ID")
    if a_id is not None:
        if b is not None:
            raise fail("with --a/--b give one file, not two endpoints", hint="eddpm interpolate FILE --a ID --b ID")
        inputs = read_inputs(a, fmt, options)
        modality, start, end = inputs.modality, inputs.pick(a_id, "--a"), inputs.pick(b_id, "--b")
    else:
        if b is None:
            raise fail("missing the end point B", hint="eddpm interpolate A B, or eddpm interpolate FILE --a ID --b ID")
        if a == "-" and b == "-":
            raise fail("only one endpoint can be read from stdin")
        (modality, start, a_id), (end_modality, end, b_id) = _endpoint(a, fmt, options), _endpoint(b, fmt, options)
        if end_modality != modality:
            raise fail(f"the endpoints are {modality} and {end_modality}; both must be of one kind")
    net = load_for(model, modality, device, [start, end])
    from models import inference

    path = inference.interpolate(
        net, start, end, steps, method.value, ddim_steps, seed, **decode_options(temperature, top_p, max_length)
    )
    weights = [i / (steps - 1) for i in range(steps)]
    descriptions = [f"weight={w:.4g} a={a_id} b={b_id}" for w in weights]
    write_results(modality, path, numbered_ids("path", len(path)), descriptions)
