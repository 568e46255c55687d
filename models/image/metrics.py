"""Image reconstruction metrics: PSNR and SSIM (Wang et al. 2004), in torch.

Both take images in [-1, 1] (the model's range), map them to [0, 1] and score each image
separately; callers average over images. SSIM uses the paper's 11x11 Gaussian window with
sigma 1.5 and K1 = 0.01, K2 = 0.03, without padding (valid convolution), on each RGB channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _unit_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clipped, float64 for stable statistics."""
    return ((x.double() + 1.0) / 2.0).clamp(0.0, 1.0)


def psnr(x: torch.Tensor, y: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB, with peak 1 on the [0, 1] scale.

    Args:
        x, y: (B, C, H, W) images in [-1, 1].
        max_db: value returned for identical images (where PSNR is infinite).

    Returns:
        (B,) float64 PSNR values.
    """
    mse = (_unit_range(x) - _unit_range(y)).pow(2).flatten(1).mean(dim=1)  # (B,)
    return (-10.0 * torch.log10(mse.clamp_min(10 ** (-max_db / 10)))).clamp_max(max_db)


def _gaussian_window(size: int, sigma: float, channels: int) -> torch.Tensor:
    """Separable normalised Gaussian as a depthwise conv kernel (C, 1, size, size)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004, eq. 13), mean over the SSIM map.

    Images smaller than the 11-pixel window use the largest odd window that fits.

    Args:
        x, y: (B, C, H, W) images in [-1, 1].

    Returns:
        (B,) float64 SSIM values in [-1, 1]; 1 for identical images.
    """
    a, b = _unit_range(x), _unit_range(y)
    C = a.shape[1]
    size = min(SSIM_WINDOW, *a.shape[-2:])
    size -= 1 - size % 2  # largest odd size that fits
    window = _gaussian_window(size, SSIM_SIGMA, C).to(a.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=C)  # (B, C, H, W) -> (B, C, H-size+1, W-size+1)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = _K1**2, _K2**2  # data range 1
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim_map.flatten(1).mean(dim=1)
