"""The six capabilities as operations on a trained EDDPM (METHOD.md section 4).

Each function takes a model in eval mode and raw examples, and returns plain Python or numpy
results; batching by length keeps the output in input order. Everything runs under
``torch.inference_mode`` except guided editing, which needs gradients of the classifier.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from models.codec import to_device
from models.errors import UsageError
from models.prior import sampling
from models.prior.losses import z0_from_eps


def _device(model) -> torch.device:
    return next(model.parameters()).device


def length_batches(model, examples: Sequence[Any], batch_size: int) -> Iterator[list[int]]:
    """Index batches of similar-length examples (shortest first); callers restore input order."""
    order = sorted(range(len(examples)), key=lambda i: model.codec.example_weight(examples[i]))
    for i in range(0, len(order), batch_size):
        yield order[i : i + batch_size]


@torch.inference_mode()
def encode(model, examples: Sequence[Any], batch_size: int = 64) -> np.ndarray:
    """mu(x) for every example: float32 array (N, D), rows in input order, no noise."""
    out = np.zeros((len(examples), model.config.prior.latent_dim), dtype=np.float32)
    for index in length_batches(model, examples, batch_size):
        batch = to_device(model.collate([examples[i] for i in index]), _device(model))
        out[index] = model.encode(batch).float().cpu().numpy()
    return out


@torch.inference_mode()
def decode(model, latents: np.ndarray | torch.Tensor, batch_size: int = 64, seed: int = 0, **options) -> list[Any]:
    """Decode (N, D) latents to N examples.

    Raises:
        UsageError: the latent width does not match the model.
    """
    z = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    D = model.config.prior.latent_dim
    if z.ndim != 2 or z.shape[1] != D:
        raise UsageError(f"latents have shape {tuple(z.shape)}, but this model needs (N, {D})")
    g = torch.Generator(device=_device(model)).manual_seed(seed)
    results: list[Any] = []
    for i in range(0, z.shape[0], batch_size):
        results += model.decode(z[i : i + batch_size].to(_device(model)), generator=g, **options)
    return results


@torch.inference_mode()
def reconstruct(model, examples: Sequence[Any], batch_size: int = 64, seed: int = 0, **options) -> list[Any]:
    """x -> mu(x) -> decode, in input order."""
    return decode(model, encode(model, examples, batch_size), batch_size, seed, **options)


@torch.inference_mode()
def generate(
    model, n: int, steps: int = 50, sampler: str = "ddim", seed: int = 0, batch_size: int = 64, **options
) -> list[Any]:
    """Sample z_T ~ N(0, I), run the latent sampler to z0 and decode: n examples."""
    g = torch.Generator(device=_device(model)).manual_seed(seed)
    latents = [
        model.sample_latents(min(batch_size, n - i), steps, sampler, generator=g)
        for i in range(0, n, batch_size)
    ]
    z0 = torch.cat(latents) if latents else torch.zeros(0, model.config.prior.latent_dim)
    return decode(model, z0.cpu(), batch_size, seed, **options)


@torch.inference_mode()
def interpolate(
    model, a: Any, b: Any, points: int = 5, method: str = "slerp", steps: int = 50, seed: int = 0, **options
) -> list[Any]:
    """Path from a to b: encode both, DDIM-invert to z_T, interpolate there, DDIM back, decode.

    Returns ``points`` examples, the first and last being the round trips of a and b.
    """
    mu = torch.as_tensor(encode(model, [a, b])).to(_device(model))
    z_T = model.invert(mu, steps)  # (2, D)
    w = torch.linspace(0, 1, points, device=z_T.device)
    if method == "slerp":
        path = sampling.slerp(z_T[0], z_T[1], w)
    elif method == "lerp":
        path = sampling.lerp(z_T[0], z_T[1], w)
    else:
        raise UsageError(f"unknown interpolation method {method!r}", hint="use slerp or lerp")
    z0 = model.denoise(path, steps, "ddim")
    return decode(model, z0.cpu(), seed=seed, **options)


def edit_guided(
    model, examples: Sequence[Any], label: str, strength: float = 2.0, steps: int = 50,
    batch_size: int = 64, seed: int = 0, **options,
) -> list[Any]:
    """Classifier-guided DDIM from the inverted z_T toward ``label`` (Dhariwal & Nichol 2021).

    eps' = eps_hat - s * sqrt(1 - abar_t) * grad_{z_t} log p(label | z0_hat(z_t)), with the jointly
    trained latent classifier evaluated on the clean-latent estimate z0_hat.
    """
    target = model.class_index(label)
    head = model.head()
    schedule = model.schedule
    mu = torch.as_tensor(encode(model, examples, batch_size)).to(_device(model))

    def guided(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            z = z_t.detach().requires_grad_(True)
            eps_hat = model.denoiser(z, t)
            z0_hat = z0_from_eps(schedule, z, eps_hat, t)
            log_p = torch.log_softmax(head(z0_hat), dim=-1)[:, target].sum()
            grad = torch.autograd.grad(log_p, z)[0]
        abar = schedule.alphas_cumprod[t][:, None]
        return eps_hat.detach() - strength * (1 - abar).sqrt() * grad

    edited = []
    for i in range(0, mu.shape[0], batch_size):
        with torch.inference_mode():
            z_T = model.invert(mu[i : i + batch_size], steps)
        edited.append(model.denoise(z_T.clone(), steps, "ddim", eps_fn=guided).detach())
    return decode(model, torch.cat(edited).cpu(), batch_size, seed, **options)


@torch.inference_mode()
def edit_mean(model, examples: Sequence[Any], label: str, strength: float = 1.0, batch_size: int = 64,
              seed: int = 0, **options) -> list[Any]:
    """Move mu along the class-mean direction: mu + s * (m_label - mean of the other class means)."""
    target = model.class_index(label)
    means = model.class_means.float()
    if not bool(means.abs().sum() > 0):
        raise UsageError("this model has no stored class means", hint="retrain with --labels")
    others = torch.cat([means[:target], means[target + 1 :]]).mean(0)
    direction = (means[target] - others).to(_device(model))
    mu = torch.as_tensor(encode(model, examples, batch_size)).to(_device(model))
    return decode(model, (mu + strength * direction).cpu(), batch_size, seed, **options)


@torch.inference_mode()
def predict(model, examples: Sequence[Any], batch_size: int = 64) -> dict[str, np.ndarray]:
    """Every head's prediction from mu: class probabilities (N, C) or values (N,)."""
    mu = torch.as_tensor(encode(model, examples, batch_size)).to(_device(model))
    out = {}
    for name, head in model.heads.items():
        y = head(mu)
        out[name] = (torch.softmax(y, -1) if head.config.kind == "classification" else y).cpu().numpy()
    return out
