"""The image codec (METHOD.md section 3, image): the diffusion-autoencoder decoder of EDDPM.

Encoder: a half-UNet (convolution, downsampling ResNet blocks, GroupNorm, SiLU, global average
pool, Linear) from pixels to the semantic latent, standardised with training statistics.
Decoder: a conditional diffusion UNet in pixel space (diffusers ``UNet2DModel``); a linear map of
z0 is added to its time embedding, so the latent modulates every residual block with the time
step (Preechakul et al. 2022). Its reconstruction term is the pixel noise-prediction loss given z0.

Notation: ``x`` pixels (B, 3, H, W) in [-1, 1]; ``x_t`` pixels noised to step ``t`` (B,);
``x_T`` pure pixel noise; ``mu`` encoder means and ``z0`` latents (B, D), both standardised.

Latent standardisation: the latent diffusion works on standardised latents (METHOD.md section 3).
The codec keeps per-dimension ``latent_mean`` and ``latent_std`` buffers (saved with the weights),
set once before training by :meth:`ImageCodec.fit_latent_stats` on a sample of training images
and frozen after that. :meth:`ImageCodec.encode` returns ``(mu_raw - mean) / std``, and every
latent the decoder sees is standardised too, so the model core, the prior and the CLI never need
to know about it.

NOTE: trained jointly from scratch, the statistics come from the encoder at initialisation and
only set the starting scale (unit variance per dimension); the EDDPM objective then shrinks the
standardised latents (on 16x16 Twemoji, std 0.27 -> 0.035 in 800 steps at lambda = 1) while the
decoder still uses them. Refitting later would change the space the prior was trained in.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from models import draws
from models.codec import Codec
from models.config import ImageCodecConfig, PriorConfig
from models.errors import UsageError
from models.prior import sampling
from models.prior.schedule import Schedule

_STD_FLOOR = 1e-3  # latent dimensions that barely vary are not blown up past 1 / _STD_FLOOR


def pixel_schedule(config: ImageCodecConfig) -> PriorConfig:
    """The decoder's pixel noise schedule: DDPM's linear betas over ``num_train_timesteps``.

    NOTE: expressed as a :class:`PriorConfig` because :mod:`models.prior.sampling` and
    :class:`models.prior.schedule.Schedule` read only its schedule fields; the denoiser fields are
    unused here.
    """
    return PriorConfig(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule="linear",
        beta_start=config.beta_start,
        beta_end=config.beta_end,
    )


def check_image_config(config: ImageCodecConfig) -> None:
    """Refuse sizes the UNets cannot build.

    Raises:
        UsageError: a resolution not divisible by the downsampling factor, channels not divisible
            by the GroupNorm groups, or an attention level that does not exist.
    """
    levels = len(config.block_out_channels)
    factor = 2 ** (levels - 1)
    if levels < 1 or config.resolution < factor or config.resolution % factor:
        raise UsageError(
            f"image resolution {config.resolution} must be a positive multiple of {factor} "
            f"for {levels} resolution levels (block_out_channels {config.block_out_channels})"
        )
    bad = [c for c in config.block_out_channels if c % config.norm_num_groups]
    if bad:
        raise UsageError(
            f"block_out_channels {bad} are not divisible by norm_num_groups "
            f"{config.norm_num_groups}"
        )
    wrong = [level for level in config.attention_levels if not 0 <= level < levels]
    if wrong:
        raise UsageError(f"attention_levels {wrong} do not exist; levels are 0..{levels - 1}")


class HalfUNetEncoder(nn.Module):
    """The downsampling half of a UNet, pooled to one vector (diffusion autoencoders' encoder).

    Args:
        config: the codec config (channels per level, blocks per level, GroupNorm groups).
        latent_dim: D.
    """

    def __init__(self, config: ImageCodecConfig, latent_dim: int) -> None:
        super().__init__()
        from diffusers.models.unets.unet_2d_blocks import DownEncoderBlock2D

        channels = config.block_out_channels
        self.conv_in = nn.Conv2d(3, channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList(
            DownEncoderBlock2D(
                in_channels=channels[max(i - 1, 0)],
                out_channels=c,
                dropout=config.dropout,
                num_layers=config.layers_per_block,
                resnet_groups=config.norm_num_groups,
                add_downsample=i < len(channels) - 1,
            )
            for i, c in enumerate(channels)
        )
        self.norm_out = nn.GroupNorm(config.norm_num_groups, channels[-1])
        self.to_latent = nn.Linear(channels[-1], latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) in [-1, 1] -> unstandardised latent (B, D)."""
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h)  # (B, C_i, H_i, W_i), halved between levels
        h = nn.functional.silu(self.norm_out(h)).mean(dim=(2, 3))  # (B, C, h, w) -> (B, C)
        return self.to_latent(h)


def _pixel_unet(config: ImageCodecConfig) -> nn.Module:
    """diffusers UNet2DModel whose time embedding takes an extra (B, 4 C_0) conditioning vector."""
    from diffusers import UNet2DModel

    levels = range(len(config.block_out_channels))
    attn = set(config.attention_levels)
    return UNet2DModel(
        sample_size=config.resolution,
        in_channels=3,
        out_channels=3,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        norm_num_groups=config.norm_num_groups,
        down_block_types=tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in levels),
        up_block_types=tuple(
            "AttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(levels)
        ),
        add_attention=bool(attn),
        dropout=config.dropout,
        # AdaGN (scale and shift from the embedding), as in ADM and diffusion autoencoders.
        resnet_time_scale_shift="scale_shift",
        # NOTE: "identity" adds class_labels, a float (B, time_embed_dim), to the time embedding.
        class_embed_type="identity",
    )


class ImageCodec(Codec):
    """Half-UNet encoder and latent-conditioned pixel diffusion decoder.

    Examples are float32 arrays (3, R, R) in [-1, 1], as :func:`models.data.images.read_images`
    returns them; :meth:`decode` returns the same kind of array.

    Args:
        config: codec config.
        latent_dim: D.
    """

    modality = "image"

    def __init__(self, config: ImageCodecConfig, latent_dim: int) -> None:
        super().__init__()
        check_image_config(config)
        self.config = config
        self.encoder = HalfUNetEncoder(config, latent_dim)
        self.unet = _pixel_unet(config)
        time_embed_dim = 4 * config.block_out_channels[0]
        self.latent_to_cond = nn.Linear(latent_dim, time_embed_dim)
        self.pixel_schedule = pixel_schedule(config)
        self.schedule = Schedule(self.pixel_schedule)
        self.register_buffer("latent_mean", torch.zeros(latent_dim))
        self.register_buffer("latent_std", torch.ones(latent_dim))

    # -- batches -------------------------------------------------------------------------------
    def collate(self, examples: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Stack B images (3, R, R) in [-1, 1] (numpy or torch) into ``pixels`` (B, 3, R, R).

        Raises:
            UsageError: an image does not have the model's shape.
        """
        R = self.config.resolution
        pixels = _stack(examples)  # (B, 3, H, W)
        if pixels.shape[1:] != (3, R, R):
            raise UsageError(
                f"images have shape {tuple(pixels.shape[1:])}, but this model needs (3, {R}, {R})",
                hint="read images with models.data.images.read_images at the model resolution",
            )
        return {"pixels": pixels}

    def example_weight(self, example: Any) -> int:
        """Pixels per image, H * W."""
        return int(np.shape(example)[-1] * np.shape(example)[-2])

    # -- encoder -------------------------------------------------------------------------------
    def encode_unstandardised(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder's raw output for ``pixels`` (B, 3, R, R): (B, D), before standardising."""
        return self.encoder(batch["pixels"])

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Standardised encoder mean mu(x) = (raw - latent_mean) / latent_std: (B, D)."""
        return (self.encode_unstandardised(batch) - self.latent_mean) / self.latent_std

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Set the per-dimension standardisation (mean (D,), std (D,), floored at 1e-3)."""
        self.latent_mean.copy_(mean.detach().to(self.latent_mean))
        self.latent_std.copy_(std.detach().to(self.latent_std).clamp_min(_STD_FLOOR))

    @torch.no_grad()
    def fit_latent_stats(
        self, examples: Sequence[Any], batch_size: int = 64, max_examples: int = 1024
    ) -> None:
        """Standardise latents with the mean and std of raw encodings of training images.

        Call once, before training (and never again: the decoder and the prior learn on these
        standardised latents). Uses up to ``max_examples`` evenly spaced examples (data sets
        sorted by class stay balanced), in eval mode.
        """
        was_training = self.training
        self.eval()
        index = np.linspace(0, len(examples) - 1, min(len(examples), max_examples)).round()
        sample = [examples[int(i)] for i in index]
        rows = []
        for i in range(0, len(sample), batch_size):
            pixels = self.collate(sample[i : i + batch_size])["pixels"]
            rows.append(self.encoder(pixels.to(self.latent_mean.device)))  # (b, D)
        self.train(was_training)
        raw = torch.cat(rows).double()  # (N, D)
        std = raw.std(dim=0) if raw.shape[0] > 1 else torch.ones_like(raw[0])
        self.set_latent_stats(raw.mean(dim=0), std)

    # -- decoder -------------------------------------------------------------------------------
    def eps(self, x_t: torch.Tensor, t: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
        """Predicted pixel noise eps_hat(x_t, t, z0): (B, 3, R, R)."""
        cond = self.latent_to_cond(z0)  # (B, D) -> (B, 4 C_0)
        return self.unet(x_t, t, class_labels=cond).sample

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], z0: torch.Tensor) -> torch.Tensor:
        """Pixel noise-prediction loss given z0 (Ho et al. 2020, L_simple), mean over C, H, W: (B,).

        One uniform step t and one noise draw per image.
        """
        x = batch["pixels"]
        t = draws.randint(self.schedule.num_timesteps, x.shape[0], x.device)
        noise = draws.randn_like(x)
        abar = self.schedule.alphas_cumprod[t].to(x.dtype).view(-1, 1, 1, 1)  # (B,) -> (B,1,1,1)
        x_t = abar.sqrt() * x + (1.0 - abar).sqrt() * noise
        eps_hat = self.eps(x_t, t, z0)
        return (noise - eps_hat).float().pow(2).flatten(1).mean(dim=1)  # (B, 3, R, R) -> (B,)

    def _eps_fn(self, z0: torch.Tensor, clip: bool) -> sampling.EpsFn:
        """eps_hat as a function of (x_t, t), optionally re-derived from a clipped x0_hat."""

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            eps_hat = self.eps(x_t, t, z0)
            if not clip:
                return eps_hat
            # Clip x0_hat = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar) to [-1, 1] and return the
            # noise consistent with it (guided-diffusion's clip_denoised for DDIM).
            abar = self.schedule.alphas_cumprod[t].to(x_t.dtype).view(-1, 1, 1, 1)
            x0_hat = ((x_t - (1 - abar).sqrt() * eps_hat) / abar.sqrt()).clamp(-1.0, 1.0)
            return (x_t - abar.sqrt() * x0_hat) / (1 - abar).sqrt()

        return eps_fn

    def sample_pixels(
        self,
        z0: torch.Tensor,
        x_T: torch.Tensor,
        steps: int | None = None,
        clip: bool | None = None,
    ) -> torch.Tensor:
        """DDIM (eta = 0) in pixel space from x_T (B, 3, R, R) given z0 (B, D): (B, 3, R, R).

        ``clip`` defaults to the config's ``clip_sample``; pass False to decode an inverted x_T.
        """
        clip = self.config.clip_sample if clip is None else clip
        steps = steps or self.config.sample_steps
        return sampling.sample_ddim(self._eps_fn(z0, clip), x_T, self.pixel_schedule, steps)

    def invert_pixels(
        self, x: torch.Tensor, z0: torch.Tensor, steps: int | None = None
    ) -> torch.Tensor:
        """Deterministic DDIM inversion x (B, 3, R, R) -> x_T given z0 (B, D): (B, 3, R, R).

        :meth:`sample_pixels` with ``clip=False`` and the same ``steps`` maps x_T back to x up to
        the discretisation error, which shrinks as ``steps`` grows.
        """
        steps = steps or self.config.sample_steps
        return sampling.ddim_invert(self._eps_fn(z0, False), x, self.pixel_schedule, steps)

    @torch.no_grad()
    def decode(
        self,
        z0: torch.Tensor,
        generator: torch.Generator | None = None,
        pixel_steps: int | None = None,
        noise: torch.Tensor | None = None,
        clip: bool | None = None,
    ) -> list[np.ndarray]:
        """Decode (B, D) standardised latents to B images by DDIM in pixel space.

        Args:
            z0: (B, D) latents.
            generator: draws x_T when ``noise`` is None; None uses a fixed seed (0), so decoding
                is deterministic and leaves the global RNG alone.
            pixel_steps: pixel DDIM steps (default ``config.sample_steps``); named apart from the
                latent sampler's ``steps`` of :func:`models.inference.generate`.
            noise: x_T to start from instead of fresh noise: (B, 3, R, R), or one (3, R, R) or
                (1, 3, R, R) shared by all (interpolation), or the output of
                :meth:`invert_pixels` (then pass ``clip=False``).
            clip: clip x0_hat to [-1, 1] at each step (default ``config.clip_sample``).

        Returns:
            B float32 arrays (3, R, R), clipped to [-1, 1].
        """
        B, R = z0.shape[0], self.config.resolution
        if noise is None:
            if generator is None:
                generator = torch.Generator(device=z0.device).manual_seed(0)
            noise = torch.randn((B, 3, R, R), generator=generator, device=z0.device)
        x_T = self._broadcast_noise(noise, B).to(z0.device, z0.dtype)
        x = self.sample_pixels(z0, x_T, pixel_steps, clip).clamp(-1.0, 1.0)
        return list(x.float().cpu().numpy())

    def _broadcast_noise(self, noise: torch.Tensor, batch: int) -> torch.Tensor:
        R = self.config.resolution
        noise = torch.as_tensor(noise)
        if noise.dim() == 3:
            noise = noise[None]  # (3, R, R) -> (1, 3, R, R)
        if noise.dim() != 4 or noise.shape[1:] != (3, R, R) or noise.shape[0] not in (1, batch):
            raise UsageError(
                f"pixel noise has shape {tuple(noise.shape)}; expected (3, {R}, {R}), "
                f"(1, 3, {R}, {R}) or ({batch}, 3, {R}, {R})"
            )
        return noise.expand(batch, -1, -1, -1)

    # -- metrics -------------------------------------------------------------------------------
    def reconstruction_metrics(
        self, references: Sequence[Any], outputs: Sequence[Any]
    ) -> dict[str, float]:
        """Mean PSNR (dB, peak 1 on [0, 1]) and SSIM over pairs of (3, R, R) images in [-1, 1]."""
        from models.image.metrics import psnr, ssim

        if not references:
            return {}
        ref, out = _stack(references), _stack(outputs)
        return {"psnr": float(psnr(out, ref).mean()), "ssim": float(ssim(out, ref).mean())}


def _stack(images: Sequence[Any]) -> torch.Tensor:
    """B images (3, H, W), numpy or torch -> float32 (B, 3, H, W)."""
    return torch.stack([torch.as_tensor(np.asarray(x), dtype=torch.float32) for x in images])


def build_image_codec(
    config: ImageCodecConfig, latent_dim: int, examples: Sequence[Any] | None = None
) -> tuple[ImageCodec, ImageCodecConfig]:
    """Build a new image codec for training, its latent statistics fitted on ``examples``.

    Mirrors :func:`models.text.codec.build_text_codec`; the config needs no completion.
    """
    codec = ImageCodec(config, latent_dim)
    if examples:
        codec.fit_latent_stats(examples)
    return codec, config
