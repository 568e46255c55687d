"""Registry: which codec serves which modality."""

from __future__ import annotations

from pathlib import Path

from models.codec import Codec
from models.config import ModelConfig
from models.errors import UsageError


def load_codec(config: ModelConfig, directory: Path) -> Codec:
    """Rebuild the codec of a checkpoint (random weights) with its saved assets."""
    if config.modality == "text":
        from models.text.codec import load_text_codec

        return load_text_codec(config.codec, config.prior.latent_dim, Path(directory))
    raise UsageError(f"modality {config.modality!r} is not supported yet")
