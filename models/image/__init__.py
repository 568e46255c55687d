"""Image codec: a half-UNet encoder and a latent-conditioned pixel diffusion UNet decoder."""
