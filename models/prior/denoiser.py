"""The latent denoiser eps_hat(z_t, t): an MLP with skip connections and time conditioning.

Following the EDDPM code's design (METHOD.md section 1): z_t is concatenated to the input of every
hidden layer, each hidden layer is LayerNorm -> time-dependent scale and shift -> SiLU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.config import PriorConfig


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al. 2017); (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([angles.cos(), angles.sin()], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class SkipBlock(nn.Module):
    """One hidden layer: Linear([h, z_t]) -> LayerNorm -> (1 + scale(t)) * h + shift(t) -> SiLU."""

    def __init__(self, width: int, latent_dim: int, time_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width + latent_dim, width)
        self.norm = nn.LayerNorm(width)
        self.film = nn.Linear(time_dim, 2 * width)

    def forward(self, h: torch.Tensor, z_t: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.linear(torch.cat([h, z_t], dim=-1)))  # (B, W + D) -> (B, W)
        scale, shift = self.film(temb).chunk(2, dim=-1)
        return nn.functional.silu(h * (1 + scale) + shift)


class SkipMLPDenoiser(nn.Module):
    """Noise predictor for (B, D) latents at integer timestep indices t in [0, T)."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        D, W, E = config.latent_dim, config.width, config.time_embed_dim
        self.time_embed_dim = E
        self.time_mlp = nn.Sequential(nn.Linear(E, E), nn.SiLU(), nn.Linear(E, E))
        self.input = nn.Linear(D, W)
        self.blocks = nn.ModuleList(SkipBlock(W, D, E) for _ in range(config.depth))
        self.output = nn.Linear(W + D, D)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predict the noise in z_t.

        Args:
            z_t: (B, D) noised latents.
            t: (B,) integer timestep indices (diffusers convention, 0 is the paper's t = 1).

        Returns:
            (B, D) eps_hat.
        """
        temb = self.time_mlp(timestep_embedding(t, self.time_embed_dim).to(z_t.dtype))
        h = self.input(z_t)
        for block in self.blocks:
            h = block(h, z_t, temb)
        return self.output(torch.cat([h, z_t], dim=-1))
