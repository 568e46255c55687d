"""The protein codec (METHOD.md section 3, protein).

Encoder: residue and position embeddings, a pre-norm transformer, attention pooling (a learned
score per position, softmax over the real residues) and a linear map to the latent mu (B, D).
Decoder (non-autoregressive): a linear map from z0 to L x W features, a residual 1-D convolution
block over positions, and per-position logits over the 22 tokens (<pad>, 20 amino acids, X).
Sequences are padded to the model's length L with <pad> and cropped when longer.

The reconstruction loss is the cross-entropy of every residue plus the first <pad> (the end of
the sequence, like an end-of-sequence token); positions after it are not scored. Decoding takes
each position's choice and stops at the first <pad>; position 0 never decodes to <pad>, so every
decoded sequence has at least one residue.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch
from torch import nn

from models.codec import Codec, choose_tokens, masked_mean
from models.config import ProteinCodecConfig
from models.metrics import sequence_identity
from models.protein.alphabet import PAD_ID, TOKENS, from_ids, to_ids


class ResidualConvBlock(nn.Module):
    """h + Conv1d(GELU(Conv1d(GELU(LayerNorm(h))))) along positions; (B, L, W) -> (B, L, W)."""

    def __init__(self, width: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.conv1 = nn.Conv1d(width, width, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(width, width, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        y = nn.functional.gelu(self.norm(h)).transpose(1, 2)  # (B, L, W) -> (B, W, L)
        y = self.conv2(self.dropout(nn.functional.gelu(self.conv1(y))))
        return h + y.transpose(1, 2)  # (B, W, L) -> (B, L, W)


class ProteinCodec(Codec):
    """Transformer encoder with attention pooling and a convolutional per-position decoder.

    Args:
        config: the codec config; ``max_length`` is the model's L.
        latent_dim: D.
    """

    modality = "protein"

    def __init__(self, config: ProteinCodecConfig, latent_dim: int) -> None:
        super().__init__()
        self.config = config
        L, W, V = config.max_length, config.width, len(TOKENS)
        self.embed = nn.Embedding(V, W, padding_idx=PAD_ID)
        self.position = nn.Embedding(L, W)
        layer = nn.TransformerEncoderLayer(
            W, config.heads, dim_feedforward=4 * W, dropout=config.dropout, activation="gelu",
            batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.encoder_norm = nn.LayerNorm(W)
        self.pool_score = nn.Linear(W, 1)
        self.to_latent = nn.Linear(W, latent_dim)
        self.from_latent = nn.Linear(latent_dim, L * W)
        self.conv_block = ResidualConvBlock(W, config.conv_kernel, config.dropout)
        self.out_norm = nn.LayerNorm(W)
        self.to_logits = nn.Linear(W, V)

    # -- batches -------------------------------------------------------------------------------
    def collate(self, examples: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids of B cleaned sequences, cropped and padded to L: ``ids`` (B, L) int64 and
        ``mask`` (B, L) bool (True at residues)."""
        L = self.config.max_length
        ids = torch.full((len(examples), L), PAD_ID, dtype=torch.long)
        for i, sequence in enumerate(examples):
            row = to_ids(sequence[:L])
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return {"ids": ids, "mask": ids != PAD_ID}

    def example_weight(self, example: str) -> int:
        return min(len(example), self.config.max_length)

    def truncation_note(self, examples: Sequence[str]) -> str | None:
        return self.length_note([len(s) for s in examples])

    def length_note(self, lengths: Sequence[int]) -> str | None:
        L = self.config.max_length
        longer = sum(int(n) > L for n in lengths)
        if not longer:
            return None
        return (
            f"{longer} of {len(lengths)} sequence(s) are longer than the model's {L} residues "
            f"and were cropped to their first {L}"
        )

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Attention-pooled transformer features, then Linear: (B, L) ids -> (B, D) mu."""
        ids, mask = batch["ids"], batch["mask"]
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.embed(ids) + self.position(positions)[None]  # (B, L, W)
        h = self.encoder_norm(self.encoder(h, src_key_padding_mask=~mask))
        score = self.pool_score(h).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, L)
        weight = torch.softmax(score.float(), dim=-1).to(h.dtype)
        pooled = torch.einsum("bl,blw->bw", weight, h)  # (B, L, W) -> (B, W)
        return self.to_latent(pooled)

    # -- decoder -------------------------------------------------------------------------------
    def logits(self, z0: torch.Tensor) -> torch.Tensor:
        """Per-position token logits: (B, D) -> (B, L, V)."""
        B, L, W = z0.shape[0], self.config.max_length, self.config.width
        h = self.from_latent(z0).view(B, L, W)  # (B, D) -> (B, L, W)
        return self.to_logits(self.out_norm(self.conv_block(h)))

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], z0: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the residues and the end <pad>, mean per example: (B,)."""
        ids, mask = batch["ids"], batch["mask"]
        logits = self.logits(z0)  # (B, L, V)
        ce = nn.functional.cross_entropy(
            logits.transpose(1, 2).float(), ids, reduction="none"
        )  # (B, L)
        scored = mask.clone()
        lengths = mask.sum(dim=1)
        ends = lengths < ids.shape[1]  # sequences shorter than L have an end <pad>
        scored[ends.nonzero().flatten(), lengths[ends]] = True
        return masked_mean(ce, scored)

    @torch.no_grad()
    def decode(
        self,
        z0: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_length: int | None = None,
    ) -> list[str]:
        """Decode (B, D) latents to B sequences: per-position argmax (temperature 0) or nucleus
        sampling, cut at the first <pad> and at ``max_length`` residues."""
        logits = self.logits(z0).float()  # (B, L, V)
        logits[:, 0, PAD_ID] = float("-inf")
        B, L, V = logits.shape
        ids = choose_tokens(logits.reshape(B * L, V), temperature, top_p, generator).view(B, L)
        limit = min(max_length or L, L)
        return [from_ids(row)[:limit] for row in ids.tolist()]

    # -- metrics -------------------------------------------------------------------------------
    def reconstruction_metrics(
        self, references: Sequence[str], outputs: Sequence[str]
    ) -> dict[str, float]:
        """Mean sequence identity and the fraction of exact reconstructions."""
        n = max(len(references), 1)
        L = self.config.max_length
        pairs = [(r[:L], o) for r, o in zip(references, outputs)]
        return {
            "identity": sum(sequence_identity(r, o) for r, o in pairs) / n,
            "exact_match": sum(r == o for r, o in pairs) / n,
        }


def build_protein_codec(
    config: ProteinCodecConfig, latent_dim: int, sequences: Sequence[str]
) -> tuple[ProteinCodec, ProteinCodecConfig]:
    """A new protein codec for training; L becomes the longest training sequence when that is
    shorter than the config's ``max_length`` cap. Returns the codec and its final config."""
    longest = max((len(s) for s in sequences), default=config.max_length)
    config = dataclasses.replace(config, max_length=min(config.max_length, longest))
    return ProteinCodec(config, latent_dim), config
