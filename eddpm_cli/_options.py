"""Option types shared by several subcommands (one definition, one help text)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer


class Sampler(str, Enum):
    ddim = "ddim"
    ddpm = "ddpm"


class PathMethod(str, Enum):
    slerp = "slerp"
    lerp = "lerp"


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class InputFormat(str, Enum):
    text = "text"
    fasta = "fasta"
    csv = "csv"
    tsv = "tsv"
    image = "image"


class Modality(str, Enum):
    text = "text"
    protein = "protein"
    image = "image"


# Pillow's warning threshold (models.data.images.DEFAULT_MAX_IMAGE_PIXELS), repeated here so that
# --help does not import Pillow and numpy.
DEFAULT_MAX_IMAGE_PIXELS = 89_478_485


ModelOpt = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Checkpoint directory (default: the latest finished run of the input's modality under ./runs or $EDDPM_RUNS)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]
StepsOpt = Annotated[int, typer.Option("--steps", "-k", min=1, help="Latent sampler steps (DDIM, and DDIM inversion).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples per forward pass.")]
TokensPerBatchOpt = Annotated[Optional[int], typer.Option(
    "--tokens-per-batch", min=1,
    help="Batch by a budget of padded tokens (text), residues (protein) or pixels (image) "
         "instead of --batch-size: examples are sorted by length, output stays in input order.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1 ... (default: cuda if present).")]
PrecisionOpt = Annotated[Precision, typer.Option(
    "--precision",
    help="Inference compute dtype: auto is bf16 autocast on a CUDA GPU with bf16 support and fp32 "
         "elsewhere (bf16 is slow on most CPUs); weights and outputs stay fp32.")]
CompileOpt = Annotated[bool, typer.Option(
    "--compile", help="torch.compile the networks before use: slower start, faster large runs.")]
TemperatureOpt = Annotated[
    float, typer.Option("--temperature", min=0.0, help="Decoder sampling temperature; 0 decodes greedily.")
]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling threshold (with --temperature > 0).")]
MaxLengthOpt = Annotated[Optional[int], typer.Option("--max-length", min=2, help="Maximum tokens (text) or residues (protein) per decoded example.")]
InputArg = Annotated[str, typer.Argument(help="Input file: text (one example per line), FASTA, CSV or TSV, or images; '-' reads stdin.", show_default=False)]
InputsArg = Annotated[
    list[str],
    typer.Argument(metavar="SOURCE", help="Input: one text (one example per line), FASTA, CSV or TSV file; or images: files, directories (searched recursively), glob patterns and .npz arrays, several allowed; '-' reads stdin.", show_default=False),
]
OutDirOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Image models: directory for the PNG files (created if needed); their paths go to stdout.")]
PixelStepsOpt = Annotated[Optional[int], typer.Option("--pixel-steps", min=1, help="Image models: DDIM steps of the pixel decoder (default: the model's sample_steps).")]
MaxImagePixelsOpt = Annotated[
    int,
    typer.Option("--max-image-pixels", min=0, help="Refuse images with more pixels than this (a decompression bomb guard); 0 means no limit."),
]
FormatOpt = Annotated[
    Optional[InputFormat],
    typer.Option("--format", help="Input format (default: image for directories and globs; else from the file name; else image for image magic bytes, FASTA when the data starts with '>', else text)."),
]
SequenceColumnOpt = Annotated[str, typer.Option("--sequence-column", help="CSV/TSV column holding the protein sequences.")]
IdColumnOpt = Annotated[
    Optional[str],
    typer.Option("--id-column", help="CSV/TSV column holding record ids (default: line<K>)."),
]
ModalityOpt = Annotated[
    Optional[Modality],
    typer.Option("--modality", help="Kind of model to use without --model: the latest run of this modality (default: text)."),
]


def check_finite(**options: float | None) -> None:
    """Exit 2 when a numeric option is NaN or infinite (Typer accepts both as floats);
    keyword names are the options' names with ``_`` for ``-``."""
    import math

    from eddpm_cli._errors import fail

    for name, value in options.items():
        if value is not None and not math.isfinite(value):
            raise fail(f"--{name.replace('_', '-')} must be a finite number, got {value}")


def decode_options(modality: str, temperature: float, top_p: float, max_length: int | None,
                   pixel_steps: int | None = None) -> dict:
    """Decoder keyword arguments of the model's modality from the shared options."""
    from eddpm_cli._errors import fail

    check_finite(temperature=temperature, top_p=top_p)
    if modality == "image":
        return {"pixel_steps": pixel_steps}
    if pixel_steps is not None:
        raise fail(f"--pixel-steps is for image models, and this is a {modality} model")
    return {"temperature": temperature, "top_p": top_p, "max_length": max_length}


def format_value(fmt: InputFormat | None) -> str | None:
    """The ``--format`` choice as a plain string (None: decide from name and content)."""
    return fmt.value if fmt is not None else None
