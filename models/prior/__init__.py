"""The latent diffusion prior: schedule, denoiser, EDDPM loss terms and samplers.

Notation (docs/notation.md; diffusers index i is the paper's t = i + 1):

| name             | meaning                                   | shape |
|------------------|-------------------------------------------|-------|
| ``z0``           | clean latent, ``mu + sqrt(beta_enc) n``    | (B, D) |
| ``mu``           | encoder mean                               | (B, D) |
| ``z_t``, ``t``   | noised latent and integer timestep index  | (B, D), (B,) |
| ``noise``        | Gaussian draw that built ``z_t``           | (B, D) |
| ``eps_hat``      | denoiser's noise prediction                | (B, D) |
| ``z0_hat``       | estimate of ``z0`` from ``z_t``            | (B, D) |
| ``betas``, ``alphas``, ``alphas_cumprod`` | beta_t, 1 - beta_t, abar_t | (T,) |
"""
