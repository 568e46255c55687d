"""Helpers shared by subcommands: logging, devices, seeds, finding and loading models."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from eddpm_cli._errors import fail, state
from eddpm_cli._options import DEFAULT_MAX_IMAGE_PIXELS
from eddpm_cli._output import note

if TYPE_CHECKING:
    from eddpm_cli._inputs import Inputs, Stream

RUNS_DIR_ENV = "EDDPM_RUNS"


def runs_root() -> Path:
    """Where runs go by default: $EDDPM_RUNS or ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs"))


def setup_logging() -> None:
    """Route the core's logging to stderr (INFO, or DEBUG with -v; warnings only with -q)."""
    level = logging.DEBUG if state.verbose else logging.WARNING if state.quiet else logging.INFO
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="eddpm: %(message)s")
    logging.getLogger("models").setLevel(level)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass(frozen=True)
class Placement:
    """Where and how a command runs its model: ``--device``, ``--precision``, ``--compile``."""

    device: str | None = None
    precision: str = "auto"
    compile: bool = False


def device(name: str | None = None):
    """The torch device for inference: explicit, else CUDA when present, else CPU."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(name)
    except (RuntimeError, ValueError):
        raise fail(f"--device {name!r} is not a device", hint="use cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"--device {name}: no CUDA GPU is available", hint="use --device cpu")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise fail(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
    if chosen.type not in ("cpu", "cuda") and chosen.type != _accelerator_type():
        raise fail(f"--device {name}: no {chosen.type} device is available to this PyTorch",
                   hint="use --device cpu" + (f" or {_accelerator_type()}"
                                              if _accelerator_type() else ""))
    return chosen


def _accelerator_type() -> str | None:
    """The type of the accelerator PyTorch can use here (cuda, mps, xpu, ...), if any."""
    import torch

    api = getattr(torch, "accelerator", None)
    if api is None or not api.is_available():
        return None
    return api.current_accelerator().type


def latest_run(modality: str) -> Path | None:
    """The most recently written run under :func:`runs_root` whose config has ``modality``."""
    import json

    root = runs_root()
    if not root.is_dir():
        return None
    found = []
    for config in root.glob("*/config.json"):
        run = config.parent
        if not (run / "model.safetensors").is_file():
            continue
        try:
            if json.loads(config.read_text(encoding="utf-8")).get("modality") != modality:
                continue
            finished = bool(json.loads((run / "run.json").read_text(encoding="utf-8")).get("finished"))
        except (OSError, ValueError):
            continue
        # Finished runs first, so a run still training is only chosen when nothing else exists.
        found.append((finished, (run / "model.safetensors").stat().st_mtime, run))
    return max(found)[2] if found else None


def resolve_model(model: Path | None, modality: str) -> Path:
    """The explicit --model, or the latest matching run (announced on stderr)."""
    if model is not None:
        return model
    found = latest_run(modality)
    if found is None:
        raise fail(
            f"no --model given and no trained {modality} model under {runs_root()}/",
            hint="train one with: eddpm train --data FILE, or pass --model DIR",
        )
    note(f"using model {found} (latest {modality} run; pass --model to choose)")
    return found


def load(model_dir: Path, place: Placement | None = None):
    """Load a checkpoint for inference on the chosen device, precision and compilation."""
    setup_logging()
    from models.checkpoint import load_model
    from models.precision import inference_dtype

    place = place or Placement()
    chosen = device(place.device)
    dtype = inference_dtype(place.precision, chosen)
    net = load_model(model_dir, chosen)
    net.set_precision(dtype)
    if place.compile:
        net.compile_networks(dynamic=True)
    return net


def model_dir_for(model: Path | None, modality: str) -> Path:
    """The explicit --model (which must be of ``modality``) or the latest run of that modality."""
    from models.checkpoint import read_config

    model_dir = resolve_model(model, modality)
    found = read_config(model_dir).modality
    if found != modality:
        raise fail(
            f"{model_dir} is {'an' if found[0] in 'aeiou' else 'a'} {found} model, but the input "
            f"is {modality} data",
            hint=(f"if the input is {found} data, say so with --format (e.g. --format csv for a "
                  "table on stdin)" if found == "protein" and modality == "text" else
                  f"pass {'an' if modality[0] in 'aeiou' else 'a'} {modality} model with --model, "
                  "or an input of the model's kind"),
        )
    return model_dir


def load_for(
    model: Path | None, modality: str, place: Placement | None,
    crop_note: Callable[[Any], str | None] | None = None,
):
    """Load the model for inputs of ``modality``: the explicit --model (which must be of that
    modality) or the latest matching run. ``crop_note(codec)`` gives the one warning about
    examples the model will crop (see :meth:`Inputs.crop_note`)."""
    from eddpm_cli._output import warn

    net = load(model_dir_for(model, modality), place)
    cropped = crop_note(net.codec) if crop_note is not None else None
    if cropped:
        warn(cropped)
    return net


def read_with_model(
    sources: list[str], model: Path | None, place: Placement | None, fmt: str | None = None,
    options: Any = None, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    check: Callable[[str], None] | None = None, stream: bool = False,
) -> tuple[Inputs | Stream, Any]:
    """Read a command's inputs and load the model of their modality.

    Text and protein inputs are read first, so a bad input fails before any model is looked
    for. Images need the model's resolution: the model directory is found and its config read
    (cheap), then every image is read and checked, and only then are the weights loaded.
    ``check(modality)`` tests the command's modality-specific options before any model is
    loaded; the reader's notes are shown only once it passes, so a usage error stands alone.
    With ``stream``, a text or protein file, or the images, are checked in one pass and
    returned as a :class:`Stream` that reads them again chunk by chunk; text or protein stdin is
    first copied to a temporary file for that.
    """
    from eddpm_cli._inputs import (
        probe, read_image_inputs, read_inputs, stream_images, stream_input,
    )
    from eddpm_cli._output import held_messages

    check = check or (lambda modality: None)
    found = probe(sources, fmt, spool=stream and len(sources) == 1)
    if not found.images:
        with held_messages():
            if found.spooled is not None:
                inputs = stream_input(found.spooled, fmt, options, name=found.spooled_name)
            elif stream and found.stdin is None:
                inputs = stream_input(found.sources[0], fmt, options)
            else:
                inputs = read_inputs(found.sources[0], fmt, options, found.stdin)
            check(inputs.modality)
        return inputs, load_for(model, inputs.modality, place, inputs.crop_note)
    from models.checkpoint import read_config

    check("image")
    model_dir = model_dir_for(model, "image")
    resolution = read_config(model_dir).codec.resolution
    if stream:
        inputs = stream_images(found, resolution, max_image_pixels)
    else:
        inputs = read_image_inputs(found, resolution, max_image_pixels)
    return inputs, load(model_dir, place)


def load_without_input(model: Path | None, modality: str | None, out: Path | None,
                       place: Placement | None):
    """Load the model of a command that reads no examples (generate, decode): --model, else the
    latest run of --modality (image when --out names a folder for PNGs, else text); the model
    and --modality must agree when both are given."""
    if model is None:
        default = "image" if out is not None else "text"
        return load(resolve_model(None, modality or default), place)
    if modality is not None:
        return load_for(model, modality, place)
    return load(model, place)


def seed_everything(seed: int) -> None:
    import torch

    torch.manual_seed(seed)
