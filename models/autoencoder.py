"""EDDPM: a codec (encoder + decoder) and a latent diffusion prior trained as one model.

The encoder is the first noising step, q(z0 | x) = N(mu(x), beta_enc I); the decoder is the last
denoising step, p(x | z0); a DDPM with prior z_T ~ N(0, I) connects them (Liu et al., ICML 2024).
Everything modality-specific lives in the codec.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch
from torch import nn

from models import draws
from models.codec import Codec
from models.config import HeadConfig, ModelConfig
from models.errors import UsageError
from models.prior import sampling
from models.prior.denoiser import SkipMLPDenoiser
from models.prior.losses import diffusion_terms, encoder_posterior_sample
from models.prior.schedule import Schedule


class LatentHead(nn.Module):
    """A small MLP on the latent: Linear -> LayerNorm -> ReLU -> Linear.

    Classification heads output (B, C) logits; regression heads (B,) values in standardised
    units, (y - mean) / std with the training statistics stored in the head's config;
    :meth:`predict` maps them back.
    """

    def __init__(self, config: HeadConfig, latent_dim: int) -> None:
        super().__init__()
        self.config = config
        out = len(config.classes) if config.kind == "classification" else 1
        self.net = nn.Sequential(
            nn.Linear(latent_dim, config.hidden),
            nn.LayerNorm(config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, out),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.net(z)
        return y if self.config.kind == "classification" else y.squeeze(-1)

    def loss(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over labelled examples (class index -1 or NaN target means unlabelled).

        Cross-entropy for a classifier; for a regressor, the MSE against the standardised target.
        """
        if self.config.kind == "classification":
            known = target >= 0
            if not bool(known.any()):
                return z.new_zeros(())
            return nn.functional.cross_entropy(self(z[known]), target[known])
        known = torch.isfinite(target)
        if not bool(known.any()):
            return z.new_zeros(())
        standardised = (target[known].to(z.dtype) - self.config.mean) / self.config.std
        return nn.functional.mse_loss(self(z[known]), standardised)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, C), or values (B,) in the target's original units."""
        y = self(z)
        if self.config.kind == "classification":
            return torch.softmax(y, dim=-1)
        return y * self.config.std + self.config.mean


class EDDPM(nn.Module):
    """The full model. Args: config (the model config) and codec (built for that config)."""

    def __init__(self, config: ModelConfig, codec: Codec) -> None:
        super().__init__()
        if codec.modality != config.modality:
            raise UsageError(f"codec modality {codec.modality} does not match config {config.modality}")
        self.config = config
        self.codec = codec
        self.denoiser = SkipMLPDenoiser(config.prior)
        self.schedule = Schedule(config.prior)
        self.heads = nn.ModuleDict({h.name: LatentHead(h, config.prior.latent_dim) for h in config.heads})
        # Class means of mu over the labelled training data, filled in at the end of training
        # (used by the class-mean editing direction).
        n_classes = max((len(h.classes) for h in config.heads), default=0)
        self.register_buffer("class_means", torch.zeros(n_classes, config.prior.latent_dim))
        # Inference compute dtype (see set_precision); weights stay fp32 either way.
        self.compute_dtype = torch.float32

    def tie_weights(self) -> None:
        """Tie shared tensors again (the text decoder's input embedding and output layer) after
        the parameters were replaced; Accelerate calls it when FSDP builds the model on the meta
        device (``fsdp_cpu_ram_efficient_loading``)."""
        for module in self.codec.modules():
            if module is not self.codec and callable(getattr(module, "tie_weights", None)):
                module.tie_weights()

    # -- training ------------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Training entry point (what Accelerate and DDP call): :meth:`loss_terms`."""
        return self.loss_terms(batch)

    def loss_terms(self, batch: dict[str, Any], full_align: bool = False) -> dict[str, torch.Tensor]:
        """One draw of the EDDPM objective (METHOD.md section 2) for a batch.

        Args:
            batch: a collated batch, with ``target_<head>`` entries for labelled data.
            full_align: also evaluate L_align for every example at t = 1 (validation), instead
                of only for the few examples whose random t is 1.

        Returns:
            scalar tensors: ``loss`` (the total to minimise), ``rec``, ``diff`` (the mixed latent
            term), ``simple`` (t > 1 examples), ``align`` (t = 1 examples; absent when none were
            drawn and ``full_align`` is off), and ``head_<name>`` for each prediction head.
        """
        obj = self.config.objective
        mu = self.codec.encode(batch)  # (B, D)
        z0 = encoder_posterior_sample(mu, obj.encoder_beta, draws.randn_like(mu))
        rec = self.codec.reconstruction_loss(batch, z0)  # (B,)
        t = draws.randint(self.schedule.num_timesteps, mu.shape[0], mu.device)
        terms = diffusion_terms(self.schedule, self.denoiser, mu, z0, t, draws.randn_like(z0))
        loss = obj.rec_weight * rec.mean() + obj.diffusion_weight * terms.diff.mean()
        out = {"rec": rec.mean().detach(), "diff": terms.diff.mean().detach()}
        if bool((~terms.align_mask).any()):
            out["simple"] = terms.simple[~terms.align_mask].mean().detach()
        if full_align:
            t1 = torch.zeros_like(t)
            full = diffusion_terms(self.schedule, self.denoiser, mu, z0, t1, draws.randn_like(z0))
            out["align"] = full.align.mean().detach()
        elif bool(terms.align_mask.any()):
            out["align"] = terms.align[terms.align_mask].mean().detach()
        for name, head in self.heads.items():
            target = batch.get(f"target_{name}")
            if target is None:
                continue
            head_loss = head.loss(z0, target)
            loss = loss + obj.head_weight * head_loss
            out[f"head_{name}"] = head_loss.detach()
        out["loss"] = loss
        return out

    # -- inference -----------------------------------------------------------------------------
    def set_precision(self, dtype: torch.dtype) -> None:
        """Run the networks at inference under autocast to ``dtype`` (bf16 or fp16), or in
        fp32. Weights, latents and sampler arithmetic stay fp32; outputs come back as fp32."""
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise UsageError(f"unsupported inference precision {dtype}")
        self.compute_dtype = dtype

    def autocast(self):
        """The autocast context of :meth:`set_precision`; in fp32 none is entered, so an outer
        one (training under ``--mixed-precision``) still applies."""
        if self.compute_dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.class_means.device.type, dtype=self.compute_dtype)

    def compile_networks(self, **options: Any) -> None:
        """``torch.compile`` the denoiser and each network of the codec in place (the modules
        keep their types and weights; compilation happens on first use)."""
        for module in (self.denoiser, *self.codec.children(), *self.heads.values()):
            module.compile(**options)

    def encode(self, batch: dict[str, Any]) -> torch.Tensor:
        """Deterministic representation mu(x): (B, D), fp32."""
        with self.autocast():
            return self.codec.encode(batch).float()

    def eps(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The denoiser, in the sampler calling convention (fp32 out)."""
        with self.autocast():
            return self.denoiser(z_t, t).float()

    def sample_latents(
        self, n: int, steps: int, sampler: str = "ddim", generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Draw z_T ~ N(0, I) and run the latent sampler to z0: (n, D)."""
        device = self.class_means.device
        z_T = torch.randn(n, self.config.prior.latent_dim, generator=generator, device=device)
        return self.denoise(z_T, steps, sampler, generator)

    def denoise(
        self, z_T: torch.Tensor, steps: int, sampler: str = "ddim",
        generator: torch.Generator | None = None, eps_fn: sampling.EpsFn | None = None,
        start: int | None = None,
    ) -> torch.Tensor:
        """Run DDIM (eta = 0) or ancestral DDPM from z_T to z0; DDIM can begin at timestep
        ``start`` instead (see :func:`models.prior.sampling.sample_ddim`)."""
        eps_fn = eps_fn or self.eps
        if sampler == "ddim":
            return sampling.sample_ddim(eps_fn, z_T, self.config.prior, steps, start=start)
        if sampler == "ddpm":
            return sampling.sample_ddpm(eps_fn, z_T, self.config.prior, steps, generator=generator)
        raise UsageError(f"unknown sampler {sampler!r}", hint="use ddim or ddpm")

    def invert(self, z0: torch.Tensor, steps: int, until: int | None = None) -> torch.Tensor:
        """Deterministic DDIM inversion z0 -> z_T (or only up to timestep ``until``): (B, D)."""
        return sampling.ddim_invert(self.eps, z0, self.config.prior, steps, until=until)

    def head(self, name: str | None = None) -> LatentHead:
        """The named prediction head, or the only one.

        Raises:
            UsageError: the model has no such head.
        """
        if not self.heads:
            raise UsageError(
                "this model has no prediction head",
                hint="train with --labels (text), class sub-folders or .npz labels (image), or "
                "--label-column (protein) to add one",
            )
        if name is None:
            return next(iter(self.heads.values()))
        if name not in self.heads:
            raise UsageError(f"no head named {name!r}; the model has {', '.join(self.heads)}")
        return self.heads[name]

    def class_index(self, label: str) -> int:
        """Index of a class label of the classification head.

        Raises:
            UsageError: unknown label (the message lists the known ones).
        """
        classes = self.head().config.classes
        if label not in classes:
            raise UsageError(
                f"unknown label {label!r}; the model was trained with labels {', '.join(classes)}"
            )
        return classes.index(label)

    def decode(self, z0: torch.Tensor, generator: torch.Generator | None = None, **options: Any) -> list[Any]:
        with self.autocast():
            return self.codec.decode(z0, generator=generator, **options)

    def collate(self, examples: Sequence[Any]) -> dict[str, Any]:
        return self.codec.collate(examples)
