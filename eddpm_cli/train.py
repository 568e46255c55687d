"""eddpm train: fit an EDDPM (encoder, latent diffusion, decoder) jointly on a dataset."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from eddpm_cli._errors import fail, handle_errors


class Preset(str, Enum):
    tiny = "tiny"
    small = "small"
    base = "base"


class Precision(str, Enum):
    no = "no"
    bf16 = "bf16"
    fp16 = "fp16"


@handle_errors
def train(
    data: Annotated[Optional[list[Path]], typer.Option("--data", "-d", help="Training file, one example per line; '-' reads stdin. Repeat for several files.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory (default: runs/<modality>-<time>).")] = None,
    preset: Annotated[Preset, typer.Option(help="Model sizes and training defaults: tiny (tests), small (CPU), base (GPU).")] = Preset.small,
    config: Annotated[Optional[Path], typer.Option("--config", help="JSON or TOML file overriding codec/prior/objective/train options.")] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Lines are LABEL<TAB>TEXT; trains a latent classifier head (used by edit).")] = False,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue the run in this directory from its last checkpoint.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (reproducible on CPU).")] = None,
    max_steps: Annotated[Optional[int], typer.Option("--max-steps", help="Optimizer steps.")] = None,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Stop (and save) after this many minutes.")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Examples per step (per process).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate.")] = None,
    ema: Annotated[Optional[float], typer.Option("--ema", help="EMA decay of the weights, e.g. 0.999 (0: off).")] = None,
    mixed_precision: Annotated[Optional[Precision], typer.Option("--mixed-precision", help="no, bf16 or fp16 (fp16 needs a CUDA GPU).")] = None,
    encoder: Annotated[Optional[Path], typer.Option("--encoder", help="Local pretrained transformers encoder directory (e.g. a BERT or MiniLM).")] = None,
    decoder: Annotated[Optional[Path], typer.Option("--decoder", help="Local pretrained GPT-2 directory for the decoder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run directory.")] = False,
) -> None:
    """Train a model; prints the run directory on stdout when done."""
    import dataclasses

    from eddpm_cli._common import runs_root, setup_logging
    from eddpm_cli._output import note

    overrides = {
        "seed": seed, "max_steps": max_steps, "max_minutes": max_minutes, "batch_size": batch_size,
        "lr": lr, "ema_decay": ema, "mixed_precision": mixed_precision.value if mixed_precision else None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    setup_logging()
    from models.training import check_mixed_precision

    if "mixed_precision" in overrides:
        check_mixed_precision(overrides["mixed_precision"])
    if resume is not None:
        fixed = {"--preset": preset != Preset.small, "--config": config is not None, "--labels": labels,
                 "--encoder": encoder is not None, "--decoder": decoder is not None,
                 "--out": out is not None, "--lr": lr is not None}
        given = [name for name, used in fixed.items() if used]
        if given:
            raise fail(
                f"{', '.join(given)} cannot be changed when resuming; the run keeps its own settings",
                hint=f"resume with: eddpm train --resume {resume} [--max-steps N] [--max-minutes M]",
            )
        _resume(resume, data, overrides)
        return
    if not data:
        raise fail("missing option '--data'", hint="eddpm train --data reviews.txt")
    out_dir = out or runs_root() / f"text-{_timestamp()}"
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise fail(
            f"run directory {out_dir} already exists",
            hint=f"pass --force to overwrite it, --resume {out_dir} to continue it, or another --out",
        )

    from models import config as cfg
    from models.data.datasets import text_dataset

    model_cfg, train_cfg = cfg.preset("text", preset.value)
    if config is not None:
        model_cfg, train_cfg = cfg.apply_overrides(model_cfg, train_cfg, config)
    train_cfg = dataclasses.replace(train_cfg, **overrides)
    check_mixed_precision(train_cfg.mixed_precision)

    dataset, classes, fingerprint = text_dataset(data, labels=labels, on_note=note)
    if classes:
        model_cfg = dataclasses.replace(model_cfg, heads=(cfg.HeadConfig(name="label", classes=classes),))
    _run(model_cfg, train_cfg, dataset, out_dir, data, fingerprint, encoder, decoder, preset.value)
    typer.echo(str(out_dir))


def _timestamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def _run(model_cfg, train_cfg, dataset, out_dir: Path, data, fingerprint, encoder, decoder, preset) -> None:
    import dataclasses
    import shutil

    import torch

    from eddpm_cli._output import note
    from models import checkpoint as ckpt
    from models.autoencoder import EDDPM
    from models.text.codec import build_text_codec
    from models.training import Trainer, split_dataset

    torch.manual_seed(train_cfg.seed)
    train_set, val_set = split_dataset(dataset, train_cfg.val_fraction, train_cfg.max_val_examples, train_cfg.seed)
    codec, codec_cfg = build_text_codec(
        model_cfg.codec, model_cfg.prior.latent_dim, train_set.examples, encoder_dir=encoder, decoder_dir=decoder
    )
    model_cfg = dataclasses.replace(model_cfg, codec=codec_cfg)
    model = EDDPM(model_cfg, codec)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    ckpt.write_json(out_dir / ckpt.CONFIG_NAME, model_cfg.to_dict())
    codec.save_assets(out_dir)
    _write_run_json(out_dir, train_cfg, data, fingerprint, preset, len(train_set), len(val_set))
    n_params = sum(p.numel() for p in model.parameters())
    note(f"training {n_params / 1e6:.2f}M parameters on {len(train_set)} examples "
         f"({len(val_set)} held out) into {out_dir}")
    trainer = Trainer(model, train_cfg, out_dir, train_set, val_set, progress=_progress())
    _fit(trainer, train_set, out_dir)


def _fit(trainer, train_set, out_dir: Path) -> None:
    from eddpm_cli._output import note
    from models import checkpoint as ckpt
    from models.training import class_means, plot_losses

    model = trainer.raw_model
    try:
        val = trainer.fit()
    except KeyboardInterrupt:
        note(f"interrupted; resume with: eddpm train --resume {out_dir}")
        raise
    finally:
        if trainer.accelerator.is_main_process and trainer.history:
            plot_losses(trainer.history, out_dir / "loss.png")
    if not trainer.accelerator.is_main_process:
        return
    if "label" in model.heads and "label" in train_set.targets:
        model.class_means.copy_(class_means(model, train_set, "label", trainer.config.batch_size))
        trainer.save()
    shown = {k: round(v, 4) for k, v in val.items() if isinstance(v, float)}
    note(f"done at step {trainer.step}; validation: {shown}")
    _finish_run_json(out_dir, trainer.step)


def _progress() -> bool:
    from eddpm_cli._output import show_progress

    return show_progress()


def _write_run_json(out_dir: Path, train_cfg, data, fingerprint, preset, n_train, n_val) -> None:
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
    from models.data.datasets import text_dataset
    from models.training import Trainer, split_dataset

    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise fail(f"{run_dir} is not a resumable run (no run.json)")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    train_cfg = TrainConfig(**info["train"])
    for key in ("batch_size", "seed"):
        if key in overrides and overrides[key] != getattr(train_cfg, key):
            raise fail(
                f"--{key.replace('_', '-')} {overrides[key]} conflicts with the run's stored value "
                f"{getattr(train_cfg, key)}",
                hint="drop the option to resume, or start a new run with --out",
            )
    train_cfg = dataclasses.replace(train_cfg, **overrides)
    info["train"] = dataclasses.asdict(train_cfg)
    ckpt.write_json(info_path, info)
    paths = data or [Path(p) for p in info["data"]]
    if any(str(p) == "-" for p in paths) and not data:
        raise fail("this run was trained from stdin", hint="pass the same data again with --data -")
    model_cfg = ckpt.read_config(run_dir)
    labels = bool(model_cfg.heads)
    dataset, classes, fingerprint = text_dataset(paths, labels=labels, on_note=note)
    if fingerprint != info["data_fingerprint"]:
        raise fail(f"the data differs from the data {run_dir} was trained on (fingerprint mismatch)",
                   hint="pass the original --data files")
    train_set, val_set = split_dataset(dataset, train_cfg.val_fraction, train_cfg.max_val_examples, train_cfg.seed)
    model = ckpt.build_model(model_cfg, run_dir)
    trainer = Trainer(model, train_cfg, run_dir, train_set, val_set, progress=_progress())
    trainer.resume()
    note(f"resuming {run_dir} at step {trainer.step}")
    _fit(trainer, train_set, run_dir)
    typer.echo(str(run_dir))
