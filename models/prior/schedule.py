"""The latent noise schedule, expressed as diffusers schedulers.

The paper uses a constant beta_t = 0.008 over T = 1000 steps ("const0.008"). diffusers builds any
schedule from ``trained_betas``. Latents are never clamped: every scheduler is made with
``clip_sample=False`` (diffusers clamps to [-1, 1] by default, which would destroy latents).
"""

from __future__ import annotations

import numpy as np
import torch

from models.config import PriorConfig
from models.errors import UsageError


def betas_for(config: PriorConfig) -> np.ndarray:
    """Return beta_t for t = 1..T as a float64 array of shape (T,).

    Raises:
        UsageError: unknown schedule name or betas outside (0, 1).
    """
    T = config.num_train_timesteps
    if config.beta_schedule == "constant":
        betas = np.full(T, config.beta, dtype=np.float64)
    elif config.beta_schedule == "linear":
        betas = np.linspace(config.beta_start, config.beta_end, T, dtype=np.float64)
    elif config.beta_schedule == "scaled_linear":
        betas = np.linspace(config.beta_start**0.5, config.beta_end**0.5, T, dtype=np.float64) ** 2
    else:
        raise UsageError(
            f"unknown beta_schedule {config.beta_schedule!r}",
            hint="use constant, linear or scaled_linear",
        )
    if not (np.all(betas > 0) and np.all(betas < 1)):
        raise UsageError("every beta must lie strictly between 0 and 1")
    return betas


def _kwargs(config: PriorConfig) -> dict:
    return dict(
        num_train_timesteps=config.num_train_timesteps,
        trained_betas=betas_for(config),
        clip_sample=False,
        prediction_type="epsilon",
    )


def ddpm_scheduler(config: PriorConfig):
    """A fresh DDPMScheduler (ancestral sampling, posterior variance)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**_kwargs(config))


def ddim_scheduler(config: PriorConfig):
    """A fresh DDIMScheduler (deterministic at eta = 0)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**_kwargs(config))


def ddim_inverse_scheduler(config: PriorConfig):
    """A fresh DDIMInverseScheduler (deterministic z0 -> zT)."""
    from diffusers import DDIMInverseScheduler

    return DDIMInverseScheduler(**_kwargs(config))


class Schedule(torch.nn.Module):
    """The schedule's constants as (T,) float32 buffers, for the training objective.

    ``alphas_cumprod[i] = prod_{s <= i} (1 - beta_s)``, the diffusers convention, so index 0 is the
    paper's t = 1 (the alignment term).
    """

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        betas = torch.tensor(betas_for(config), dtype=torch.float64)
        alphas = 1.0 - betas
        self.register_buffer("betas", betas.float(), persistent=False)
        self.register_buffer("alphas", alphas.float(), persistent=False)
        self.register_buffer("alphas_cumprod", torch.cumprod(alphas, 0).float(), persistent=False)

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) noise  (DDPM eq. 4); shapes (B, D), t (B,)."""
        abar = self.alphas_cumprod[t].to(z0.dtype)[:, None]  # (B,) -> (B, 1)
        return abar.sqrt() * z0 + (1.0 - abar).sqrt() * noise
