"""The codec interface: the only modality-specific part of an EDDPM.

A codec turns raw examples into batches, maps a batch to the encoder mean ``mu`` (B, D), scores
the data under the decoder given a latent, and decodes latents back into examples. The model core
(:mod:`models.autoencoder`) and the trainer only talk to codecs through this interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn


class Codec(nn.Module):
    """Base class for text, protein and image codecs.

    Subclasses implement every method below; ``Batch`` is a dict of tensors built by
    :meth:`collate` and moved to the device by :func:`to_device`.
    """

    modality: str = ""

    def collate(self, examples: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Turn raw examples (strings, sequences, images) into a batch of tensors."""
        raise NotImplementedError

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encoder mean mu(x): batch -> (B, D)."""
        raise NotImplementedError

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], z0: torch.Tensor) -> torch.Tensor:
        """Per-example negative log-likelihood -log p(x | z0), averaged over positions: (B,)."""
        raise NotImplementedError

    def decode(self, z0: torch.Tensor, generator: torch.Generator | None = None, **options: Any) -> list[Any]:
        """Decode (B, D) latents into B examples."""
        raise NotImplementedError

    def reconstruction_metrics(self, references: Sequence[Any], outputs: Sequence[Any]) -> dict[str, float]:
        """Modality-specific reconstruction quality (BLEU for text, identity for proteins...)."""
        return {}

    def save_assets(self, directory: Path) -> None:
        """Write non-weight assets (tokenizers) into a checkpoint directory."""

    def example_weight(self, example: Any) -> int:
        """Cost of an example for token-budget batching (length in tokens, residues, pixels)."""
        return 1

    def truncation_note(self, examples: Sequence[Any]) -> str | None:
        """One line saying how many examples exceed the model's size and are cut, or None.

        Callers show it once per input, instead of a message per example or per batch.
        """
        return None

    def length_note(self, lengths: Sequence[int]) -> str | None:
        """:meth:`truncation_note` from the examples' ``len()`` alone (for a streamed input,
        whose examples are not kept); None where length in characters says nothing."""
        return None


def to_device(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Move every tensor of a batch to ``device``."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def choose_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Pick one token per row of (N, V) logits: greedy at temperature 0, else nucleus sampling
    (Holtzman et al. 2020) at ``top_p``; returns (N,) ids."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    from transformers.generation.logits_process import TopPLogitsWarper

    scores = logits / temperature
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p=top_p)(None, scores)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example mean over the positions where ``mask`` is set: (B, L), (B, L) -> (B,); 0 for
    an example without any (a token cross-entropy averaged over each example's own tokens)."""
    weight = mask.to(values.dtype)
    return (values * weight).sum(dim=1) / weight.sum(dim=1).clamp_min(1.0)
