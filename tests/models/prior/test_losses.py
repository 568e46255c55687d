"""Tests for models/prior/losses.py and the total objective of EDDPM.loss_terms (METHOD.md §2).

Every expected value is computed here from the formulas written out in full, with the schedule
rebuilt from beta by hand (abar_t = (1 - beta)^(t + 1) for 0-based diffusers indices), so the
tests do not lean on the helpers they check.
"""

from __future__ import annotations

import math

import pytest
import torch

from models.config import HeadConfig, PriorConfig
from models.prior.denoiser import SkipMLPDenoiser
from models.prior.losses import (
    diffusion_terms,
    encoder_posterior_sample,
    z0_from_eps,
)
from models.prior.schedule import Schedule

BETA = 0.008
PRIOR = PriorConfig(latent_dim=4, width=8, depth=1, time_embed_dim=8)


def abar_by_hand(t: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1): prod_{s <= t} (1 - beta) for the constant schedule, in float64."""
    return ((1.0 - BETA) ** (t.double() + 1.0))[:, None]


@pytest.fixture
def denoiser() -> SkipMLPDenoiser:
    torch.manual_seed(0)
    return SkipMLPDenoiser(PRIOR).eval()


@pytest.fixture
def draws() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(5, 4, generator=g)
    return {
        "mu": mu,
        "z0": mu + BETA**0.5 * torch.randn(5, 4, generator=g),
        "noise": torch.randn(5, 4, generator=g),
        "t": torch.tensor([0, 3, 0, 999, 500]),
    }


def test_encoder_posterior_sample_is_mu_plus_sqrt_beta_noise():
    mu = torch.tensor([[1.0, -1.0, 0.0]])
    noise = torch.tensor([[2.0, 0.5, -1.0]])

    z0 = encoder_posterior_sample(mu, 0.04, noise)

    torch.testing.assert_close(z0, torch.tensor([[1.4, -0.9, -0.2]]))


def test_encoder_posterior_sample_has_variance_beta():
    mu = torch.full((20000, 2), 3.0)
    noise = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))

    z0 = encoder_posterior_sample(mu, BETA, noise)

    assert z0.mean().item() == pytest.approx(3.0, abs=5e-3)
    assert z0.var().item() == pytest.approx(BETA, rel=3e-2)


def test_simple_loss_for_t_above_zero_by_hand(denoiser, draws):
    mu, z0, noise, t = draws["mu"], draws["z0"], draws["noise"], draws["t"]

    terms = diffusion_terms(Schedule(PRIOR), denoiser, mu, z0, t, noise)

    abar = abar_by_hand(t).float()
    z_t = abar.sqrt() * z0 + (1.0 - abar).sqrt() * noise
    eps_hat = denoiser(z_t, t)
    expected = ((noise - eps_hat) ** 2).mean(dim=1)
    torch.testing.assert_close(terms.simple, expected, rtol=1e-5, atol=1e-6)
    above = t > 0
    torch.testing.assert_close(terms.diff[above], expected[above], rtol=1e-5, atol=1e-6)


def test_align_term_at_t0_by_hand(denoiser, draws):
    mu, z0, noise = draws["mu"], draws["z0"], draws["noise"]
    t = torch.zeros(5, dtype=torch.long)

    terms = diffusion_terms(Schedule(PRIOR), denoiser, mu, z0, t, noise)

    alpha_0, beta_0 = 1.0 - BETA, BETA
    z_1 = math.sqrt(alpha_0) * z0 + math.sqrt(beta_0) * noise
    eps_hat = denoiser(z_1, t)
    z0_hat = (z_1 - math.sqrt(beta_0) * eps_hat) / math.sqrt(alpha_0)
    expected = (alpha_0 / beta_0) * ((mu - z0_hat) ** 2).mean(dim=1)
    torch.testing.assert_close(terms.align, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms.diff, expected, rtol=1e-5, atol=1e-6)
    assert bool(terms.align_mask.all())


def test_diffusion_terms_mix_align_at_t0_and_simple_elsewhere(denoiser, draws):
    mu, z0, noise, t = draws["mu"], draws["z0"], draws["noise"], draws["t"]

    terms = diffusion_terms(Schedule(PRIOR), denoiser, mu, z0, t, noise)

    abar = abar_by_hand(t).float()
    z_t = abar.sqrt() * z0 + (1.0 - abar).sqrt() * noise
    eps_hat = denoiser(z_t, t)
    simple = ((noise - eps_hat) ** 2).mean(dim=1)
    z0_hat = (z_t - math.sqrt(BETA) * eps_hat) / math.sqrt(1.0 - BETA)  # valid where t == 0
    align = (1.0 - BETA) / BETA * ((mu - z0_hat) ** 2).mean(dim=1)
    expected = torch.where(t == 0, align, simple)

    assert terms.align_mask.tolist() == [True, False, True, False, False]
    torch.testing.assert_close(terms.diff, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms.align[t == 0], align[t == 0], rtol=1e-5, atol=1e-6)


def test_align_term_reaches_encoder_mean_and_denoiser(denoiser, draws):
    mu = draws["mu"].clone().requires_grad_(True)
    z0 = mu + BETA**0.5 * draws["noise"]
    t = torch.tensor([0, 0, 5, 7, 0])

    terms = diffusion_terms(Schedule(PRIOR), denoiser, mu, z0, t, draws["noise"].flip(0))
    terms.diff.mean().backward()

    assert mu.grad is not None and bool(torch.isfinite(mu.grad).all())
    assert mu.grad.abs().sum().item() > 0
    assert all(p.grad is not None for p in denoiser.parameters())


def test_z0_from_eps_inverts_add_noise_with_the_true_noise(draws):
    schedule = Schedule(PRIOR)
    z0, noise, t = draws["z0"], draws["noise"], draws["t"]

    z_t = schedule.add_noise(z0, noise, t)

    torch.testing.assert_close(z0_from_eps(schedule, z_t, noise, t), z0, rtol=1e-4, atol=1e-4)


# -- the total objective of EDDPM.loss_terms -------------------------------------------------------
def test_loss_terms_total_is_weighted_sum_of_recomputed_pieces(make_tiny_text_model, tiny_texts):
    # T = 3 so that a batch of 8 draws t = 0 (the align term) as well as t > 0.
    head = HeadConfig(name="label", classes=("neg", "pos"), hidden=8)
    model, _ = make_tiny_text_model(
        seed=0,
        prior={"num_train_timesteps": 3},
        objective={"rec_weight": 0.7, "diffusion_weight": 3.0, "head_weight": 0.5},
        heads=(head,),
    )
    model.eval()  # no dropout, so the only randomness is the three draws below
    batch = model.collate(tiny_texts)
    batch["target_label"] = torch.tensor([0, 1, -1, 1, 0, 0, -1, 1])
    obj = model.config.objective

    torch.manual_seed(123)
    with torch.no_grad():
        out = model.loss_terms(batch)

    torch.manual_seed(123)  # replay the same draws, in the same order as loss_terms
    with torch.no_grad():
        mu = model.codec.encode(batch)
        z0 = mu + math.sqrt(obj.encoder_beta) * torch.randn_like(mu)
        rec = model.codec.reconstruction_loss(batch, z0)
        t = torch.randint(0, 3, (mu.shape[0],))
        noise = torch.randn_like(z0)
        abar = abar_by_hand(t).float()
        z_t = abar.sqrt() * z0 + (1.0 - abar).sqrt() * noise
        eps_hat = model.denoiser(z_t, t)
        simple = ((noise - eps_hat) ** 2).mean(dim=1)
        z0_hat = (z_t - math.sqrt(BETA) * eps_hat) / math.sqrt(1.0 - BETA)
        align = (1.0 - BETA) / BETA * ((mu - z0_hat) ** 2).mean(dim=1)
        diff = torch.where(t == 0, align, simple)
        known = batch["target_label"] >= 0
        head_loss = torch.nn.functional.cross_entropy(
            model.heads["label"](z0[known]), batch["target_label"][known]
        )

    assert bool((t == 0).any()) and bool((t > 0).any())
    expected = obj.rec_weight * rec.mean() + obj.diffusion_weight * diff.mean() + 0.5 * head_loss
    torch.testing.assert_close(out["loss"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["rec"], rec.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["diff"], diff.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["simple"], simple[t > 0].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["align"], align[t == 0].mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["head_label"], head_loss, rtol=1e-5, atol=1e-5)
    total = (
        obj.rec_weight * out["rec"] + obj.diffusion_weight * out["diff"] + 0.5 * out["head_label"]
    )
    torch.testing.assert_close(out["loss"], total, rtol=1e-5, atol=1e-5)


def test_loss_terms_full_align_scores_every_example_at_t0(make_tiny_text_model, tiny_texts):
    model, _ = make_tiny_text_model(seed=0)  # T = 1000: a batch of 4 almost never draws t = 0
    model.eval()
    batch = model.collate(tiny_texts[:4])

    torch.manual_seed(7)
    with torch.no_grad():
        plain = model.loss_terms(batch)
    torch.manual_seed(7)
    with torch.no_grad():
        full = model.loss_terms(batch, full_align=True)

    torch.manual_seed(7)  # replay: posterior noise, t, z_t noise, then the extra t = 0 noise
    with torch.no_grad():
        mu = model.codec.encode(batch)
        z0 = mu + math.sqrt(BETA) * torch.randn_like(mu)
        t = torch.randint(0, 1000, (4,))
        torch.randn_like(z0)
        noise = torch.randn_like(z0)
        z_1 = math.sqrt(1.0 - BETA) * z0 + math.sqrt(BETA) * noise
        eps_hat = model.denoiser(z_1, torch.zeros(4, dtype=torch.long))
        z0_hat = (z_1 - math.sqrt(BETA) * eps_hat) / math.sqrt(1.0 - BETA)
        align = (1.0 - BETA) / BETA * ((mu - z0_hat) ** 2).mean(dim=1)

    assert not bool((t == 0).any())
    assert "align" not in plain
    torch.testing.assert_close(full["align"], align.mean(), rtol=1e-5, atol=1e-5)
    for key in ("loss", "rec", "diff", "simple"):  # the extra draw changes nothing else
        torch.testing.assert_close(full[key], plain[key])


def test_loss_terms_without_head_or_targets_has_no_head_term(make_tiny_text_model, tiny_texts):
    model, _ = make_tiny_text_model(seed=0, objective={"rec_weight": 2.0, "diffusion_weight": 0.25})
    batch = model.collate(tiny_texts[:4])

    out = model.loss_terms(batch)

    assert not any(k.startswith("head_") for k in out)
    torch.testing.assert_close(
        out["loss"].detach(), 2.0 * out["rec"] + 0.25 * out["diff"], rtol=1e-5, atol=1e-5
    )
    out["loss"].backward()
    assert model.codec.to_latent.weight.grad is not None
    assert model.denoiser.output.weight.grad is not None
