"""Tests for models/prior/schedule.py: the constant-beta latent schedule and its diffusers twins."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.config import PriorConfig
from models.errors import UsageError
from models.prior.schedule import (
    Schedule,
    betas_for,
    ddim_inverse_scheduler,
    ddim_scheduler,
    ddpm_scheduler,
)


def test_default_schedule_is_constant_beta_0008_over_1000_steps():
    config = PriorConfig()
    assert config.beta_schedule == "constant"
    assert config.num_train_timesteps == 1000

    betas = betas_for(config)

    assert betas.shape == (1000,)
    assert betas.dtype == np.float64
    np.testing.assert_array_equal(betas, np.full(1000, 0.008))


def test_alphas_cumprod_decreases_from_0992_to_3_2484e_4():
    schedule = Schedule(PriorConfig())
    abar = schedule.alphas_cumprod

    assert abar.shape == (1000,)
    assert bool((abar[1:] < abar[:-1]).all())
    # Diffusers convention: index 0 is the paper's t = 1, so abar_0 = 1 - beta.
    assert abar[0].item() == pytest.approx(0.992, rel=1e-7)
    assert abar[999].item() == pytest.approx(3.2484e-4, rel=1e-4)
    assert abar[999].item() == pytest.approx(0.992**1000, rel=1e-5)
    torch.testing.assert_close(schedule.alphas, 1.0 - schedule.betas)


def test_schedule_buffers_are_not_saved_in_state_dict():
    assert Schedule(PriorConfig()).state_dict() == {}


@pytest.mark.parametrize("factory", [ddpm_scheduler, ddim_scheduler, ddim_inverse_scheduler])
def test_diffusers_schedulers_never_clip_and_use_our_betas(factory):
    config = PriorConfig()
    scheduler = factory(config)

    assert scheduler.config.clip_sample is False
    assert scheduler.config.prediction_type == "epsilon"
    assert scheduler.config.num_train_timesteps == 1000
    torch.testing.assert_close(
        scheduler.alphas_cumprod, Schedule(config).alphas_cumprod, rtol=1e-5, atol=1e-8
    )


def test_ddim_step_does_not_clamp_a_large_latent():
    config = PriorConfig()
    scheduler = ddim_scheduler(config)
    scheduler.set_timesteps(10)
    t = int(scheduler.timesteps[0])
    t_prev = int(scheduler.timesteps[1])
    z_t = torch.full((2, 4), 10.0)
    eps_hat = torch.zeros_like(z_t)

    z_prev = scheduler.step(eps_hat, t, z_t).prev_sample

    abar = scheduler.alphas_cumprod
    expected = (abar[t_prev] / abar[t]).sqrt() * z_t  # eta = 0, eps_hat = 0: pure rescaling
    assert z_prev.abs().max().item() > 10.0
    torch.testing.assert_close(z_prev, expected)


def test_add_noise_matches_diffusers_ddpm():
    config = PriorConfig()
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(6, 5, generator=g) * 3.0
    noise = torch.randn(6, 5, generator=g)
    t = torch.tensor([0, 1, 10, 500, 998, 999])

    ours = Schedule(config).add_noise(z0, noise, t)
    reference = ddpm_scheduler(config).add_noise(z0, noise, t)

    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)


def test_add_noise_closed_form_at_t0():
    schedule = Schedule(PriorConfig())
    z0 = torch.tensor([[1.0, -2.0]])
    noise = torch.tensor([[0.5, 0.25]])

    z_1 = schedule.add_noise(z0, noise, torch.tensor([0]))

    torch.testing.assert_close(z_1, 0.992**0.5 * z0 + 0.008**0.5 * noise)


def test_linear_schedule_option():
    config = PriorConfig(beta_schedule="linear", beta_start=1e-4, beta_end=0.02)

    betas = betas_for(config)
    schedule = Schedule(config)

    np.testing.assert_allclose(betas, np.linspace(1e-4, 0.02, 1000))
    assert schedule.betas[0].item() == pytest.approx(1e-4)
    assert schedule.betas[-1].item() == pytest.approx(0.02)
    from diffusers import DDPMScheduler

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    torch.testing.assert_close(ddpm_scheduler(config).betas, reference.betas)
    torch.testing.assert_close(
        schedule.alphas_cumprod, reference.alphas_cumprod, rtol=1e-5, atol=1e-7
    )


def test_scaled_linear_schedule_option():
    config = PriorConfig(beta_schedule="scaled_linear", beta_start=1e-4, beta_end=0.02)

    betas = betas_for(config)

    np.testing.assert_allclose(betas, np.linspace(1e-2, 0.02**0.5, 1000) ** 2)


def test_unknown_schedule_name_raises_usage_error():
    with pytest.raises(UsageError, match="cosine") as info:
        betas_for(PriorConfig(beta_schedule="cosine"))
    assert info.value.hint and "constant" in info.value.hint

    with pytest.raises(UsageError):
        Schedule(PriorConfig(beta_schedule="cosine"))


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.1])
def test_beta_outside_open_unit_interval_raises_usage_error(beta):
    with pytest.raises(UsageError, match="between 0 and 1"):
        betas_for(PriorConfig(beta=beta))
