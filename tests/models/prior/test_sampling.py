"""Tests for models/prior/sampling.py: DDIM/DDPM samplers, DDIM inversion, lerp and slerp."""

from __future__ import annotations

import math

import pytest
import torch

from models.config import PriorConfig
from models.prior.denoiser import SkipMLPDenoiser
from models.prior.sampling import ddim_invert, lerp, sample_ddim, sample_ddpm, slerp

PRIOR = PriorConfig(latent_dim=4, width=8, depth=1, time_embed_dim=8)


@pytest.fixture
def eps_fn():
    torch.manual_seed(0)
    denoiser = SkipMLPDenoiser(PRIOR).eval()

    def predict(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return denoiser(z_t, t)

    return predict


def constant_noise_oracle(noise: torch.Tensor):
    """The exact noise predictor along one DDIM path: z_t = sqrt(abar) z0 + sqrt(1 - abar) noise
    for a fixed (z0, noise) pair, whose true eps is ``noise`` at every level."""

    def predict(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.shape == (z_t.shape[0],) and t.dtype == torch.long
        return noise

    return predict


@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_inversion_round_trip_with_exact_oracle(steps):
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(3, 4, generator=g) * 2.0
    noise = torch.randn(3, 4, generator=g)
    oracle = constant_noise_oracle(noise)

    z_T = ddim_invert(oracle, z0, PRIOR, steps)
    z0_back = sample_ddim(oracle, z_T, PRIOR, steps)

    # 'leading' spacing: the last inverse step lands on level T - T/steps (index 1000 - 1000/K).
    level = 1000 - 1000 // steps
    abar = 0.992 ** (level + 1)
    expected_z_T = math.sqrt(abar) * z0 + math.sqrt(1 - abar) * noise
    torch.testing.assert_close(z_T, expected_z_T, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z0_back, z0, rtol=0, atol=1e-5)


def test_ddim_inversion_round_trip_error_shrinks_with_more_steps(eps_fn):
    # A random network is no exact predictor: DDIM inversion is then only first-order accurate,
    # so the round-trip error falls roughly as 1 / steps.
    z0 = torch.randn(4, 4, generator=torch.Generator().manual_seed(2))

    def error(steps: int) -> float:
        z0_back = sample_ddim(eps_fn, ddim_invert(eps_fn, z0, PRIOR, steps), PRIOR, steps)
        return ((z0_back - z0).norm() / z0.norm()).item()

    coarse, fine = error(10), error(50)

    assert fine < coarse / 2


def test_ddim_is_deterministic(eps_fn):
    z_T = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))

    first = sample_ddim(eps_fn, z_T, PRIOR, 10)
    second = sample_ddim(eps_fn, z_T, PRIOR, 10)

    assert first.shape == (3, 4)
    assert bool(torch.isfinite(first).all())
    assert torch.equal(first, second)


def test_ddim_ignores_global_rng_at_eta_zero(eps_fn):
    z_T = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))

    torch.manual_seed(5)
    first = sample_ddim(eps_fn, z_T, PRIOR, 8)
    torch.manual_seed(6)
    second = sample_ddim(eps_fn, z_T, PRIOR, 8)

    assert torch.equal(first, second)


def test_ddpm_with_seeded_generator_is_reproducible_and_seed_dependent(eps_fn):
    z_T = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))

    def run(seed: int) -> torch.Tensor:
        return sample_ddpm(eps_fn, z_T, PRIOR, 10, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)

    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert bool(torch.isfinite(a).all())


def test_lerp_midpoint_and_endpoints():
    a = torch.tensor([1.0, 2.0, -3.0])
    b = torch.tensor([3.0, -2.0, 5.0])

    path = lerp(a, b, torch.tensor([0.0, 0.5, 1.0]))

    assert path.shape == (3, 3)
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[1], (a + b) / 2)
    torch.testing.assert_close(path[2], b)


def test_slerp_endpoints_equal_inputs():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, generator=g), torch.randn(6, generator=g)

    path = slerp(a, b, torch.tensor([0.0, 1.0]))

    torch.testing.assert_close(path[0], a, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(path[1], b, rtol=1e-5, atol=1e-6)


def test_slerp_keeps_norm_for_equal_norm_orthogonal_inputs():
    a = torch.tensor([3.0, 0.0, 0.0, 0.0])
    b = torch.tensor([0.0, 0.0, 3.0, 0.0])
    w = torch.linspace(0, 1, 7)

    path = slerp(a, b, w)

    torch.testing.assert_close(path.norm(dim=1), torch.full((7,), 3.0))
    mid = path[3]
    torch.testing.assert_close(mid, torch.tensor([3.0, 0.0, 3.0, 0.0]) / math.sqrt(2))
    # ...whereas lerp shrinks the midpoint to 3 / sqrt(2).
    assert lerp(a, b, w)[3].norm().item() == pytest.approx(3.0 / math.sqrt(2))


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, -2.0, 0.5])
    b = 2.0 * a
    w = torch.tensor([0.0, 0.25, 0.5, 1.0])

    path = slerp(a, b, w)

    assert bool(torch.isfinite(path).all())
    torch.testing.assert_close(path, lerp(a, b, w))
