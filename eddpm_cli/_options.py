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


class InputFormat(str, Enum):
    text = "text"
    fasta = "fasta"
    csv = "csv"
    tsv = "tsv"


class Modality(str, Enum):
    text = "text"
    protein = "protein"


ModelOpt = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Checkpoint directory (default: the latest finished run of the input's modality under ./runs or $EDDPM_RUNS)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]
StepsOpt = Annotated[int, typer.Option("--steps", "-k", min=1, help="Latent sampler steps (DDIM, and DDIM inversion).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples per forward pass.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1 ... (default: cuda if present).")]
TemperatureOpt = Annotated[
    float, typer.Option("--temperature", min=0.0, help="Decoder sampling temperature; 0 decodes greedily.")
]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling threshold (with --temperature > 0).")]
MaxLengthOpt = Annotated[Optional[int], typer.Option("--max-length", min=2, help="Maximum tokens (text) or residues (protein) per decoded example.")]
InputArg = Annotated[str, typer.Argument(help="Input file: text (one example per line), FASTA, CSV or TSV; '-' reads stdin.", show_default=False)]
FormatOpt = Annotated[
    Optional[InputFormat],
    typer.Option("--format", help="Input format (default: from the file name; else FASTA when the data starts with '>', else text)."),
]
SequenceColumnOpt = Annotated[str, typer.Option("--sequence-column", help="CSV/TSV column holding the protein sequences.")]
IdColumnOpt = Annotated[
    Optional[str],
    typer.Option("--id-column", help="CSV/TSV column holding record ids (default: line<K>); with --labels-csv, that table's id column (default: id)."),
]
ModalityOpt = Annotated[
    Optional[Modality],
    typer.Option("--modality", help="Kind of model to use without --model: the latest run of this modality (default: text)."),
]


def decode_options(temperature: float, top_p: float, max_length: int | None) -> dict:
    """Decoder keyword arguments from the shared options."""
    return {"temperature": temperature, "top_p": top_p, "max_length": max_length}


def format_value(fmt: InputFormat | None) -> str | None:
    """The ``--format`` choice as a plain string (None: decide from name and content)."""
    return fmt.value if fmt is not None else None
