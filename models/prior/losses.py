"""The EDDPM training objective (Liu et al., ICML 2024; METHOD.md section 2).

    loss = rec_weight * mean(L_rec) + lambda * mean(L_diff)        [+ head_weight * L_head]

L_diff is the DDPM "simple" noise-prediction loss for t > 1 and, for t = 1 (diffusers index 0),
the alignment term L_align = (alpha_1 / beta_1) * mean_D (mu - z0_hat)^2, which ties the encoder's
mean to what the denoiser predicts one step above it. Gradients reach the encoder through every
term; there is no stop-gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.prior.schedule import Schedule


@dataclass
class DiffusionTerms:
    """Per-example latent terms, each (B,); ``align_mask`` marks examples drawn at t = 1."""

    diff: torch.Tensor
    simple: torch.Tensor
    align: torch.Tensor
    align_mask: torch.Tensor


def encoder_posterior_sample(mu: torch.Tensor, encoder_beta: float, noise: torch.Tensor) -> torch.Tensor:
    """z0 = mu + sqrt(beta_enc) * noise: a draw from q(z0 | x) = N(mu, beta_enc I); (B, D)."""
    return mu + encoder_beta**0.5 * noise


def z0_from_eps(schedule: Schedule, z_t: torch.Tensor, eps_hat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """z0_hat = (z_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t); at t = 1 this is the METHOD's
    (z_1 - sqrt(beta_1) eps_hat) / sqrt(alpha_1)."""
    abar = schedule.alphas_cumprod[t].to(z_t.dtype)[:, None]  # (B,) -> (B, 1)
    return (z_t - (1.0 - abar).sqrt() * eps_hat) / abar.sqrt()


def diffusion_terms(
    schedule: Schedule,
    denoiser: torch.nn.Module,
    mu: torch.Tensor,
    z0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
) -> DiffusionTerms:
    """Compute L_diff per example.

    Args:
        schedule: the latent schedule.
        denoiser: eps_hat(z_t, t).
        mu: (B, D) encoder means.
        z0: (B, D) posterior samples built from ``mu``.
        t: (B,) int64 timestep indices in [0, T); index 0 is the paper's t = 1.
        noise: (B, D) the Gaussian draw that builds z_t.

    Returns:
        DiffusionTerms with (B,) tensors.
    """
    z_t = schedule.add_noise(z0, noise, t)
    eps_hat = denoiser(z_t, t)
    simple = (noise - eps_hat).pow(2).mean(dim=-1)  # (B, D) -> (B,)
    z0_hat = z0_from_eps(schedule, z_t, eps_hat, t)
    weight = schedule.alphas[0] / schedule.betas[0]
    align = weight * (mu - z0_hat).pow(2).mean(dim=-1)
    align_mask = t == 0
    return DiffusionTerms(torch.where(align_mask, align, simple), simple, align, align_mask)
