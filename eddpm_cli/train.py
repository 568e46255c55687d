"""eddpm train: fit an EDDPM (encoder, latent diffusion, decoder) jointly on a dataset."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from eddpm_cli._errors import fail, handle_errors
from eddpm_cli._launch import (
    check_launch_data, leave_process_group, quiet_other_processes, raise_everywhere,
)
from eddpm_cli._options import (
    DEFAULT_MAX_IMAGE_PIXELS, FormatOpt, MaxImagePixelsOpt, SequenceColumnOpt,
    format_value,
)


class Preset(str, Enum):
    tiny = "tiny"
    small = "small"
    base = "base"
    paper = "paper"


class Precision(str, Enum):
    no = "no"
    bf16 = "bf16"
    fp16 = "fp16"


@handle_errors
def train(
    data: Annotated[Optional[list[Path]], typer.Option("--data", "-d", help="Training data: text (one example per line), FASTA, CSV or TSV; or images: files, directories (recursive; class sub-folders are labels), glob patterns, .npz arrays; '-' reads stdin. Repeat for several sources of one kind.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default: runs/<modality>-<time>).")] = None,
    preset: Annotated[Preset, typer.Option(help="Model sizes and training defaults: tiny (tests), small (CPU), base (text and image, GPU), paper (protein, the authors' sizes).")] = Preset.small,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON or TOML file overriding codec/prior/objective/train options.")] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Text: lines are LABEL<TAB>TEXT; trains a latent classifier head (used by edit). Image: require a label for every image (labels are used anyway when every image has one, from class sub-folders or .npz labels, and there are two classes or more).")] = False,
    label_column: Annotated[Optional[list[str]], typer.Option("--label-column", help="Protein: a numeric label column (of the CSV/TSV, or of --labels-csv); one regression head each, trained jointly. Repeatable.")] = None,
    labels_csv: Annotated[Optional[Path], typer.Option("--labels-csv", help="Protein FASTA: a CSV/TSV with an id column (--id-column, default id) and the --label-column columns.")] = None,
    input_format: FormatOpt = None,
    sequence_column: SequenceColumnOpt = "sequence",
    id_column: Annotated[Optional[str], typer.Option(
        "--id-column", help="CSV/TSV column holding record ids (default: line<K>); with "
        "--labels-csv, that table's id column (default: id).")] = None,
    max_image_pixels: MaxImagePixelsOpt = DEFAULT_MAX_IMAGE_PIXELS,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this directory from its last checkpoint.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (reproducible on CPU).")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Optimizer steps.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Stop (and save) after this many minutes.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Examples per step (per process).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    ema: Annotated[Optional[float], typer.Option("--ema", help="EMA decay of the weights, e.g. 0.999 (0: off).")] = None,
    mixed_precision: Annotated[Optional[Precision], typer.Option("--mixed-precision", help="no, bf16 or fp16 (fp16 needs a CUDA GPU).")] = None,
    encoder: Annotated[Optional[Path], typer.Option("--encoder", help="Text: local pretrained transformers encoder directory (e.g. a BERT or MiniLM).")] = None,
    decoder: Annotated[Optional[Path], typer.Option("--decoder", help="Text: local pretrained GPT-2 directory for the decoder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run directory.")] = False,
) -> None:
    """Train a model; prints the run directory on stdout when done."""
    import dataclasses

    from eddpm_cli._common import runs_root, setup_logging

    overrides = {
        "seed": seed, "max_steps": max_steps, "max_minutes": max_minutes, "batch_size": batch_size,
        "lr": lr, "ema_decay": ema, "mixed_precision": mixed_precision.value if mixed_precision else None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    quiet_other_processes()
    setup_logging()
    from models import config as cfg

    cfg.TrainConfig(**overrides)  # refuse impossible values before reading data or writing
    from models.sharding import check_launch_environment
    from models.training import check_mixed_precision

    check_launch_environment()
    check_launch_data(data)
    if "mixed_precision" in overrides:
        check_mixed_precision(overrides["mixed_precision"])
    if resume is not None:
        fixed = {"--config": config is not None, "--labels": labels,
                 "--encoder": encoder is not None, "--decoder": decoder is not None,
                 "--out": out is not None, "--label-column": bool(label_column),
                 "--labels-csv": labels_csv is not None, "--format": input_format is not None,
                 "--sequence-column": sequence_column != "sequence", "--id-column": id_column is not None,
                 "--max-image-pixels": max_image_pixels != DEFAULT_MAX_IMAGE_PIXELS}
        given = [name for name, used in fixed.items() if used]
        if given:
            raise fail(
                f"{', '.join(given)} cannot be changed when resuming; the run keeps its own settings",
                hint=f"resume with: eddpm train --resume {resume} [--max-steps N] [--max-minutes M]",
            )
        if preset != Preset.small:
            overrides["preset"] = preset.value
        _resume(resume, data, overrides)
        return
    if not data:
        raise fail("missing option '--data'", hint="eddpm train --data reviews.txt")

    reading = {"format": format_value(input_format), "sequence_column": sequence_column,
               "id_column": id_column, "label_columns": list(label_column or []),
               "labels_csv": str(labels_csv) if labels_csv is not None else None,
               "max_image_pixels": max_image_pixels}
    if out is not None:
        _check_new_run_dir(out, force)
    modality, raws = _open_all(data, reading["format"])
    _check_options(modality, labels, reading, encoder, decoder)
    model_cfg, train_cfg = cfg.preset(modality, preset.value)
    out_dir = out or runs_root() / _default_run_name(modality)
    _check_new_run_dir(out_dir, force)
    if config is not None:
        model_cfg, train_cfg = cfg.apply_overrides(model_cfg, train_cfg, config)
    train_cfg = dataclasses.replace(train_cfg, **overrides)
    check_mixed_precision(train_cfg.mixed_precision)

    # Images use their labels when every one has a label (class sub-folders, .npz labels).
    wanted = (labels or None) if modality == "image" else labels
    dataset, classes, fingerprint = _dataset(model_cfg, raws, wanted, reading)
    if classes:
        model_cfg = dataclasses.replace(model_cfg, heads=(cfg.HeadConfig(name="label", classes=classes),))
    main = _run(model_cfg, train_cfg, dataset, out_dir, data, fingerprint, encoder, decoder,
                preset.value, reading)
    leave_process_group()
    if main:
        typer.echo(str(out_dir))


def _default_run_name(modality: str) -> str:
    """``<modality>-<time>``; the main process's name, when several processes train."""
    from models.training import distributed_state

    name = [f"{modality}-{_timestamp()}"]
    if distributed_state().num_processes > 1:
        from accelerate.utils import broadcast_object_list

        broadcast_object_list(name, from_process=0)
    return name[0]


def _check_new_run_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise fail(f"--out {out_dir} is a file, expected a run directory",
                   hint="choose another --out; a run is a directory of files")
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise fail(
            f"run directory {out_dir} already exists",
            hint=f"pass --force to overwrite it, --resume {out_dir} to continue it, or another --out",
        )


def _open_all(paths: list[Path], fmt: str | None) -> tuple[str, Any]:
    """``(modality, data)`` of the --data sources, all of one modality: the text and protein
    files read once (a list of RawInput), or the probed image sources (read later, at the
    model's resolution)."""
    import io

    from eddpm_cli._inputs import probe
    from models.data.formats import open_input

    found = probe([str(p) for p in paths], fmt, several=True)
    if found.images:
        return "image", found
    raws = [open_input(p, fmt, stdin=io.BytesIO(found.stdin) if str(p) == "-" else None)
            for p in paths]
    kinds = sorted({r.modality for r in raws})
    if len(kinds) > 1:
        names = ", ".join(f"{r.name} ({r.format})" for r in raws)
        raise fail(f"--data files mix {' and '.join(kinds)} inputs: {names}",
                   hint="train one model per modality")
    return kinds[0], raws


def _check_options(modality: str, labels: bool, reading: dict, encoder, decoder) -> None:
    """Refuse options that belong to the other modality, before any parsing."""
    protein_only = [name for name, used in (
        ("--label-column", reading["label_columns"]), ("--labels-csv", reading["labels_csv"]),
        ("--id-column", reading["id_column"]), ("--sequence-column", reading["sequence_column"] != "sequence"),
    ) if used]
    if modality != "protein" and protein_only:
        hint = ("image labels come from class sub-folders (DIR/CLASS/x.png) or .npz labels"
                if modality == "image" else "for text labels use --labels with LABEL<TAB>TEXT lines")
        verb = "applies" if len(protein_only) == 1 else "apply"
        raise fail(f"{', '.join(protein_only)} {verb} to protein inputs (FASTA, CSV, TSV), "
                   f"and --data is {modality}",
                   hint=hint)
    if modality == "protein" and labels:
        raise fail("--labels is for text, and --data was read as a protein table (by its name)",
                   hint="for LABEL<TAB>TEXT lines in a .tsv file add --format text; for protein "
                        "fitness labels use --label-column, e.g. --data fitness.csv "
                        "--label-column fitness")
    if modality != "text" and (encoder is not None or decoder is not None):
        raise fail(f"--encoder and --decoder take pretrained text models; the --data is {modality}")
    if modality != "image" and reading["max_image_pixels"] != DEFAULT_MAX_IMAGE_PIXELS:
        raise fail(f"--max-image-pixels applies to image inputs, and --data is {modality}")


def _dataset(model_cfg, raws: Any, labels: bool | None, reading: dict):
    """``(dataset, class labels, fingerprint)`` of the --data inputs; notes go to stderr.

    ``labels`` None (images only) uses labels when every image has one."""
    from eddpm_cli._inputs import protein_options
    from eddpm_cli._output import note

    modality = model_cfg.modality
    if modality == "image":
        from models.data.images import image_dataset

        limit = reading.get("max_image_pixels", DEFAULT_MAX_IMAGE_PIXELS) or None
        return image_dataset(raws.sources, model_cfg.codec.resolution, labels=labels,
                             on_note=note, max_image_pixels=limit, stdin=raws.stdin_stream())
    if modality == "text":
        from models.data.datasets import text_dataset

        return text_dataset(raws, labels=labels, on_note=note)
    from models.protein.data import protein_dataset, read_proteins

    options = protein_options(reading["sequence_column"], reading["id_column"],
                              reading["label_columns"], reading["labels_csv"])
    results = [read_proteins(raw, options) for raw in raws]
    for result in results:
        for line in result.notes():
            note(line)
    dataset, _, fingerprint = protein_dataset(results)
    return dataset, (), fingerprint


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def _run(model_cfg, train_cfg, dataset, out_dir: Path, data, fingerprint, encoder, decoder, preset,
         reading: dict) -> bool:
    """Build, write and train the model; True in the main process.

    Under a multi-process launch the main process builds the model (and trains its tokenizer)
    and writes the run directory; the others then build the same model from what it wrote."""
    import dataclasses
    import shutil

    import torch

    from eddpm_cli._output import note, warn
    from models import checkpoint as ckpt
    from models.autoencoder import EDDPM
    from models.codecs import build_codec
    from models.sharding import check_wrap_classes
    from models.errors import EddpmError
    from models.training import (
        Trainer, check_shareable, distributed_state, regression_heads, split_dataset,
    )

    state = distributed_state()
    main = state.is_main_process
    torch.manual_seed(train_cfg.seed)
    train_set, val_set = split_dataset(dataset, train_cfg.val_fraction, train_cfg.max_val_examples, train_cfg.seed)
    check_shareable(len(train_set), state.num_processes)
    error = None
    if main:
        try:
            if reading["label_columns"]:
                # Standardised with the training split only, so validation stays unseen.
                heads = regression_heads(train_set, reading["label_columns"])
                model_cfg = dataclasses.replace(model_cfg, heads=model_cfg.heads + heads)
            codec, codec_cfg = build_codec(model_cfg, train_set.examples, encoder_dir=encoder,
                                           decoder_dir=decoder)
            model_cfg = dataclasses.replace(model_cfg, codec=codec_cfg)
            cropped = codec.truncation_note(dataset.examples)
            if cropped:
                warn(cropped)
            model = EDDPM(model_cfg, codec)
            check_wrap_classes(model)
        except EddpmError as exc:  # the other processes stop with it instead of waiting
            error = exc
    raise_everywhere(error, state)  # every process has also checked --out by now
    if main:
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        ckpt.write_json(out_dir / ckpt.CONFIG_NAME, model_cfg.to_dict())
        codec.save_assets(out_dir)
        _write_run_json(out_dir, train_cfg, data, fingerprint, preset, len(train_set), len(val_set),
                        reading)
        n_params = sum(p.numel() for p in model.parameters())
        note(f"training {n_params / 1e6:.2f}M parameters on {len(train_set)} examples "
             f"({len(val_set)} held out) into {out_dir}"
             + (f" with {state.num_processes} processes" if state.num_processes > 1 else ""))
    state.wait_for_everyone()
    if not main:  # the same tokenizer and config; the weights come from the main process
        model = ckpt.build_model(ckpt.read_config(out_dir), out_dir)
    trainer = Trainer(model, train_cfg, out_dir, train_set, val_set, progress=_progress())
    return _fit(trainer, train_set, out_dir)


def _fit(trainer, train_set, out_dir: Path) -> bool:
    """Train, then (main process) fill the class means and finish run.json; True in the main
    process."""
    from eddpm_cli._output import note
    from models import checkpoint as ckpt
    from models.training import class_means, plot_losses

    model = trainer.raw_model
    if trainer.sharded and trainer.accelerator.is_main_process:
        note("weights, gradients and optimizer state are sharded across the processes (FSDP2)")
    try:
        val = trainer.fit()
    except KeyboardInterrupt:
        if trainer.last_saved_step is None:
            note(f"interrupted before the first checkpoint: nothing to resume; start again "
                 f"with --force to replace {out_dir}")
        elif trainer.accelerator.num_processes > 1:
            note(f"interrupted; resume with the same launcher: "
                 f"... -m eddpm_cli.app train --resume {out_dir}")
        else:
            note(f"interrupted; resume with: eddpm train --resume {out_dir}")
        raise
    finally:
        if trainer.accelerator.is_main_process and trainer.history:
            plot_losses(trainer.history, out_dir / "loss.png")
    if "label" in model.heads and "label" in train_set.targets:
        # Every process enters full_weights() (it gathers the shards under FSDP) and the save;
        # the main process computes the means (after the block: it restores every buffer).
        means = None
        with trainer.inference_weights(), trainer.full_weights():
            if trainer.accelerator.is_main_process:
                means = class_means(model, train_set, "label", trainer.config.batch_size)
        if means is not None:
            model.class_means.copy_(means.to(model.class_means.device))
        trainer.save()
    if not trainer.accelerator.is_main_process:
        return False
    shown = {k: round(v, 4) for k, v in val.items() if isinstance(v, float)}
    note(f"done at step {trainer.step}; validation: {shown}")
    _finish_run_json(out_dir, trainer.step)
    return True


def _progress() -> bool:
    from eddpm_cli._output import show_progress

    return show_progress()


def _write_run_json(out_dir: Path, train_cfg, data, fingerprint, preset, n_train, n_val, reading) -> None:
    import dataclasses
    import sys
    import time
    from importlib import metadata

    from models import checkpoint as ckpt

    versions = {}
    for pkg in ("torch", "transformers", "diffusers", "accelerate", "tokenizers", "safetensors", "eddpm"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    ckpt.write_json(out_dir / "run.json", {
        "command": ["eddpm", *sys.argv[1:]],
        "preset": preset,
        "train": dataclasses.asdict(train_cfg),
        "seed": train_cfg.seed,
        "data": [str(p) for p in data],
        "reading": reading,
        "data_fingerprint": fingerprint,
        "examples": {"train": n_train, "val": n_val},
        "versions": versions,
        "python": sys.version.split()[0],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })


def _finish_run_json(out_dir: Path, step: int) -> None:
    import json
    import time

    from models import checkpoint as ckpt

    path = out_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8"))
    info.setdefault("finished", []).append({"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    ckpt.write_json(path, info)


def _resume(run_dir: Path, data, overrides: dict) -> None:
    import dataclasses
    import json

    from eddpm_cli._output import note
    from models import checkpoint as ckpt
    from models.config import TrainConfig
    from models.sharding import check_wrap_classes
    from models.training import TRAINER_DIR, Trainer, distributed_state, split_dataset

    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise fail(f"{run_dir} is not a resumable run (no run.json)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    train_cfg = TrainConfig(**info["train"])
    # --batch-size may change (to keep the global batch when the process count changes).
    stored = {"seed": train_cfg.seed, "lr": train_cfg.lr, "preset": info.get("preset")}
    for key, value in stored.items():
        if key in overrides and overrides[key] != value:
            raise fail(
                f"--{key.replace('_', '-')} {overrides[key]} conflicts with the run's stored value "
                f"{value}",
                hint="drop the option to resume, or start a new run with --out",
            )
    overrides.pop("preset", None)
    train_cfg = dataclasses.replace(train_cfg, **overrides)
    step = ckpt.saved_step(run_dir / TRAINER_DIR)
    if step is not None and train_cfg.max_steps < step:  # refused before anything is read
        raise fail(
            f"--max-steps {train_cfg.max_steps} is below the step {step} the run's "
            "checkpoint has reached",
            hint=f"pass --max-steps above {step}, or drop it to keep the run's own "
            f"({info['train']['max_steps']})",
        )
    paths = data or [Path(p) for p in info["data"]]
    if any(str(p) == "-" for p in paths) and not data:
        raise fail("this run was trained from stdin", hint="pass the same data again with --data -")
    model_cfg = ckpt.read_config(run_dir)
    # Runs written before proteins existed have no "reading" record: plain text.
    reading = info.get("reading") or {"format": None, "sequence_column": "sequence", "id_column": None,
                                      "label_columns": [], "labels_csv": None}
    modality, raws = _open_all(paths, reading["format"])
    if modality != model_cfg.modality:
        raise fail(f"the --data is {modality}, but {run_dir} is a {model_cfg.modality} model")
    labels = any(h.kind == "classification" for h in model_cfg.heads)
    dataset, _, fingerprint = _dataset(model_cfg, raws, labels, reading)
    if fingerprint != info["data_fingerprint"]:
        raise fail(f"the data differs from the data {run_dir} was trained on (fingerprint mismatch)",
                   hint="pass the original --data files")
    train_set, val_set = split_dataset(dataset, train_cfg.val_fraction, train_cfg.max_val_examples, train_cfg.seed)
    model = ckpt.build_model(model_cfg, run_dir)
    check_wrap_classes(model)
    trainer = Trainer(model, train_cfg, run_dir, train_set, val_set, progress=_progress())
    trainer.resume()
    # The run's record keeps the settings it goes on with (a new --max-steps, --max-minutes).
    info["train"] = dataclasses.asdict(train_cfg)
    if distributed_state().is_main_process:
        ckpt.write_json(info_path, info)
    note(f"resuming {run_dir} at step {trainer.step}")
    main = _fit(trainer, train_set, run_dir)
    leave_process_group()
    if main:
        typer.echo(str(run_dir))
