"""eddpm interpolate: a path between two examples through the latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from eddpm_cli._common import Placement
from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, CompileOpt, DeviceOpt, Precision, PrecisionOpt, FormatOpt,
    IdColumnOpt, MaxImagePixelsOpt, MaxLengthOpt, ModelOpt, OutDirOpt, PathMethod,
    PixelStepsOpt, SeedOpt, SequenceColumnOpt, TemperatureOpt, TopPOpt, decode_options,
    format_value,
)


def _endpoint(value: str, fmt: str | None, options: Any, stdin: bytes | None) -> tuple[str, Any, str]:
    """``(modality, example, id)`` of a text or protein endpoint: a sentence, or a file ('-':
    stdin) holding exactly one example (a text line, or one protein record)."""
    from eddpm_cli._inputs import read_inputs
    from models.data.formats import format_from_name

    if value != "-" and not Path(value).is_file():
        if format_from_name(value) not in (None, "text") or fmt not in (None, "text"):
            raise fail(f"{value}: no such file", hint="check the path, or pass - to read stdin")
        return "text", value, "argument"
    inputs = read_inputs(value, fmt, options, stdin)
    _check_one(value, inputs.examples)
    return inputs.modality, inputs.examples[0], inputs.ids[0]


def _check_one(value: str, examples: list) -> None:
    if len(examples) != 1:
        raise fail(
            f"{value} holds {len(examples)} examples; interpolate needs exactly one per endpoint",
            hint="or pass one file with --a ID --b ID to pick two of its records",
        )


def _holds_images(value: str, fmt: str | None, stdin: bytes | None, whole_source: bool) -> bool:
    """Whether an endpoint argument names images. A sentence is never an image source, even
    with glob characters in it; with --a/--b the one argument may be a directory or a glob."""
    from models.data.formats import is_image_source

    if value == "-" or whole_source or Path(value).exists():
        return is_image_source(value, fmt, stdin if value == "-" else None)
    return fmt == "image"


@handle_errors
def interpolate(
    a: Annotated[str, typer.Argument(help="Start: a sentence, or a file with one example (a line, one protein record, one image). With --a/--b: the file (or image directory, glob, .npz) holding both.", show_default=False)],
    b: Annotated[Optional[str], typer.Argument(help="End: a sentence, or a file with one example (omit it with --a/--b).", show_default=False)] = None,
    a_id: Annotated[Optional[str], typer.Option("--a", help="Id of the start record in file A (a FASTA id, a table id, line<K>, or an image path as listed by encode).")] = None,
    b_id: Annotated[Optional[str], typer.Option("--b", help="Id of the end record in file A.")] = None,
    steps: Annotated[int, typer.Option("--steps", "-n", min=2, help="Points on the path, both ends included.")] = 5,
    method: Annotated[Optional[PathMethod], typer.Option(help="Text and protein: slerp (default) or lerp in z_T. Image: lerp (default) or slerp of the semantic latents.", show_default=False)] = None,
    ddim_steps: Annotated[int, typer.Option("--ddim-steps", "-k", min=1, help="Text and protein: DDIM steps for inversion and sampling.")] = 50,
    exact: Annotated[bool, typer.Option("--exact", help="Image models: instead of one shared fresh pixel noise, slerp the DDIM-inverted pixel noises of the two ends (the ends then reconstruct closely).")] = False,
    out: OutDirOpt = None,
    model: ModelOpt = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: IdColumnOpt = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    seed: SeedOpt = 0,
    temperature: TemperatureOpt = 0.0,
    top_p: TopPOpt = 0.9,
    max_length: MaxLengthOpt = None,
    pixel_steps: PixelStepsOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = Precision.auto,
    compile_networks: CompileOpt = False,
) -> None:
    """Text and protein: invert both ends to z_T with DDIM, interpolate there, denoise and decode,
    one line (or FASTA record path_000001 ... with its weight and end ids) per point. Images:
    interpolate the two semantic latents and decode each point with one shared pixel noise, as
    OUT/path_000001.png ... (paths on stdout) plus one OUT/path_strip.png."""
    from eddpm_cli._inputs import protein_options, read_inputs
    from models.data.text import read_source_bytes

    fmt, options = format_value(input_format), protein_options(sequence_column, id_column)
    if (a_id is None) != (b_id is None):
        raise fail("--a and --b go together", hint="eddpm interpolate FILE --a ID --b ID")
    if a_id is not None and b is not None:
        raise fail("with --a/--b give one file, not two endpoints",
                   hint="eddpm interpolate FILE --a ID --b ID")
    if a_id is None and b is None:
        raise fail("missing the end point B",
                   hint="eddpm interpolate A B, or eddpm interpolate FILE --a ID --b ID")
    if a == "-" and b == "-":
        raise fail("only one endpoint can be read from stdin")
    place = Placement(device, precision.value, compile_networks)
    stdin = read_source_bytes("-")[0] if "-" in (a, b) else None
    ends = [a] if b is None else [a, b]
    images = {_holds_images(v, fmt, stdin, a_id is not None) for v in ends}
    if len(images) > 1:
        raise fail("the endpoints are an image and a text or protein example; both must be of one kind")
    if images == {True}:
        _interpolate_images(ends, a_id, b_id, stdin, steps, method, exact, out, model, max_image_pixels,
                            seed, pixel_steps, place)
        return
    if exact:
        raise fail("--exact is for image models; text and protein paths already run through z_T")
    if a_id is not None:
        inputs = read_inputs(a, fmt, options, stdin)
        modality, start, end = inputs.modality, inputs.pick(a_id, "--a"), inputs.pick(b_id, "--b")
    else:
        modality, start, a_id = _endpoint(a, fmt, options, stdin)
        end_modality, end, b_id = _endpoint(b, fmt, options, stdin)
        if end_modality != modality:
            raise fail(f"the endpoints are {modality} and {end_modality}; both must be of one kind")
    _interpolate_latents(modality, start, end, a_id, b_id, steps, method, ddim_steps, out, model, seed,
                         decode_options(modality, temperature, top_p, max_length, pixel_steps),
                         place)


def _interpolate_latents(modality: str, start: Any, end: Any, a_id: str, b_id: str, steps: int,
                         method: PathMethod | None, ddim_steps: int, out: Path | None,
                         model: Path | None, seed: int, options: dict, place: Placement) -> None:
    """Text and protein: the path through z_T, written to stdout."""
    from eddpm_cli._common import load_for
    from eddpm_cli._output import check_image_out, numbered_ids, write_results

    check_image_out(modality, out)
    net = load_for(model, modality, place, lambda codec: codec.truncation_note([start, end]))
    from models import inference

    path = inference.interpolate(
        net, start, end, steps, (method or PathMethod.slerp).value, ddim_steps, seed, **options
    )
    weights = [i / (steps - 1) for i in range(steps)]
    descriptions = [f"weight={w:.4g} a={a_id} b={b_id}" for w in weights]
    write_results(modality, path, numbered_ids("path", len(path)), descriptions)


def _interpolate_images(ends: list[str], a_id: str | None, b_id: str | None, stdin: bytes | None,
                        steps: int, method: PathMethod | None, exact: bool, out: Path | None,
                        model: Path | None, max_image_pixels: int, seed: int,
                        pixel_steps: int | None, place: Placement) -> None:
    """Images: the path between the semantic latents, written as PNG files under --out."""
    from eddpm_cli._common import load, model_dir_for
    from eddpm_cli._inputs import Probe, read_image_inputs
    from eddpm_cli._output import check_image_out, numbered_ids, note, write_images
    from models.checkpoint import read_config

    out = check_image_out("image", out)
    model_dir = model_dir_for(model, "image")
    resolution = read_config(model_dir).codec.resolution
    read = [read_image_inputs(Probe([v], True, stdin), resolution, max_image_pixels) for v in ends]
    if a_id is not None:
        start, end = read[0].pick(a_id, "--a"), read[0].pick(b_id, "--b")
    else:
        for value, inputs in zip(ends, read):
            _check_one(value, inputs.examples)
        (start,), (end,) = read[0].examples, read[1].examples
        a_id, b_id = read[0].ids[0], read[1].ids[0]
    net = load(model_dir, place)
    from models.image.inference import interpolate_images

    path = interpolate_images(net, start, end, steps, (method or PathMethod.lerp).value,
                              pixel_steps, seed, inverted_noise=exact)
    write_images(path, numbered_ids("path", len(path)), out, [path], "path_strip.png")
    note(f"path from {a_id} (weight 0) to {b_id} (weight 1) in {steps} points")
