"""Latent samplers and latent-space paths, all driven by diffusers schedulers.

Every sampler takes the same arguments (after k-diffusion's protocol): a noise predictor
``eps_fn(z_t, t) -> eps_hat`` on (B, D) latents and (B,) integer timesteps, the starting latent,
the prior config, the number of steps and an optional torch.Generator.
"""

from __future__ import annotations

from typing import Callable

import torch

from models.config import PriorConfig
from models.prior import schedule as sched

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _timesteps(t: torch.Tensor | int, batch: int, device: torch.device) -> torch.Tensor:
    return torch.full((batch,), int(t), dtype=torch.long, device=device)


def sample_ddim(
    eps_fn: EpsFn, z_T: torch.Tensor, config: PriorConfig, steps: int, eta: float = 0.0,
    generator: torch.Generator | None = None, start: int | None = None,
) -> torch.Tensor:
    """DDIM (Song et al. 2021) from z_T to z0 in ``steps`` steps; deterministic at eta = 0.

    With ``start``, the chain begins at the last of the ``steps`` timesteps that is <= ``start``
    (a latent from :func:`ddim_invert` with ``until=start``) instead of at z_T.
    """
    scheduler = sched.ddim_scheduler(config)
    scheduler.set_timesteps(steps, device=z_T.device)
    z = z_T
    for t in scheduler.timesteps:
        if start is not None and int(t) > start:
            continue
        eps_hat = eps_fn(z, _timesteps(t, z.shape[0], z.device))
        z = scheduler.step(eps_hat, t, z, eta=eta, generator=generator).prev_sample
    return z


def sample_ddpm(
    eps_fn: EpsFn, z_T: torch.Tensor, config: PriorConfig, steps: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2) from z_T to z0."""
    scheduler = sched.ddpm_scheduler(config)
    scheduler.set_timesteps(steps, device=z_T.device)
    z = z_T
    for t in scheduler.timesteps:
        eps_hat = eps_fn(z, _timesteps(t, z.shape[0], z.device))
        z = scheduler.step(eps_hat, t, z, generator=generator).prev_sample
    return z


def ddim_invert(
    eps_fn: EpsFn, z0: torch.Tensor, config: PriorConfig, steps: int, until: int | None = None
) -> torch.Tensor:
    """Deterministic DDIM inversion from z0 to z_T; :func:`sample_ddim` with eta = 0 and the
    same ``steps`` maps it back (exactly for an exact noise predictor).

    With ``until``, inversion stops at the last of the timesteps that is <= ``until``, and
    :func:`sample_ddim` with ``start=until`` maps the result back.
    """
    scheduler = sched.ddim_inverse_scheduler(config)
    scheduler.set_timesteps(steps, device=z0.device)
    z = z0
    for t in scheduler.timesteps:
        if until is not None and int(t) > until:
            break
        eps_hat = eps_fn(z, _timesteps(t, z.shape[0], z.device))
        z = scheduler.step(eps_hat, t, z).prev_sample
    return z


def lerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Linear interpolation; a, b (D,) or (B, D), w (N,) -> (N, D) for (D,) inputs."""
    w = w.to(a.dtype).reshape(-1, *([1] * a.dim()))
    return (1 - w) * a + w * b


def slerp(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) of (D,) vectors at weights w (N,) -> (N, D).

    Falls back to :func:`lerp` when a and b are (anti)parallel within ``eps``.
    """
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(eps)
    theta = torch.arccos(cos.clamp(-1.0, 1.0))
    if torch.sin(theta).abs() < eps:
        return lerp(a, b, w)
    w = w.to(a.dtype)[:, None]  # (N,) -> (N, 1)
    return (torch.sin((1 - w) * theta) * a + torch.sin(w * theta) * b) / torch.sin(theta)
