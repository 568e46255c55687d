"""The text codec (METHOD.md section 3, text).

Encoder: a BERT-style transformer, masked mean-pooled, then a linear map to the latent.
Decoder: a GPT-2-style transformer conditioned on z0 in two ways, as in the EDDPM code: the
projected latent is added to every token embedding, and one projected key/value slot per layer
("memory") is prepended to the attention of every token.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from models.codec import Codec, choose_tokens, masked_mean
from models.config import TextCodecConfig
from models.errors import UsageError


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def new_encoder_config(config: TextCodecConfig, vocab_size: int) -> dict[str, Any]:
    """transformers BertConfig dict for an encoder trained from scratch."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=config.encoder_width,
        num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.encoder_heads,
        intermediate_size=4 * config.encoder_width,
        max_position_embeddings=config.max_length + 8,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        pad_token_id=0,
    ).to_dict()


def new_decoder_config(config: TextCodecConfig, tokenizer) -> dict[str, Any]:
    """transformers GPT2Config dict for a decoder trained from scratch."""
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.max_length + 8,
        n_embd=config.decoder_width,
        n_layer=config.decoder_layers,
        n_head=config.decoder_heads,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).to_dict()


def _from_config_dict(data: dict[str, Any], causal: bool) -> nn.Module:
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    data = dict(data)
    model_type = data.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **data)
    if causal:
        return AutoModelForCausalLM.from_config(hf_config)
    return AutoModel.from_config(hf_config, **_encoder_kwargs(model_type))


def _encoder_kwargs(model_type: str | None) -> dict[str, Any]:
    # The pooler of BERT-family models is unused (eddpm mean-pools), so it is never built.
    return {"add_pooling_layer": False} if model_type == "bert" else {}


def _model_type(directory: Path) -> str | None:
    import json

    try:
        return json.loads((directory / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def load_pretrained(directory: Path, causal: bool) -> nn.Module:
    """Load a local transformers model directory (never a hub download).

    Raises:
        UsageError: the directory is missing or holds no loadable model.
    """
    from transformers import AutoModel, AutoModelForCausalLM

    _quiet_transformers()
    if not Path(directory).is_dir():
        raise UsageError(f"pretrained model directory {directory} does not exist")
    cls = AutoModelForCausalLM if causal else AutoModel
    try:
        kwargs = {} if causal else _encoder_kwargs(_model_type(Path(directory)))
        return cls.from_pretrained(str(directory), local_files_only=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load a pretrained model from {directory}: {exc}") from None



# Control characters other than tab (C0, DEL, C1): a byte-level tokenizer can emit them, and
# they have no place in text output (the text reader refuses NUL; terminals act on escapes).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Decoded text without control characters (tab and newline kept), stripped."""
    return _CONTROL.sub("", text).strip()

class TextCodec(Codec):
    """BERT-style encoder and latent-conditioned GPT-2 decoder.

    Args:
        config: codec config whose ``encoder`` / ``decoder`` hold transformers config dicts.
        latent_dim: D.
        tokenizer: decoder tokenizer (also the encoder's unless ``encoder_tokenizer`` is given).
        encoder_tokenizer: tokenizer of a pretrained encoder with its own vocabulary.
        encoder, decoder: already built networks (pretrained); built from ``config`` when None.
    """

    modality = "text"

    def __init__(
        self,
        config: TextCodecConfig,
        latent_dim: int,
        tokenizer,
        encoder_tokenizer=None,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
    ) -> None:
        super().__init__()
        _quiet_transformers()
        self.config = config
        self.tokenizer = tokenizer
        self.encoder_tokenizer = encoder_tokenizer or tokenizer
        self.encoder = encoder if encoder is not None else _from_config_dict(config.encoder, False)
        self.decoder = decoder if decoder is not None else _from_config_dict(config.decoder, True)
        dec_cfg = self.decoder.config
        if dec_cfg.model_type != "gpt2":
            raise UsageError(
                f"decoder type {dec_cfg.model_type!r} is not supported",
                hint="pass a GPT-2-style decoder directory",
            )
        self.n_layer, self.n_head = dec_cfg.n_layer, dec_cfg.n_head
        self.head_dim = dec_cfg.n_embd // dec_cfg.n_head
        self.to_latent = nn.Linear(self.encoder.config.hidden_size, latent_dim)
        self.latent_to_embedding = nn.Linear(latent_dim, dec_cfg.n_embd)
        self.latent_to_memory = nn.Linear(latent_dim, 2 * dec_cfg.n_layer * dec_cfg.n_embd)
        self.bos_id = self.tokenizer.bos_token_id
        self.eos_id = self.tokenizer.eos_token_id
        self.pad_id = self.tokenizer.pad_token_id

    # -- batches -------------------------------------------------------------------------------
    def collate(self, examples: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenise B strings for the encoder and (as <bos> text <eos>) for the decoder."""
        L = self.config.max_length
        enc = self.encoder_tokenizer(
            list(examples), padding=True, truncation=True, max_length=L, return_tensors="pt"
        )
        body = self.tokenizer(list(examples), add_special_tokens=False)["input_ids"]
        rows = [[self.bos_id, *ids[: L - 2], self.eos_id] for ids in body]
        width = max(len(r) for r in rows)
        dec_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        dec_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            dec_ids[i, : len(r)] = torch.tensor(r)
            dec_mask[i, : len(r)] = 1
        return {
            "enc_ids": enc["input_ids"],
            "enc_mask": enc["attention_mask"],
            "dec_ids": dec_ids,
            "dec_mask": dec_mask,
        }

    def example_weight(self, example: str) -> int:
        return len(example.split()) + 2

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked mean-pool of the encoder's last hidden states, then Linear: (B, D)."""
        mask = batch["enc_mask"]
        h = self.encoder(input_ids=batch["enc_ids"], attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)  # (B, L) -> (B, L, 1)
        pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp_min(1.0)  # (B, L, H) -> (B, H)
        return self.to_latent(pooled)

    # -- decoder -------------------------------------------------------------------------------
    def _memory(self, z0: torch.Tensor):
        """One key/value slot per layer from the latent, as a fresh DynamicCache (P = 1)."""
        from transformers import DynamicCache

        B = z0.shape[0]
        kv = self.latent_to_memory(z0).view(B, self.n_layer, 2, self.n_head, 1, self.head_dim)
        # NOTE: forward appends to a cache in place, so every call builds a new one.
        return DynamicCache(ddp_cache_data=[(kv[:, i, 0], kv[:, i, 1]) for i in range(self.n_layer)])

    def _logits(self, ids: torch.Tensor, mask: torch.Tensor, z0: torch.Tensor, cache) -> torch.Tensor:
        wte = self.decoder.get_input_embeddings()
        emb = wte(ids) + self.latent_to_embedding(z0)[:, None]  # (B, L, H)
        past = cache.get_seq_length()
        attn = torch.cat([mask.new_ones(mask.shape[0], past), mask], dim=1)  # (B, P + L)
        out = self.decoder(inputs_embeds=emb, attention_mask=attn, cache=cache, use_cache=True)
        return out.logits

    def reconstruction_loss(self, batch: dict[str, torch.Tensor], z0: torch.Tensor) -> torch.Tensor:
        """Token cross-entropy of <bos> x <eos> given z0, mean over each example's tokens: (B,)."""
        ids, mask = batch["dec_ids"], batch["dec_mask"]
        logits = self._logits(ids, mask, z0, self._memory(z0))  # (B, L, V)
        ce = nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2).float(), ids[:, 1:], reduction="none"
        )  # (B, L-1)
        return masked_mean(ce, mask[:, 1:])

    @torch.no_grad()
    def decode(
        self,
        z0: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_length: int | None = None,
    ) -> list[str]:
        """Decode (B, D) latents to B strings with a cached loop.

        ``temperature`` 0 is greedy; above 0 samples with nucleus filtering at ``top_p``.
        """
        B = z0.shape[0]
        steps = min(max_length or self.config.max_length, self.config.max_length) - 1
        cache = self._memory(z0)
        token = torch.full((B, 1), self.bos_id, dtype=torch.long, device=z0.device)
        mask = torch.ones((B, 1), dtype=torch.long, device=z0.device)
        done = torch.zeros(B, dtype=torch.bool, device=z0.device)
        out: list[torch.Tensor] = []
        for _ in range(steps):
            logits = self._logits(token, mask[:, -1:], z0, cache)[:, -1].float()  # (B, V)
            nxt = choose_tokens(logits, temperature, top_p, generator)
            nxt = torch.where(done, torch.full_like(nxt, self.eos_id), nxt)
            out.append(nxt)
            done |= nxt == self.eos_id
            if bool(done.all()):
                break
            token = nxt[:, None]
        rows = torch.stack(out, dim=1).tolist() if out else [[] for _ in range(B)]
        texts = []
        for row in rows:
            row = row[: row.index(self.eos_id)] if self.eos_id in row else row
            texts.append(printable(self.tokenizer.decode(row, skip_special_tokens=True)))
        return texts

    # -- metrics and assets --------------------------------------------------------------------
    def reconstruction_metrics(self, references: Sequence[str], outputs: Sequence[str]) -> dict[str, float]:
        from models.metrics import corpus_bleu

        exact = sum(r == o for r, o in zip(references, outputs)) / max(len(references), 1)
        return {"bleu": corpus_bleu(outputs, references), "exact_match": exact}

    def save_assets(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(str(directory / "tokenizer"))
        if self.encoder_tokenizer is not self.tokenizer:
            self.encoder_tokenizer.save_pretrained(str(directory / "encoder_tokenizer"))


def build_text_codec(
    config: TextCodecConfig,
    latent_dim: int,
    texts: Sequence[str] | None = None,
    encoder_dir: Path | None = None,
    decoder_dir: Path | None = None,
    tokenizer_dir: Path | None = None,
) -> tuple[TextCodec, TextCodecConfig]:
    """Build a new text codec for training and return it with its completed config.

    The decoder tokenizer comes from ``decoder_dir`` or ``tokenizer_dir`` when given, otherwise
    byte-level BPE is trained on ``texts``. A pretrained encoder brings its own tokenizer.
    """
    from models.text.tokenizer import load_tokenizer, train_bpe

    if decoder_dir is not None:
        tokenizer = load_tokenizer(decoder_dir)
    elif tokenizer_dir is not None:
        tokenizer = load_tokenizer(tokenizer_dir)
    else:
        tokenizer = train_bpe(texts or [], config.vocab_size)
    if tokenizer.bos_token_id is None or tokenizer.eos_token_id is None:
        tok = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        if tok is None:
            raise UsageError("the decoder tokenizer defines neither bos nor eos tokens")
        tokenizer.bos_token, tokenizer.eos_token = tokenizer.convert_ids_to_tokens([tok, tok])

    encoder = decoder = encoder_tokenizer = None
    if encoder_dir is not None:
        encoder = load_pretrained(encoder_dir, causal=False)
        encoder_tokenizer = load_tokenizer(encoder_dir)
        enc_dict = encoder.config.to_dict()
    else:
        enc_dict = new_encoder_config(config, len(tokenizer))
    if decoder_dir is not None:
        decoder = load_pretrained(decoder_dir, causal=True)
        dec_dict = decoder.config.to_dict()
    else:
        dec_dict = new_decoder_config(config, tokenizer)
    config = dataclasses.replace(
        config,
        vocab_size=len(tokenizer),
        encoder=enc_dict,
        decoder=dec_dict,
        separate_encoder_tokenizer=encoder_tokenizer is not None,
    )
    codec = TextCodec(config, latent_dim, tokenizer, encoder_tokenizer, encoder, decoder)
    return codec, config


def load_text_codec(config: TextCodecConfig, latent_dim: int, directory: Path) -> TextCodec:
    """Rebuild a text codec (random weights) and its tokenizers from a checkpoint directory."""
    from models.text.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(directory / "tokenizer")
    encoder_tokenizer = (
        load_tokenizer(directory / "encoder_tokenizer") if config.separate_encoder_tokenizer else None
    )
    return TextCodec(config, latent_dim, tokenizer, encoder_tokenizer)
