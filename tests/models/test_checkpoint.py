"""Tests for models/checkpoint.py: self-describing model directories and resumable state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models import checkpoint as ckpt
from models.errors import CheckpointError


@pytest.fixture
def saved(make_tiny_text_model, tmp_path) -> tuple[torch.nn.Module, Path]:
    """A tiny text model (eval mode) and the checkpoint directory it was saved to."""
    model, _ = make_tiny_text_model(seed=0)
    model.eval()
    directory = tmp_path / "run"
    ckpt.save_model_dir(model, directory)
    return model, directory


def as_json(data):
    return json.loads(json.dumps(data))


def assert_names_path(error: pytest.ExceptionInfo, path: Path) -> None:
    assert str(path) in str(error.value), f"{path} not named in: {error.value}"


# -- save_model_dir / load_model -------------------------------------------------------------------
def test_save_model_dir_writes_config_weights_and_tokenizer(saved):
    model, directory = saved

    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer"
    ]
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    assert config["format_version"] == 1
    assert config["modality"] == "text"
    assert config["prior"]["latent_dim"] == model.config.prior.latent_dim
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_load_model_restores_identical_weights(saved):
    model, directory = saved

    loaded = ckpt.load_model(directory)

    # Compared as JSON: JSON turns tuples into lists and transformers' int id2label keys into str.
    assert as_json(loaded.config.to_dict()) == as_json(model.config.to_dict())
    assert loaded.config.prior == model.config.prior
    assert loaded.config.objective == model.config.objective
    assert not loaded.training
    expected, actual = model.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_tied_gpt2_weights_share_storage_after_load(saved):
    model, directory = saved

    loaded = ckpt.load_model(directory)

    for m in (model, loaded):
        decoder = m.codec.decoder
        assert decoder.lm_head.weight.data_ptr() == decoder.transformer.wte.weight.data_ptr()
    # Tied tensors are stored once in the file.
    stored = load_file(str(directory / "model.safetensors"))
    names = {"codec.decoder.lm_head.weight", "codec.decoder.transformer.wte.weight"}
    assert len(names & stored.keys()) == 1


def test_reloaded_model_decodes_latents_to_the_same_text(saved):
    model, directory = saved
    loaded = ckpt.load_model(directory)
    z0 = torch.randn(3, model.config.prior.latent_dim, generator=torch.Generator().manual_seed(4))

    original = model.decode(z0, max_length=12)
    reloaded = loaded.decode(z0, max_length=12)

    assert len(original) == 3
    assert reloaded == original


# -- load errors: each is a CheckpointError naming the path ----------------------------------------
def test_missing_directory_raises(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(CheckpointError) as info:
        ckpt.load_model(missing)

    assert_names_path(info, missing)
    assert info.value.hint


def test_directory_without_config_raises(tmp_path):
    with pytest.raises(CheckpointError, match="config.json") as info:
        ckpt.load_model(tmp_path)

    assert_names_path(info, tmp_path)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format_version": 99}'])
def test_unreadable_config_raises(saved, content):
    _, directory = saved
    (directory / "config.json").write_text(content, encoding="utf-8")

    with pytest.raises(CheckpointError) as info:
        ckpt.load_model(directory)

    assert_names_path(info, directory / "config.json")


def test_missing_weights_file_raises(saved):
    _, directory = saved
    (directory / "model.safetensors").unlink()

    with pytest.raises(CheckpointError, match="not found") as info:
        ckpt.load_model(directory)

    assert_names_path(info, directory / "model.safetensors")


@pytest.mark.parametrize("damage", ["empty", "truncated", "tail_cut", "garbage"])
def test_corrupt_weights_file_raises(saved, damage):
    _, directory = saved
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    damaged = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "tail_cut": data[:-8],
        "garbage": bytes(range(256)) * 4,
    }[damage]
    weights.write_bytes(damaged)

    with pytest.raises(CheckpointError, match="not a readable safetensors file") as info:
        ckpt.load_model(directory)

    assert_names_path(info, weights)


def test_weights_of_a_different_latent_width_raise_shape_mismatch(saved, make_tiny_text_model):
    model, directory = saved
    other, _ = make_tiny_text_model(seed=1, prior={"latent_dim": 8})
    ckpt.save_weights(other, directory / "model.safetensors")
    ours, theirs = model.state_dict(), other.state_dict()
    mismatched = {k for k in ours if k in theirs and ours[k].shape != theirs[k].shape}
    assert "denoiser.input.weight" in mismatched

    with pytest.raises(CheckpointError, match="shape mismatch") as info:
        ckpt.load_model(directory)

    message = str(info.value)
    assert_names_path(info, directory / "model.safetensors")
    named = [k for k in mismatched if f"{k} has shape" in message]
    assert named, message
    key = named[0]
    assert str(tuple(theirs[key].shape)) in message and str(tuple(ours[key].shape)) in message


def test_extra_key_in_weights_raises(saved):
    _, directory = saved
    weights = directory / "model.safetensors"
    tensors = load_file(str(weights))
    tensors["extra.weight"] = torch.zeros(2)
    save_file(tensors, str(weights))

    with pytest.raises(CheckpointError, match="unexpected keys extra.weight") as info:
        ckpt.load_model(directory)

    assert_names_path(info, weights)


def test_missing_key_in_weights_raises(saved):
    _, directory = saved
    weights = directory / "model.safetensors"
    tensors = load_file(str(weights))
    del tensors["denoiser.output.bias"]
    save_file(tensors, str(weights))

    with pytest.raises(CheckpointError, match="missing keys denoiser.output.bias") as info:
        ckpt.load_model(directory)

    assert_names_path(info, weights)


# -- save_weights ----------------------------------------------------------------------------------
def test_save_weights_refuses_nan_and_keeps_previous_file(saved):
    model, directory = saved
    weights = directory / "model.safetensors"
    before = weights.read_bytes()
    with torch.no_grad():
        model.denoiser.output.bias[0] = float("nan")

    with pytest.raises(CheckpointError, match="denoiser.output.bias") as info:
        ckpt.save_weights(model, weights)

    assert_names_path(info, weights)
    assert weights.read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == [
        "config.json", "model.safetensors", "tokenizer"
    ]


def test_atomic_path_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old", encoding="utf-8")

    with pytest.raises(RuntimeError):
        with ckpt.atomic_path(target) as tmp:
            tmp.write_text("new", encoding="utf-8")
            raise RuntimeError("boom")

    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


# -- optimizer / training state --------------------------------------------------------------------
def _normalise(obj):
    """Tuples become lists (JSON has no tuples); everything else unchanged."""
    if isinstance(obj, dict):
        return {k: _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    return obj


def assert_same_state(actual, expected, where: str = "state") -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), where
        assert actual.dtype == expected.dtype and torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), where
        for k in expected:
            assert_same_state(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_state(a, e, f"{where}.{i}")
    else:
        assert actual == expected and type(actual) is type(expected), where


def _adamw_after_steps(steps: int) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 1))
    decay = [net[0].weight, net[2].weight]
    no_decay = [net[0].bias, net[1].weight, net[1].bias, net[2].bias]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-2,
        betas=(0.9, 0.95),
    )
    x = torch.randn(8, 3)
    for _ in range(steps):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    return net, opt


def test_flatten_unflatten_round_trips_adamw_state_through_json():
    _, opt = _adamw_after_steps(2)
    state = opt.state_dict()

    tensors, skeleton = ckpt.flatten_state(state)
    skeleton = json.loads(json.dumps(skeleton))  # must be JSON-able, and survive JSON
    restored = ckpt.unflatten_state(skeleton, tensors)

    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    assert_same_state(restored, _normalise(state))


def test_restored_adamw_state_continues_identically():
    net_a, opt_a = _adamw_after_steps(2)
    tensors, skeleton = ckpt.flatten_state(opt_a.state_dict())
    # flatten_state may alias CPU tensors (it does not copy); on disk they would be separate.
    tensors = {k: v.clone() for k, v in tensors.items()}
    net_b, opt_b = _adamw_after_steps(0)
    net_b.load_state_dict(net_a.state_dict())
    opt_b.load_state_dict(ckpt.unflatten_state(json.loads(json.dumps(skeleton)), tensors))
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))

    for net, opt in ((net_a, opt_a), (net_b, opt_b)):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()

    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)


def test_save_state_load_state_round_trip(tmp_path):
    _, opt = _adamw_after_steps(1)
    state = {
        "model": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)},
        "optimizer": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": [],
        "ema": None,
        "step": 7,
        "name": "run",
        "lr": 1e-3,
        "flags": [True, False],
    }
    directory = tmp_path / "trainer"

    ckpt.save_state(directory, state)
    ckpt.save_state(directory, state)  # overwriting swaps in a whole new directory
    restored = ckpt.load_state(directory)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer"]
    assert sorted(p.name for p in directory.iterdir()) == ["state.json", "state.safetensors"]
    assert_same_state(restored, _normalise(state))
    assert restored["rng"].dtype == torch.uint8


def test_save_state_refuses_non_finite_tensors_and_keeps_previous(tmp_path):
    directory = tmp_path / "trainer"
    ckpt.save_state(directory, {"w": torch.ones(2), "step": 1})

    with pytest.raises(CheckpointError, match="non-finite"):
        ckpt.save_state(directory, {"w": torch.tensor([1.0, float("inf")]), "step": 2})

    assert ckpt.load_state(directory)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trainer"]


def test_load_state_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no resumable training state"):
        ckpt.load_state(tmp_path / "trainer")

    directory = tmp_path / "trainer"
    ckpt.save_state(directory, {"w": torch.ones(2)})
    (directory / "state.safetensors").write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError, match="corrupt training state") as info:
        ckpt.load_state(directory)
    assert_names_path(info, directory)


def test_remove_partial_writes_deletes_what_a_kill_leaves(tmp_path):
    from models.checkpoint import atomic_path, remove_partial_writes, save_state

    save_state(tmp_path / "trainer", {"step": 3, "w": torch.zeros(2)})
    (tmp_path / ".model.safetensors.abc.tmp").write_bytes(b"half")  # atomic_path's temporary
    (tmp_path / ".trainer.xyz").mkdir()  # save_state's temporary directory
    (tmp_path / ".trainer.xyz" / "state.safetensors").write_bytes(b"half")
    with atomic_path(tmp_path / "kept.json") as tmp:
        tmp.write_text("{}")

    remove_partial_writes(tmp_path, "trainer")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "trainer"]
