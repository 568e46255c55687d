"""eddpm edit: move each input toward a label (text) or a fitness goal (protein), then decode."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    BatchOpt, DeviceOpt, FormatOpt, IdColumnOpt, InputArg, MaxLengthOpt, ModelOpt, SeedOpt,
    SequenceColumnOpt, StepsOpt, TemperatureOpt, TopPOpt, decode_options, format_value,
)

# Fraction of the diffusion schedule inverted before guided denoising, per modality. Proteins stay
# close to their input (few mutations); text reaches z_T as in the paper's text editing.
DEFAULT_START = {"text": 1.0, "protein": 0.2}


class EditMethod(str, Enum):
    guidance = "guidance"
    mean = "mean"


@handle_errors
def edit(
    source: InputArg,
    toward: Annotated[Optional[str], typer.Option("--toward", "-t", help="Text: a training label. Protein: high or low fitness.", show_default=False)] = None,
    target: Annotated[Optional[float], typer.Option("--target", help="Protein: move the predicted fitness toward this value (instead of --toward).")] = None,
    head: Annotated[Optional[str], typer.Option("--head", help="Protein: the label column (head) to follow (default: the first).")] = None,
    strength: Annotated[float | None, typer.Option("--strength", "-s", help="Guidance scale (guidance: default 2 for text, 1 for protein) or step along the direction (mean, default 1).")] = None,
    method: Annotated[EditMethod, typer.Option(help="guidance: head guidance during DDIM from the inverted latent; mean: class-mean direction (text).")] = EditMethod.guidance,
    start: Annotated[Optional[float], typer.Option("--start", min=0.001, max=1.0, help="Fraction of the diffusion schedule to invert to before the guided way back (default: 1 for text, 0.2 for protein).")] = None,
    steps: StepsOpt = 50,
    model: ModelOpt = None,
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
    """One edited example per input, in order, on stdout: text lines, or FASTA records with the
    input ids, the predicted fitness before and after, and the number of mutations."""
    from eddpm_cli._common import load_for
    from eddpm_cli._inputs import protein_options, read_inputs
    from eddpm_cli._output import write_results

    inputs = read_inputs(source, format_value(input_format), protein_options(sequence_column, id_column))
    protein = inputs.modality == "protein"
    if not protein and (target is not None or head is not None):
        raise fail("--target and --head are for protein models; text edits take --toward LABEL")
    if not protein and toward is None:
        raise fail("missing option '--toward'", hint="eddpm edit FILE --toward LABEL")
    if protein and method == EditMethod.mean:
        raise fail("--method mean needs class labels; protein fitness edits use --method guidance")
    net = load_for(model, inputs.modality, device, inputs.examples)
    from models import inference

    if protein:
        objective = inference.value_objective(net, head, toward, target)
    else:
        objective = inference.label_objective(net, toward)  # fails on an unknown label first
    options = decode_options(temperature, top_p, max_length)
    if method == EditMethod.mean:
        s = 1.0 if strength is None else strength
        out = inference.edit_mean(net, inputs.examples, toward, s, batch_size, seed, **options)
    else:
        s = (1.0 if protein else 2.0) if strength is None else strength
        level = DEFAULT_START[inputs.modality] if start is None else start
        out = inference.edit_guided(net, inputs.examples, objective, s, steps, level, batch_size, seed, **options)
    descriptions = _fitness_changes(net, head, inputs.examples, out, batch_size) if protein else None
    write_results(inputs.modality, out, inputs.ids, descriptions)


def _fitness_changes(net, head: str | None, before: list[str], after: list[str], batch_size: int) -> list[str]:
    """``NAME=after NAME_input=before mutations=N`` per record, from the followed head."""
    from models import inference
    from models.metrics import mutation_count

    name = net.head(head).config.name
    old = inference.predict(net, before, batch_size)[name]
    new = inference.predict(net, after, batch_size)[name]
    return [
        f"{name}={y:.4g} {name}_input={x:.4g} mutations={mutation_count(a, b)}"
        for x, y, a, b in zip(old, new, before, after)
    ]
