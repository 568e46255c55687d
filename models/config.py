"""Configuration dataclasses, one per component, with their defaults beside them.

A checkpoint's ``config.json`` is :meth:`ModelConfig.to_dict` plus a format version; the training
options of a run live in :class:`TrainConfig` and are recorded in ``run.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import UsageError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PriorConfig:
    """The latent diffusion: schedule, denoiser size and sampler defaults.

    The default schedule is the paper's constant beta = 0.008 over T = 1000 steps.
    """

    latent_dim: int = 128
    num_train_timesteps: int = 1000
    beta_schedule: str = "constant"  # "constant", "linear" or "scaled_linear" (diffusers names)
    beta: float = 0.008  # used by the constant schedule
    beta_start: float = 0.0001  # used by the linear schedules
    beta_end: float = 0.02
    width: int = 512
    depth: int = 6
    time_embed_dim: int = 128


@dataclass(frozen=True)
class ObjectiveConfig:
    """Weights of the EDDPM loss terms (METHOD.md section 2).

    ``encoder_beta`` is the fixed posterior variance of q(z0 | x); the paper ties it to the
    schedule's beta. ``rec_weight`` replaces the authors' implicit ~0.22 batch-average factor.
    """

    rec_weight: float = 1.0
    diffusion_weight: float = 8.0
    encoder_beta: float = 0.008
    head_weight: float = 1.0


@dataclass(frozen=True)
class HeadConfig:
    """A prediction head on z0: a classifier (labels) or a regressor (fitness).

    A regressor is trained on standardised targets, (y - mean) / std with the training split's
    statistics, and its predictions are mapped back to the original units.
    """

    name: str = "label"
    kind: str = "classification"  # or "regression"
    classes: tuple[str, ...] = ()
    hidden: int = 64
    mean: float = 0.0  # regression: training-split mean of the target
    std: float = 1.0  # regression: training-split standard deviation of the target


@dataclass(frozen=True)
class TextCodecConfig:
    """Text codec: BERT-style encoder, GPT-2-style decoder, byte-level BPE tokenizer.

    ``encoder`` / ``decoder`` hold the transformers config dicts of the two networks once built,
    so a checkpoint rebuilds them without the original pretrained directories.
    """

    vocab_size: int = 8000
    max_length: int = 32
    encoder_width: int = 256
    encoder_layers: int = 4
    encoder_heads: int = 4
    decoder_width: int = 256
    decoder_layers: int = 4
    decoder_heads: int = 4
    dropout: float = 0.1
    encoder: dict[str, Any] | None = None
    decoder: dict[str, Any] | None = None
    separate_encoder_tokenizer: bool = False


@dataclass(frozen=True)
class ImageCodecConfig:
    """Image codec: a half-UNet encoder and a latent-conditioned pixel diffusion UNet decoder.

    ``block_out_channels`` gives the width of each resolution level of both networks (the last
    level runs at ``resolution / 2**(levels - 1)``); ``attention_levels`` lists the levels
    (0 = full resolution) whose decoder blocks, and the middle block, use self-attention. The
    decoder's own pixel schedule is DDPM's linear betas (Ho et al. 2020); ``sample_steps`` is the
    default number of DDIM steps when decoding, and ``clip_sample`` clips the predicted clean
    image to [-1, 1] at every step of sampling from fresh noise (never during inversion).
    """

    resolution: int = 64
    block_out_channels: tuple[int, ...] = (64, 128, 256, 256)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    attention_levels: tuple[int, ...] = (2, 3)
    dropout: float = 0.0
    num_train_timesteps: int = 1000
    beta_start: float = 0.0001
    beta_end: float = 0.02
    sample_steps: int = 50
    clip_sample: bool = True

    def __post_init__(self) -> None:
        # JSON stores tuples as lists; keep tuples so a reloaded config compares equal.
        for name in ("block_out_channels", "attention_levels"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class ProteinCodecConfig:
    """Protein codec: transformer encoder with attention pooling, non-autoregressive decoder.

    ``max_length`` (L) is a cap in a preset; training lowers it to the longest training sequence
    when that is shorter, so a checkpoint's config holds the model's real length.
    """

    max_length: int = 256
    width: int = 100
    layers: int = 6
    heads: int = 4
    conv_kernel: int = 5
    dropout: float = 0.1


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: modality, codec, prior, objective and heads."""

    modality: str = "text"
    codec: TextCodecConfig = field(default_factory=TextCodecConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    heads: tuple[HeadConfig, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise UsageError(
                f"config format version {version!r} is not supported (this eddpm reads {FORMAT_VERSION})"
            )
        codec_cls = CODEC_CONFIGS.get(data.get("modality", ""))
        if codec_cls is None:
            raise UsageError(f"unknown modality {data.get('modality')!r} in config")
        heads = tuple(
            HeadConfig(**{**h, "classes": tuple(h.get("classes", ()))}) for h in data.get("heads", ())
        )
        return cls(
            modality=data["modality"],
            codec=_build(codec_cls, data.get("codec", {}), "codec"),
            prior=_build(PriorConfig, data.get("prior", {}), "prior"),
            objective=_build(ObjectiveConfig, data.get("objective", {}), "objective"),
            heads=heads,
        )


@dataclass(frozen=True)
class TrainConfig:
    """Run-level training options (not part of the model)."""

    batch_size: int = 64
    max_steps: int = 5000
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # 0 disables EMA
    val_fraction: float = 0.05
    max_val_examples: int = 1000
    eval_every: int = 500
    save_every: int = 500
    bleu_examples: int = 200
    max_minutes: float = 0.0  # 0 means no time limit
    seed: int = 0
    mixed_precision: str = "no"

    def __post_init__(self) -> None:
        """Refuse values no run can use, naming the option (CLI flag or config key)."""
        checks = (
            ("batch_size", "--batch-size", self.batch_size >= 1, "a positive integer"),
            ("max_steps", "--max-steps", self.max_steps >= 1, "a positive integer"),
            ("lr", "--lr", math.isfinite(self.lr) and self.lr > 0, "a positive finite number"),
            ("ema_decay", "--ema", 0.0 <= self.ema_decay < 1.0, "in [0, 1) (0 turns EMA off)"),
            ("max_minutes", "--max-minutes",
             math.isfinite(self.max_minutes) and self.max_minutes >= 0, "0 (no limit) or more"),
            ("warmup_steps", None, self.warmup_steps >= 0, "0 or more"),
            ("grad_clip", None, self.grad_clip >= 0, "0 or more"),
            ("weight_decay", None, self.weight_decay >= 0, "0 or more"),
            ("val_fraction", None, 0.0 <= self.val_fraction < 1.0, "in [0, 1)"),
            ("eval_every", None, self.eval_every >= 1, "a positive integer"),
            ("save_every", None, self.save_every >= 1, "a positive integer"),
        )
        for key, flag, ok, wanted in checks:
            if not ok:
                name = f"{flag} (train.{key})" if flag else f"train.{key}"
                raise UsageError(f"{name} must be {wanted}, got {getattr(self, key)!r}")


CODEC_CONFIGS: dict[str, type] = {"text": TextCodecConfig, "image": ImageCodecConfig,
                                 "protein": ProteinCodecConfig}


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(
            f"unknown {section} option(s) {', '.join(unknown)}",
            hint=f"valid {section} options: {', '.join(sorted(names))}",
        )
    return cls(**values)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "text": {
        "tiny": {
            "codec": dict(
                vocab_size=300, max_length=24, encoder_width=32, encoder_layers=1, encoder_heads=2,
                decoder_width=32, decoder_layers=1, decoder_heads=2, dropout=0.0,
            ),
            "prior": dict(latent_dim=16, width=64, depth=2, time_embed_dim=32),
            "objective": dict(diffusion_weight=1.0),
            "train": dict(batch_size=16, max_steps=40, lr=2e-3, warmup_steps=5, eval_every=20,
                          save_every=20, bleu_examples=16, max_val_examples=32),
        },
        "small": {
            "codec": dict(
                vocab_size=8000, max_length=32, encoder_width=256, encoder_layers=4,
                encoder_heads=4, decoder_width=256, decoder_layers=4, decoder_heads=4,
            ),
            "prior": dict(latent_dim=128, width=512, depth=6, time_embed_dim=128),
            # NOTE: lambda = 1, not the paper's 8: the paper's text decoder was a pretrained GPT-2
            # (and its reconstruction term carried a ~0.22 factor); trained from scratch on a CPU,
            # a lighter latent term lets reconstruction form first. Override with --config.
            "objective": dict(diffusion_weight=1.0),
            "train": dict(batch_size=64, max_steps=8000, lr=5e-4, warmup_steps=300,
                          eval_every=500, save_every=250, bleu_examples=200),
        },
        "base": {
            "codec": dict(
                vocab_size=16000, max_length=64, encoder_width=512, encoder_layers=4,
                encoder_heads=8, decoder_width=768, decoder_layers=12, decoder_heads=12,
            ),
            "prior": dict(latent_dim=128, width=2048, depth=20, time_embed_dim=256),
            "train": dict(batch_size=128, max_steps=100000, lr=2e-4, warmup_steps=2000,
                          eval_every=2000, save_every=2000, bleu_examples=500, ema_decay=0.999),
        },
    },
    "image": {
        "tiny": {
            "codec": dict(
                resolution=16, block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                attention_levels=(), sample_steps=10,
            ),
            "prior": dict(latent_dim=16, width=64, depth=2, time_embed_dim=32),
            "objective": dict(diffusion_weight=1.0),
            "train": dict(batch_size=8, max_steps=40, lr=2e-3, warmup_steps=5, eval_every=20,
                          save_every=20, bleu_examples=8, max_val_examples=16),
        },
        "small": {
            # Codec 1.4 M parameters (4.1 M with the prior); a step at batch 32 takes about 1 s
            # on one CPU thread.
            "codec": dict(
                resolution=32, block_out_channels=(32, 64, 64), layers_per_block=1,
                norm_num_groups=8, attention_levels=(2,), sample_steps=50,
            ),
            "prior": dict(latent_dim=64, width=512, depth=6, time_embed_dim=128),
            # NOTE: lambda = 1: the authors' image code weights the latent and pixel terms
            # equally at w = 1 (FFHQ); 1.6-1.8 was used for LSUN horse.
            "objective": dict(diffusion_weight=1.0),
            "train": dict(batch_size=32, max_steps=6000, lr=5e-4, warmup_steps=200,
                          eval_every=500, save_every=250, bleu_examples=32, ema_decay=0.999),
        },
        "base": {
            "codec": dict(
                resolution=64, block_out_channels=(64, 128, 256, 256), layers_per_block=2,
                norm_num_groups=32, attention_levels=(2, 3), sample_steps=100,
            ),
            "prior": dict(latent_dim=256, width=2048, depth=10, time_embed_dim=256),
            "objective": dict(diffusion_weight=1.0),
            "train": dict(batch_size=64, max_steps=100000, lr=1e-4, warmup_steps=1000,
                          eval_every=2000, save_every=2000, bleu_examples=64, ema_decay=0.9999),
        },
    },
}


PRESETS["protein"] = {
    "tiny": {
        "codec": dict(max_length=64, width=16, layers=1, heads=2, conv_kernel=3, dropout=0.0),
        "prior": dict(latent_dim=8, width=32, depth=2, time_embed_dim=16),
        "objective": dict(diffusion_weight=1.0),
        "train": dict(batch_size=16, max_steps=40, lr=2e-3, warmup_steps=5, eval_every=20,
                      save_every=20, bleu_examples=16, max_val_examples=32),
    },
    "small": {
        "codec": dict(max_length=256, width=64, layers=3, heads=4, conv_kernel=5),
        "prior": dict(latent_dim=30, width=512, depth=6, time_embed_dim=128),
        "objective": dict(diffusion_weight=1.0),
        "train": dict(batch_size=64, max_steps=5000, lr=5e-4, warmup_steps=200,
                      eval_every=500, save_every=250, bleu_examples=200),
    },
    # The authors' sizes (METHOD.md section 3): width 100, 6 layers, 4 heads, a 30-wide latent,
    # a 20 x 2048 denoiser, and lambda = 1 as in their protein code.
    "paper": {
        "codec": dict(max_length=512, width=100, layers=6, heads=4, conv_kernel=5),
        "prior": dict(latent_dim=30, width=2048, depth=20, time_embed_dim=256),
        "objective": dict(diffusion_weight=1.0),
        "train": dict(batch_size=128, max_steps=100000, lr=2e-4, warmup_steps=2000,
                      eval_every=2000, save_every=2000, bleu_examples=500, ema_decay=0.999),
    },
}


def preset(modality: str, name: str) -> tuple[ModelConfig, TrainConfig]:
    """Return the model and training configs of a named preset.

    Raises:
        UsageError: the preset does not exist for this modality.
    """
    table = PRESETS.get(modality, {})
    if name not in table:
        raise UsageError(
            f"unknown preset {name!r} for {modality}",
            hint=f"choose one of: {', '.join(table) or 'none'}",
        )
    spec = table[name]
    model = ModelConfig(
        modality=modality,
        codec=CODEC_CONFIGS[modality](**spec["codec"]),
        prior=PriorConfig(**spec["prior"]),
        objective=ObjectiveConfig(**spec.get("objective", {})),
    )
    return model, TrainConfig(**spec["train"])


def apply_overrides(model: ModelConfig, train: TrainConfig, path: Path) -> tuple[ModelConfig, TrainConfig]:
    """Override preset values from a JSON or TOML file with sections codec/prior/objective/train.

    Raises:
        UsageError: unreadable file, unknown section or unknown option.
    """
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read config file {path}: {exc}") from None
    if "format_version" in data:  # a checkpoint's config.json: take its model sections
        data = {k: data[k] for k in ("codec", "prior", "objective") if k in data}
    sections = {"codec", "prior", "objective", "train"}
    unknown = sorted(set(data) - sections)
    if unknown:
        raise UsageError(
            f"{path}: unknown section(s) {', '.join(unknown)}",
            hint="sections are codec, prior, objective and train",
        )

    def merged(obj: Any, section: str) -> Any:
        return _build(type(obj), {**dataclasses.asdict(obj), **data.get(section, {})}, section)

    model = dataclasses.replace(
        model,
        codec=merged(model.codec, "codec"),
        prior=merged(model.prior, "prior"),
        objective=merged(model.objective, "objective"),
    )
    return model, merged(train, "train")
