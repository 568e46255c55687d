"""Shared fixtures for the model-core tests: a tiny text EDDPM built as ``eddpm train`` does."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import pytest
import torch

TINY_TEXTS = [
    "the soup was warm and the bread was fresh",
    "service was slow but the staff were kind",
    "great coffee , terrible parking",
    "i would come back for the noodles",
    "the room was clean and quiet",
    "too salty for my taste",
    "friendly owner and fair prices",
    "the cake was dry",
]


def build_tiny_text_model(
    seed: int = 0, texts: list[str] | None = None, **sections: Any
):
    """A tiny text EDDPM (preset ``text/tiny``) with a BPE tokenizer trained on ``texts``.

    Args:
        seed: torch seed set before the weights are initialised.
        texts: training strings for the tokenizer (``TINY_TEXTS`` when None).
        **sections: field overrides per config section, e.g. ``prior={"latent_dim": 8}``,
            ``objective={...}``, or ``heads=(HeadConfig(...),)``.

    Returns:
        (model, train_config): the EDDPM in train mode and the preset's TrainConfig.
    """
    from models import config as cfg
    from models.autoencoder import EDDPM
    from models.text.codec import build_text_codec

    model_cfg, train_cfg = cfg.preset("text", "tiny")
    replaced: dict[str, Any] = {}
    for name, values in sections.items():
        if name == "heads":
            replaced["heads"] = values
        else:
            replaced[name] = dataclasses.replace(getattr(model_cfg, name), **values)
    model_cfg = dataclasses.replace(model_cfg, **replaced)
    torch.manual_seed(seed)
    codec, codec_cfg = build_text_codec(
        model_cfg.codec, model_cfg.prior.latent_dim, texts or TINY_TEXTS
    )
    model_cfg = dataclasses.replace(model_cfg, codec=codec_cfg)
    return EDDPM(model_cfg, codec), train_cfg


@pytest.fixture
def make_tiny_text_model() -> Callable[..., Any]:
    """Factory fixture: ``make_tiny_text_model(seed=0, **sections) -> (model, train_config)``."""
    return build_tiny_text_model


@pytest.fixture
def tiny_texts() -> list[str]:
    return list(TINY_TEXTS)


TINY_PROTEINS = ["MKVLAAGIW", "MKVLA", "ACDEFGHIKLMNPQRSTVWYX", "WWYYWWYY"]


def build_tiny_protein_model(seed: int = 0, sequences: list[str] | None = None, heads: tuple = ()):
    """A tiny protein EDDPM (preset ``protein/tiny``) whose length L fits ``sequences``.

    Returns:
        (model, train_config): the EDDPM in train mode and the preset's TrainConfig.
    """
    from models import config as cfg
    from models.autoencoder import EDDPM
    from models.codecs import build_codec

    model_cfg, train_cfg = cfg.preset("protein", "tiny")
    model_cfg = dataclasses.replace(model_cfg, heads=tuple(heads))
    torch.manual_seed(seed)
    codec, codec_cfg = build_codec(model_cfg, sequences or TINY_PROTEINS)
    return EDDPM(dataclasses.replace(model_cfg, codec=codec_cfg), codec), train_cfg


@pytest.fixture
def make_tiny_protein_model() -> Callable[..., Any]:
    """Factory fixture: ``make_tiny_protein_model(seed=0, sequences=None, heads=()) -> (model,
    train_config)``."""
    return build_tiny_protein_model


@pytest.fixture
def tiny_proteins() -> list[str]:
    return list(TINY_PROTEINS)
