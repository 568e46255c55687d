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


ModelOpt = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Checkpoint directory (default: the latest finished run under ./runs or $EDDPM_RUNS)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same output.")]
StepsOpt = Annotated[int, typer.Option("--steps", "-k", min=1, help="Latent sampler steps (DDIM, and DDIM inversion).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Examples per forward pass.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:1 ... (default: cuda if present).")]
TemperatureOpt = Annotated[
    float, typer.Option("--temperature", min=0.0, help="Decoder sampling temperature; 0 decodes greedily.")
]
TopPOpt = Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling threshold (with --temperature > 0).")]
MaxLengthOpt = Annotated[Optional[int], typer.Option("--max-length", min=2, help="Maximum tokens per decoded line.")]
InputArg = Annotated[str, typer.Argument(help="Input file, one example per line; '-' reads stdin.", show_default=False)]


def decode_options(temperature: float, top_p: float, max_length: int | None) -> dict:
    """Decoder keyword arguments from the shared options."""
    return {"temperature": temperature, "top_p": top_p, "max_length": max_length}
