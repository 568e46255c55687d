"""Image-only capabilities on a trained image EDDPM (METHOD.md section 4, image).

:mod:`models.inference` already serves images for encode, decode, generate, semantic
reconstruction (fresh pixel noise) and editing; this module adds what needs the pixels
themselves: near-exact reconstruction through the DDIM-inverted pixel noise, latent edits decoded
from that noise, and interpolation of semantic latents decoded with one shared pixel noise.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from models.codec import to_device
from models.errors import UsageError
from models.prior import sampling


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def reconstruct_exact(
    model, examples: Sequence[Any], steps: int | None = None, batch_size: int = 64
) -> list[np.ndarray]:
    """x -> mu(x) -> DDIM-invert x to x_T given mu -> DDIM back from x_T given mu.

    Args:
        model: an image EDDPM in eval mode.
        examples: images (3, R, R) in [-1, 1].
        steps: DDIM steps for both directions (default: the codec's ``sample_steps``); more
            steps give a closer reconstruction.
        batch_size: images per forward pass.

    Returns:
        float32 arrays (3, R, R) in [-1, 1], in input order.
    """
    return _decode_from_inverted_noise(model, examples, None, steps, batch_size)


@torch.inference_mode()
def edit_images(
    model, examples: Sequence[Any], direction: torch.Tensor, extent: float = 1.0,
    steps: int | None = None, batch_size: int = 64,
) -> list[np.ndarray]:
    """Move each image's latent along a direction and decode it from its own inverted pixel noise.

    mu' = mu + extent * direction / |direction| (METHOD.md section 4, image edit); decoding starts
    from the DDIM inversion of the input given mu, so what the latent does not encode (pose,
    background detail) is kept, as in diffusion autoencoders' manipulation.

    Args:
        model: an image EDDPM in eval mode.
        examples: images (3, R, R) in [-1, 1].
        direction: (D,) direction in standardised latent space, e.g. a linear classifier's weight
            or the difference of two class means (``model.class_means``).
        extent: distance moved, in standardised latent units; 0 gives :func:`reconstruct_exact`.
        steps: pixel DDIM steps (default: the codec's ``sample_steps``).
        batch_size: images per forward pass.

    Returns:
        float32 arrays (3, R, R) in [-1, 1], in input order.
    """
    unit = direction.float() / direction.float().norm().clamp_min(1e-12)
    return _decode_from_inverted_noise(model, examples, extent * unit, steps, batch_size)


def _decode_from_inverted_noise(
    model, examples: Sequence[Any], shift: torch.Tensor | None, steps: int | None, batch_size: int
) -> list[np.ndarray]:
    """Invert each image to x_T given mu, then decode mu (+ shift (D,)) from that x_T."""
    codec, device = model.codec, _device(model)
    outputs: list[np.ndarray] = []
    for i in range(0, len(examples), batch_size):
        batch = to_device(model.collate(examples[i : i + batch_size]), device)
        mu = model.encode(batch)  # (B, D)
        with model.autocast():
            x_T = codec.invert_pixels(batch["pixels"], mu, steps).float()  # (B, 3, R, R)
        z0 = mu if shift is None else mu + shift.to(device)
        outputs += model.decode(z0, pixel_steps=steps, noise=x_T, clip=False)
    return outputs


@torch.inference_mode()
def interpolate_images(
    model, a: Any, b: Any, points: int = 5, method: str = "lerp", steps: int | None = None,
    seed: int = 0, inverted_noise: bool = False,
) -> list[np.ndarray]:
    """Images along the path between the semantic latents of images ``a`` and ``b``.

    Args:
        model: an image EDDPM in eval mode.
        a, b: images (3, R, R) in [-1, 1].
        points: images on the path, ends included.
        method: ``lerp`` (the authors' choice) or ``slerp`` for the semantic latents.
        steps: pixel DDIM steps (default: the codec's ``sample_steps``).
        seed: seed of the one pixel noise shared by every point.
        inverted_noise: instead of shared fresh noise, DDIM-invert ``a`` and ``b`` and slerp
            their pixel noises (diffusion autoencoders' interpolation; the ends reconstruct
            ``a`` and ``b`` closely).

    Returns:
        ``points`` float32 arrays (3, R, R) in [-1, 1].

    Raises:
        UsageError: unknown ``method``.
    """
    paths = {"lerp": sampling.lerp, "slerp": sampling.slerp}
    if method not in paths:
        raise UsageError(f"unknown interpolation method {method!r}", hint="use lerp or slerp")
    codec, device = model.codec, _device(model)
    batch = to_device(model.collate([a, b]), device)
    mu = model.encode(batch)  # (2, D)
    w = torch.linspace(0, 1, points, device=device)
    z0 = paths[method](mu[0], mu[1], w)  # (points, D)
    if not inverted_noise:
        R = codec.config.resolution
        g = torch.Generator(device=device).manual_seed(seed)
        noise = torch.randn((1, 3, R, R), generator=g, device=device)  # shared by every point
        return model.decode(z0, pixel_steps=steps, noise=noise)
    with model.autocast():
        x_T = codec.invert_pixels(batch["pixels"], mu, steps).float().flatten(1)  # (2, 3 R R)
    noise = sampling.slerp(x_T[0], x_T[1], w).view(points, *batch["pixels"].shape[1:])
    return model.decode(z0, pixel_steps=steps, noise=noise, clip=False)

