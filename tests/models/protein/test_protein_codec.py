"""Tests for models/protein/codec.py and the protein model end to end: shapes, padding and
cropping, the masked loss, decoding, regression heads, guided editing and checkpoints."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from models import checkpoint as ckpt
from models import inference
from models.config import HeadConfig
from models.data.formats import RawInput
from models.errors import UsageError
from models.protein.alphabet import PAD_ID
from models.protein.data import ProteinOptions, protein_dataset, read_proteins
from models.training import Dataset, Trainer, regression_heads

FITNESS = HeadConfig(name="fitness", kind="regression", mean=2.0, std=0.5)


def test_length_is_fitted_to_the_data_and_capped(make_tiny_protein_model, tiny_proteins) -> None:
    model, _ = make_tiny_protein_model(sequences=tiny_proteins)
    capped, _ = make_tiny_protein_model(sequences=["A" * 500])

    assert model.config.codec.max_length == 21
    assert capped.config.codec.max_length == 64  # the tiny preset's cap


def test_collate_pads_and_crops_to_l(make_tiny_protein_model) -> None:
    model, _ = make_tiny_protein_model(sequences=["MKVL"])

    batch = model.collate(["MK", "MKVLAAAA"])

    assert batch["ids"].shape == (2, 4)
    assert batch["ids"][0, 2:].tolist() == [PAD_ID, PAD_ID]
    assert batch["mask"].sum(1).tolist() == [2, 4]
    assert model.codec.truncation_note(["MK", "MKVLA", "MKVLAA"]) == (
        "2 of 3 sequence(s) are longer than the model's 4 residues and were cropped to their first 4"
    )
    assert model.codec.truncation_note(["MK"]) is None


def test_encoding_ignores_padding_and_batch_company(make_tiny_protein_model, tiny_proteins) -> None:
    model, _ = make_tiny_protein_model(sequences=tiny_proteins)
    model.eval()

    alone = inference.encode(model, ["MKVLA"])
    together = inference.encode(model, ["MKVLA", "ACDEFGHIKLMNPQRSTVWYX", "MKVLA"], batch_size=3)

    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    np.testing.assert_array_equal(together[0], together[2])


def test_loss_scores_residues_and_the_end_pad_only(make_tiny_protein_model) -> None:
    model, _ = make_tiny_protein_model(sequences=["MKVLAA"])
    model.eval()
    batch = model.collate(["MKV", "MKVLAA"])
    z0 = torch.randn(2, model.config.prior.latent_dim)
    logits = model.codec.logits(z0)
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["ids"], reduction="none")

    loss = model.codec.reconstruction_loss(batch, z0)

    assert loss.shape == (2,)
    torch.testing.assert_close(loss[0], ce[0, :4].mean())  # 3 residues + the end <pad>
    torch.testing.assert_close(loss[1], ce[1].mean())  # full length: no end <pad>


def test_decode_is_never_empty_and_respects_max_length(make_tiny_protein_model, tiny_proteins) -> None:
    model, _ = make_tiny_protein_model(sequences=tiny_proteins)
    model.eval()
    with torch.no_grad():
        model.codec.to_logits.bias[PAD_ID] = 100.0  # every position prefers <pad>

    z0 = torch.randn(3, model.config.prior.latent_dim)
    out = model.decode(z0)
    sampled = model.decode(z0, generator=torch.Generator().manual_seed(0), temperature=1.0, max_length=2)

    assert all(len(s) == 1 for s in out)
    assert all(1 <= len(s) <= 2 for s in sampled)


def test_identity_metric(make_tiny_protein_model) -> None:
    model, _ = make_tiny_protein_model(sequences=["MKVL"])

    scores = model.codec.reconstruction_metrics(["MKVL", "AAAA"], ["MKVA", "AAAA"])

    assert scores == {"identity": pytest.approx(0.875), "exact_match": 0.5}


def test_regression_head_standardises_targets_and_predicts_original_units(make_tiny_protein_model) -> None:
    model, _ = make_tiny_protein_model(heads=(FITNESS,))
    head = model.heads["fitness"]
    z = torch.randn(4, model.config.prior.latent_dim)
    target = torch.tensor([1.0, 2.5, float("nan"), 3.0])

    standardised = (target[[0, 1, 3]] - 2.0) / 0.5
    expected = torch.nn.functional.mse_loss(head(z)[[0, 1, 3]], standardised)

    torch.testing.assert_close(head.loss(z, target), expected)
    torch.testing.assert_close(head.predict(z), head(z) * 0.5 + 2.0)


def test_regression_heads_from_the_training_split() -> None:
    data = Dataset(["A", "B", "C"], {"y": torch.tensor([1.0, 3.0, float("nan")]),
                                     "flat": torch.tensor([2.0, 2.0, 2.0])})

    y, flat = regression_heads(data, ["y", "flat"])

    assert (y.kind, y.mean, y.std) == ("regression", 2.0, 1.0)
    assert (flat.mean, flat.std) == (2.0, 1.0)
    with pytest.raises(UsageError, match="cannot name a prediction head"):
        regression_heads(Dataset(["A"], {"a.b": torch.ones(1)}), ["a.b"])


def test_several_heads_train_jointly(make_tiny_protein_model, tmp_path) -> None:
    raw = RawInput(
        b"sequence,a,b\n" + b"".join(f"{'MKVW'[:1 + i % 4]}AC,{i},{-i}\n".encode() for i in range(8)),
        "t.csv", "csv",
    )
    data, names, _ = protein_dataset([read_proteins(raw, ProteinOptions(label_columns=("a", "b")))])
    heads = regression_heads(data, names)
    model, train_cfg = make_tiny_protein_model(sequences=data.examples, heads=heads)
    config = dataclasses.replace(train_cfg, batch_size=4, max_steps=2, eval_every=2, save_every=2,
                                 bleu_examples=2)

    val = Trainer(model, config, tmp_path, data, data.subset([0, 1]), progress=False).fit()

    assert {"head_a", "head_b", "recon_identity", "recon_exact_match"} <= set(val)
    assert all(math.isfinite(v) for v in val.values() if isinstance(v, float))


def test_guidance_moves_the_head_prediction(make_tiny_protein_model, tiny_proteins) -> None:
    model, _ = make_tiny_protein_model(heads=(FITNESS,))
    model.eval()
    mu = torch.as_tensor(inference.encode(model, tiny_proteins))
    head = model.heads["fitness"]

    def edited(**goal):
        objective = inference.value_objective(model, **goal)
        z = inference.guided_latents(model, mu, objective, strength=1.0, steps=10, start=0.2)
        return head.predict(z).detach()

    plain = head.predict(inference.guided_latents(model, mu, lambda z: z.sum(1) * 0, 0.0, 10, 0.2))
    assert bool((edited(toward="high") > plain).all())
    assert bool((edited(toward="low") < plain).all())
    far = torch.full_like(plain, 10.0)
    assert bool(((edited(target=10.0) - far).abs() < (plain - far).abs()).all())


def test_value_objective_errors(make_tiny_protein_model) -> None:
    model, _ = make_tiny_protein_model(heads=(FITNESS,))

    for goal, message in [({}, "exactly one"), ({"toward": "high", "target": 1.0}, "exactly one"),
                          ({"toward": "up"}, "high or low"), ({"head": "x", "toward": "high"}, "no head named")]:
        with pytest.raises(UsageError, match=message):
            inference.value_objective(model, **goal)


def test_partial_inversion_round_trip_with_an_exact_noise_oracle(make_tiny_protein_model) -> None:
    from models.prior import sampling

    model, _ = make_tiny_protein_model()
    z0 = torch.randn(3, model.config.prior.latent_dim, dtype=torch.float64)
    abar = model.schedule.alphas_cumprod.double()

    def oracle(z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = abar[t][:, None]
        return (z_t - a.sqrt() * z0) / (1 - a).sqrt()

    z_t = sampling.ddim_invert(oracle, z0, model.config.prior, 50, until=199)
    back = sampling.sample_ddim(oracle, z_t, model.config.prior, 50, start=199)

    assert not torch.allclose(z_t, z0)
    torch.testing.assert_close(back, z0, atol=1e-6, rtol=0)


def test_checkpoint_round_trip(make_tiny_protein_model, tiny_proteins, tmp_path) -> None:
    model, _ = make_tiny_protein_model(heads=(FITNESS,))
    model.eval()
    ckpt.save_model_dir(model, tmp_path)

    loaded = ckpt.load_model(tmp_path)

    assert loaded.config == model.config
    np.testing.assert_array_equal(inference.encode(loaded, tiny_proteins), inference.encode(model, tiny_proteins))
    assert inference.generate(loaded, 3, steps=5) == inference.generate(model, 3, steps=5)
