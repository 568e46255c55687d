"""eddpm edit: move each input toward a label (text, image) or a fitness goal (protein), then
decode."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, BatchOpt, CompileOpt, DeviceOpt, Precision, PrecisionOpt,
    FormatOpt, IdColumnOpt, InputsArg, MaxImagePixelsOpt, MaxLengthOpt, ModelOpt, OutDirOpt,
    PixelStepsOpt, SeedOpt, SequenceColumnOpt, StepsOpt, TemperatureOpt, TopPOpt, check_finite,
    decode_options, format_value,
)

# Fraction of the diffusion schedule inverted before guided denoising, per modality. Proteins stay
# close to their input (few mutations); text reaches z_T as in the paper's text editing.
DEFAULT_START = {"text": 1.0, "protein": 0.2}


class EditMethod(str, Enum):
    guidance = "guidance"
    mean = "mean"


@handle_errors
def edit(
    sources: InputsArg,
    toward: Annotated[Optional[str], typer.Option("--toward", "-t", help="Text, image: a training label (an image class sub-folder or .npz label). Protein: high or low fitness.", show_default=False)] = None,
    target: Annotated[Optional[float], typer.Option("--target", help="Protein: move the predicted fitness toward this value (instead of --toward).")] = None,
    head: Annotated[Optional[str], typer.Option("--head", help="Protein: the label column (head) to follow (default: the first).")] = None,
    strength: Annotated[float | None, typer.Option("--strength", "-s", help="Guidance scale (guidance: default 2 for text, 1 for protein) or step along the direction (mean, default 1: the distance between the class means).")] = None,
    method: Annotated[Optional[EditMethod], typer.Option(help="guidance (default for text and protein): head guidance during DDIM from the inverted latent; mean (text, and the only one for images): the class-mean direction.", show_default=False)] = None,
    start: Annotated[Optional[float], typer.Option("--start", min=0.001, max=1.0, help="Fraction of the diffusion schedule to invert to before the guided way back (default: 1 for text, 0.2 for protein).")] = None,
    steps: StepsOpt = 50,
    model: ModelOpt = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    out: OutDirOpt = None,
    pixel_steps: PixelStepsOpt = None,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    batch_size: BatchOpt = 64,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """One edited example per input, in order: text lines on stdout, or FASTA records with the
    input ids, the predicted fitness before and after, and the number of mutations; images as
    OUT/edit_000001_STEM.png ... (paths on stdout) plus a before/after OUT/edit_grid.png."""
    from eddpm_cli._common import Placement, read_with_model
    from eddpm_cli._inputs import protein_options
    from eddpm_cli._output import check_image_out, write_results

    check_finite(strength=strength, target=target, start=start)
    checked: dict = {}

    def check(modality: str) -> None:
        checked["method"] = _check_edit_options(modality, method, toward, target, head, start)
        checked["out"] = check_image_out(modality, out)
        checked["options"] = decode_options(modality, temperature, top_p, max_length, pixel_steps)

    inputs, net = read_with_model(
        sources, model, Placement(device, precision.value, compile_networks),
        format_value(input_format), protein_options(sequence_column, id_column),
        max_image_pixels, check,
    )
    modality = inputs.modality
    method, out = checked["method"], checked["out"]
    from models import inference

    options = checked["options"]
    if modality == "image":
        _edit_images(net, inputs, toward, 1.0 if strength is None else strength, pixel_steps,
                     batch_size, out)
        return
    protein = modality == "protein"
    if protein:
        objective = inference.value_objective(net, head, toward, target)
    else:
        objective = inference.label_objective(net, toward)  # fails on an unknown label first
    if method == EditMethod.mean:
        s = 1.0 if strength is None else strength
        edited = inference.edit_mean(net, inputs.examples, toward, s, batch_size, seed, **options)
    else:
        s = (1.0 if protein else 2.0) if strength is None else strength
        level = DEFAULT_START[modality] if start is None else start
        edited = inference.edit_guided(net, inputs.examples, objective, s, steps, level, batch_size,
                                       seed, **options)
    descriptions = _fitness_changes(net, head, inputs.examples, edited, batch_size) if protein else None
    write_results(modality, edited, inputs.ids, descriptions)


def _edit_images(net, inputs, toward: str, strength: float, pixel_steps: int | None,
                 batch_size: int, out: Path) -> None:
    """Move each image's latent by ``strength`` times the step from the other classes' mean to
    the class mean of ``toward``, decode it from its own inverted pixel noise, write PNGs."""
    from eddpm_cli._output import file_stems, grid_rows, write_images
    from models import inference
    from models.image.inference import edit_images

    direction = inference.class_mean_direction(net, toward)  # fails on an unknown label
    extent = strength * float(direction.norm())
    edited = edit_images(net, inputs.examples, direction, extent, pixel_steps, batch_size)
    grid = grid_rows(inputs.examples, edited)
    write_images(edited, file_stems("edit", inputs.ids), out, grid, "edit_grid.png")


def _check_edit_options(modality: str, method: EditMethod | None, toward: str | None,
                        target: float | None, head: str | None, start: float | None) -> EditMethod:
    """Refuse options of another modality; return the edit method (default per modality)."""
    if modality != "protein" and (target is not None or head is not None):
        raise fail(f"--target and --head are for protein models; {modality} edits take --toward LABEL")
    if modality != "protein" and toward is None:
        raise fail("missing option '--toward'", hint="eddpm edit FILE --toward LABEL")
    if modality == "protein" and method == EditMethod.mean:
        raise fail("--method mean needs class labels; protein fitness edits use --method guidance")
    if modality == "image":
        if method == EditMethod.guidance or start is not None:
            raise fail("image edits move the latent along the class-mean direction and decode from "
                       "the inverted pixel noise; --method guidance and --start are not supported",
                       hint="eddpm edit IMAGES --toward CLASS --strength S --out DIR")
        return EditMethod.mean
    return method or EditMethod.guidance


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
