"""A short training run on real Yelp sentences improves reconstruction over the untrained model."""

from __future__ import annotations

import torch

from models import config as cfg
from models.autoencoder import EDDPM
from models.codec import to_device
from models.text.codec import build_text_codec
from models.training import Dataset, Trainer


def _rec_nll(model: EDDPM, texts: list[str]) -> float:
    """Mean token NLL of the texts given their deterministic latents mu (no noise)."""
    model.eval()
    with torch.no_grad():
        batch = to_device(model.collate(texts), "cpu")
        return float(model.codec.reconstruction_loss(batch, model.encode(batch)).mean())


def test_short_yelp_training_beats_untrained(shared_dir, tmp_path):
    lines = (shared_dir / "data" / "yelp_sentiment" / "sentiment.dev.1").read_text().splitlines()
    train, held_out = lines[:256], lines[256:320]
    torch.manual_seed(0)
    model_cfg, train_cfg = cfg.preset("text", "tiny")
    codec, codec_cfg = build_text_codec(model_cfg.codec, model_cfg.prior.latent_dim, train)
    model = EDDPM(model_cfg.__class__(**{**model_cfg.__dict__, "codec": codec_cfg}), codec)
    before_train, before_held = _rec_nll(model, train[:64]), _rec_nll(model, held_out)

    import dataclasses

    train_cfg = dataclasses.replace(train_cfg, max_steps=80, eval_every=1000, save_every=1000)
    Trainer(model, train_cfg, tmp_path, Dataset(train), Dataset([]), progress=False).fit()
    after_train, after_held = _rec_nll(model, train[:64]), _rec_nll(model, held_out)

    assert after_train < 0.8 * before_train
    assert after_held < 0.9 * before_held
