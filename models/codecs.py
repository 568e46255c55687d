"""Registry: which codec serves which modality."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from models.codec import Codec
from models.config import ModelConfig
from models.errors import UsageError


def load_codec(config: ModelConfig, directory: Path) -> Codec:
    """Rebuild the codec of a checkpoint (random weights) with its saved assets."""
    if config.modality == "text":
        from models.text.codec import load_text_codec

        return load_text_codec(config.codec, config.prior.latent_dim, Path(directory))
    if config.modality == "image":
        from models.image.codec import ImageCodec

        return ImageCodec(config.codec, config.prior.latent_dim)
    if config.modality == "protein":
        from models.protein.codec import ProteinCodec

        return ProteinCodec(config.codec, config.prior.latent_dim)
    raise UsageError(f"modality {config.modality!r} is not supported yet")


def build_codec(
    config: ModelConfig, examples: Sequence[Any], encoder_dir: Path | None = None,
    decoder_dir: Path | None = None,
) -> tuple[Codec, Any]:
    """Build a new codec for training on ``examples`` (a tokenizer trained on them for text; the
    sequence length fitted to them for proteins) and return it with its completed codec config.

    Raises:
        UsageError: pretrained directories for a modality that has none, or an unknown modality.
    """
    if config.modality == "text":
        from models.text.codec import build_text_codec

        return build_text_codec(
            config.codec, config.prior.latent_dim, examples, encoder_dir=encoder_dir,
            decoder_dir=decoder_dir,
        )
    if encoder_dir is not None or decoder_dir is not None:
        raise UsageError(
            f"--encoder and --decoder take pretrained text models, not {config.modality}"
        )
    if config.modality == "protein":
        from models.protein.codec import build_protein_codec

        return build_protein_codec(config.codec, config.prior.latent_dim, examples)
    if config.modality == "image":
        from models.image.codec import build_image_codec

        return build_image_codec(config.codec, config.prior.latent_dim, examples)
    raise UsageError(f"modality {config.modality!r} is not supported yet")
