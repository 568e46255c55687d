"""Tests for models/image/codec.py and models/image/inference.py: the tiny image EDDPM."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models import checkpoint as ckpt
from models.autoencoder import EDDPM
from models.config import ImageCodecConfig, ModelConfig, TrainConfig, preset
from models.errors import UsageError
from models.image.codec import ImageCodec, build_image_codec, check_image_config
from models.image.inference import edit_images, interpolate_images, reconstruct_exact
from models.training import Dataset, Trainer


def toy_images(n: int, size: int = 16, seed: int = 0) -> list[np.ndarray]:
    """n images (3, size, size) in [-1, 1]: one coloured square on white per image."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        x = np.ones((3, size, size), np.float32)
        side = int(rng.integers(size // 4, size // 2))
        top, left = rng.integers(0, size - side, 2)
        x[:, top : top + side, left : left + side] = rng.uniform(-1, 1, (3, 1, 1))
        images.append(x)
    return images


def tiny_image_model(seed: int = 0, examples: list[np.ndarray] | None = None) -> EDDPM:
    model_cfg, _ = preset("image", "tiny")
    torch.manual_seed(seed)
    codec, _ = build_image_codec(model_cfg.codec, model_cfg.prior.latent_dim, examples)
    return EDDPM(model_cfg, codec)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[EDDPM, Trainer, list[np.ndarray]]:
    """A tiny image EDDPM trained 120 steps through the Trainer on 32 toy images (~5 s),
    validated on 4 others at step 120."""
    images = toy_images(32)
    model = tiny_image_model(0, images)
    config = TrainConfig(
        batch_size=16, max_steps=120, lr=2e-3, warmup_steps=5, eval_every=120, save_every=1000,
        bleu_examples=4,
    )
    trainer = Trainer(model, config, tmp_path_factory.mktemp("image_run"), Dataset(images),
                      Dataset(toy_images(4, seed=1)), progress=False)
    trainer.fit()
    return model.eval(), trainer, images


# -- config ---------------------------------------------------------------------------------------
def test_image_config_round_trips_through_json() -> None:
    for name in ("tiny", "small", "base"):
        model_cfg, _ = preset("image", name)
        check_image_config(model_cfg.codec)
        restored = ModelConfig.from_dict(json.loads(json.dumps(model_cfg.to_dict())))
        assert restored == model_cfg
        assert isinstance(restored.codec.block_out_channels, tuple)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"resolution": 15}, "multiple of 2"),
        ({"norm_num_groups": 5}, "not divisible by norm_num_groups"),
        ({"attention_levels": (2,)}, "attention_levels [2] do not exist"),
    ],
)
def test_impossible_sizes_are_refused(change: dict, expected: str) -> None:
    config = dataclasses.replace(preset("image", "tiny")[0].codec, **change)

    with pytest.raises(UsageError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        ImageCodec(config, 8)


# -- shapes ---------------------------------------------------------------------------------------
def test_shapes_of_encode_loss_and_decode() -> None:
    model = tiny_image_model()
    codec = model.codec
    batch = model.collate(toy_images(4))

    mu = model.encode(batch)
    rec = codec.reconstruction_loss(batch, mu)
    images = model.decode(mu, pixel_steps=3)

    assert batch["pixels"].shape == (4, 3, 16, 16)
    assert mu.shape == (4, 16)
    assert rec.shape == (4,) and bool((rec > 0).all())
    assert len(images) == 4 and images[0].shape == (3, 16, 16) and images[0].dtype == np.float32
    assert min(float(x.min()) for x in images) >= -1.0 and max(float(x.max()) for x in images) <= 1
    assert codec.example_weight(images[0]) == 256
    assert set(model.loss_terms(batch)) >= {"loss", "rec", "diff"}


def test_collate_refuses_the_wrong_resolution() -> None:
    with pytest.raises(UsageError, match=r"\(3, 8, 8\).*\(3, 16, 16\)"):
        tiny_image_model().collate(toy_images(2, size=8))


def test_decode_is_seeded_and_shared_noise_broadcasts() -> None:
    model = tiny_image_model().eval()
    z0 = torch.randn(3, 16)
    same = z0[:1].expand(3, -1)

    first = model.decode(z0, pixel_steps=2)
    again = model.decode(z0, generator=torch.Generator().manual_seed(0), pixel_steps=2)
    shared = model.decode(same, pixel_steps=2, noise=torch.randn(3, 16, 16))
    fresh = model.decode(same, pixel_steps=2)

    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert np.array_equal(shared[0], shared[2])
    assert not np.array_equal(fresh[0], fresh[2])
    with pytest.raises(UsageError, match="pixel noise has shape"):
        model.decode(z0, pixel_steps=2, noise=torch.randn(2, 3, 16, 16))


# -- latent standardisation -----------------------------------------------------------------------
def test_fit_latent_stats_standardises_the_training_latents() -> None:
    images = toy_images(64)
    model = tiny_image_model(0, images).eval()
    codec = model.codec
    batch = model.collate(images)

    with torch.no_grad():
        raw = codec.encode_unstandardised(batch)
        mu = model.encode(batch)

    assert torch.allclose(mu.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(mu.std(0), torch.ones(16), atol=1e-3)
    assert torch.allclose(mu, (raw - codec.latent_mean) / codec.latent_std)
    assert {"codec.latent_mean", "codec.latent_std"} <= set(model.state_dict())


def test_without_stats_encode_is_the_raw_encoder() -> None:
    model = tiny_image_model().eval()
    batch = model.collate(toy_images(2))

    with torch.no_grad():
        assert torch.equal(model.encode(batch), model.codec.encode_unstandardised(batch))


def test_latent_std_is_floored() -> None:
    codec = tiny_image_model().codec
    codec.set_latent_stats(torch.zeros(16), torch.zeros(16))

    assert float(codec.latent_std.min()) > 0


# -- training -------------------------------------------------------------------------------------
def test_training_steps_reduce_the_loss(trained) -> None:
    _, trainer, _ = trained
    rows = [r for r in trainer.history if r["split"] == "train"]

    assert [r["step"] for r in rows] == list(range(10, 121, 10))
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]
    assert rows[-1]["rec"] < rows[0]["rec"]
    val = [r for r in trainer.history if r["split"] == "val"]
    assert [r["step"] for r in val] == [120]
    assert {"recon_psnr", "recon_ssim", "rec", "align"} <= set(val[0])


# -- DDIM inversion in pixel space ----------------------------------------------------------------
def test_pixel_inversion_is_exact_for_a_consistent_noise_predictor() -> None:
    codec = tiny_image_model().codec
    x = torch.as_tensor(np.stack(toy_images(2)))
    abar_of = codec.schedule.alphas_cumprod

    def oracle(x_t, t, z0):  # the noise that puts x_t on the straight path from x
        abar = abar_of[t].view(-1, 1, 1, 1)
        return (x_t - abar.sqrt() * x) / (1 - abar).sqrt()

    codec.eps = oracle
    z0 = torch.zeros(2, 16)
    x_T = codec.invert_pixels(x, z0, steps=10)
    x_hat = codec.sample_pixels(z0, x_T, steps=10, clip=False)

    assert float((x_hat - x).norm() / x.norm()) < 1e-4


def test_pixel_inversion_round_trip_of_a_trained_model(trained) -> None:
    model, _, images = trained
    x = torch.as_tensor(np.stack(images[:4]))
    with torch.no_grad():
        z0 = model.encode({"pixels": x})
        errors = {}
        for steps in (10, 100):
            x_T = model.codec.invert_pixels(x, z0, steps)
            x_hat = model.codec.sample_pixels(z0, x_T, steps, clip=False)
            errors[steps] = float((x_hat - x).norm() / x.norm())

    assert errors[100] < 0.25
    assert errors[100] < errors[10]


def test_reconstruct_exact_beats_fresh_noise(trained) -> None:
    from models import inference

    model, _, images = trained
    exact = reconstruct_exact(model, images[:4], steps=50)
    semantic = inference.reconstruct(model, images[:4], pixel_steps=50)

    exact_psnr = model.codec.reconstruction_metrics(images[:4], exact)["psnr"]
    semantic_psnr = model.codec.reconstruction_metrics(images[:4], semantic)["psnr"]
    assert exact_psnr > semantic_psnr
    assert exact[0].shape == (3, 16, 16)


def test_edit_images_moves_the_latent_and_keeps_the_noise(trained) -> None:
    model, _, images = trained
    direction = torch.zeros(16)
    direction[0] = 3.0

    unchanged = edit_images(model, images[:2], direction, extent=0.0, steps=10)
    edited = edit_images(model, images[:2], direction, extent=2.0, steps=10)

    exact = reconstruct_exact(model, images[:2], steps=10)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(unchanged, exact))
    assert not np.allclose(edited[0], exact[0], atol=1e-3)


@pytest.mark.parametrize("inverted_noise", [False, True])
def test_interpolate_images(trained, inverted_noise: bool) -> None:
    model, _, images = trained

    path = interpolate_images(
        model, images[0], images[1], points=4, steps=5, inverted_noise=inverted_noise
    )

    assert len(path) == 4 and all(p.shape == (3, 16, 16) for p in path)
    with pytest.raises(UsageError, match="unknown interpolation method"):
        interpolate_images(model, images[0], images[1], method="cubic")


def test_reconstruction_metrics_keys_and_perfect_score() -> None:
    codec = tiny_image_model().codec
    images = toy_images(3)

    perfect = codec.reconstruction_metrics(images, images)

    assert set(perfect) == {"psnr", "ssim"}
    assert perfect["psnr"] == pytest.approx(100.0) and perfect["ssim"] == pytest.approx(1.0)
    assert codec.reconstruction_metrics([], []) == {}


# -- checkpoints ----------------------------------------------------------------------------------
def test_save_and_load_round_trip(trained, tmp_path: Path) -> None:
    model, _, images = trained
    directory = tmp_path / "run"
    ckpt.save_model_dir(model, directory)

    loaded = ckpt.load_model(directory)

    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors"]
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert torch.equal(loaded.codec.latent_std, model.codec.latent_std)
    batch = model.collate(images[:2])
    with torch.no_grad():
        assert torch.equal(loaded.encode(batch), model.encode(batch))
        mu = model.encode(batch)
    for a, b in zip(loaded.decode(mu, pixel_steps=3), model.decode(mu, pixel_steps=3)):
        assert np.array_equal(a, b)


def test_image_codec_config_is_registered() -> None:
    model_cfg, train_cfg = preset("image", "small")

    assert isinstance(model_cfg.codec, ImageCodecConfig) and model_cfg.modality == "image"
    assert model_cfg.codec.resolution == 32 and train_cfg.batch_size > 0
