"""Tests for models/image/metrics.py: PSNR and SSIM against closed forms and a scipy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.image.metrics import psnr, ssim


def random_images(b: int = 2, size: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_psnr_of_a_constant_offset() -> None:
    x = torch.zeros(2, 3, 8, 8)

    # 0.2 in [-1, 1] is 0.1 in [0, 1]: MSE 0.01, PSNR 20 dB.
    assert torch.allclose(psnr(x + 0.2, x), torch.full((2,), 20.0, dtype=torch.float64))
    assert torch.allclose(psnr(x, x), torch.full((2,), 100.0, dtype=torch.float64))


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) with scipy's Gaussian filter (sigma 1.5, 11 taps), valid region only."""
    from scipy.ndimage import gaussian_filter

    def blur(t: np.ndarray) -> np.ndarray:
        return gaussian_filter(t, sigma=1.5, truncate=5 / 1.5)[5:-5, 5:-5]

    c1, c2 = 0.01**2, 0.03**2
    values = []
    for ch in range(a.shape[0]):
        x, y = a[ch], b[ch]
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(s)
    return float(np.mean(values))


def test_ssim_matches_a_scipy_reference() -> None:
    x = random_images()
    y = (x + 0.3 * random_images(seed=1)).clamp(-1, 1)

    ours = ssim(x, y)

    for i in range(2):
        a = ((x[i].double() + 1) / 2).numpy()
        b = ((y[i].double() + 1) / 2).numpy()
        assert float(ours[i]) == pytest.approx(reference_ssim(a, b), abs=1e-6)


def test_ssim_bounds_and_small_images() -> None:
    x = random_images(size=5)

    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert float(ssim(x, -x).max()) < 0.5
    assert ssim(random_images(size=1), random_images(size=1, seed=3)).shape == (2,)
