"""Tests for models/training.py: the Trainer's outputs, exact resume and failure handling."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from models import checkpoint as ckpt
from models.errors import NonFiniteLossError, UsageError
from models.training import Dataset, Trainer, check_mixed_precision, split_dataset


def make_trainer(model, train_cfg, run_dir: Path, texts: list[str], val: list[str] = (), **options):
    """A Trainer over ``texts`` with 2 batches of 4 per epoch and no progress bar."""
    settings = dict(
        batch_size=4, max_steps=6, warmup_steps=2, save_every=3, eval_every=6, bleu_examples=2,
        seed=0,
    )
    config = dataclasses.replace(train_cfg, **{**settings, **options})
    run_dir.mkdir(parents=True, exist_ok=True)
    return Trainer(model, config, run_dir, Dataset(list(texts)), Dataset(list(val)), progress=False)


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_fit_writes_metrics_trainer_state_and_weights(make_tiny_text_model, tiny_texts, tmp_path):
    model, train_cfg = make_tiny_text_model(seed=0)
    logged = []
    trainer = make_trainer(model, train_cfg, tmp_path, tiny_texts, val=tiny_texts[:2])
    trainer.on_log = logged.append

    last_val = trainer.fit()

    assert trainer.step == 6
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == logged
    train_rows = [r for r in rows if r["split"] == "train"]
    val_rows = [r for r in rows if r["split"] == "val"]
    assert [r["step"] for r in train_rows] == [6]
    # align is logged in training only when some t = 1 was drawn; validation always has it.
    assert {"loss", "rec", "diff", "simple", "lr", "elapsed_s"} <= set(train_rows[0])
    assert [r["step"] for r in val_rows] == [6]
    assert last_val == val_rows[0]
    assert {"loss", "rec", "diff", "align", "recon_bleu", "recon_exact_match"} <= set(last_val)
    assert all(math.isfinite(v) for k, v in last_val.items() if isinstance(v, float))
    assert sorted(p.name for p in (tmp_path / "trainer").iterdir()) == [
        "state.json", "state.safetensors"
    ]
    assert ckpt.load_state(tmp_path / "trainer")["step"] == 6
    stored = load_file(str(tmp_path / ckpt.WEIGHTS_NAME))
    for name, tensor in stored.items():
        assert torch.equal(tensor, model.state_dict()[name]), name


def test_training_changes_the_weights(make_tiny_text_model, tiny_texts, tmp_path):
    model, train_cfg = make_tiny_text_model(seed=0)
    before = weights(model)

    make_trainer(model, train_cfg, tmp_path, tiny_texts, max_steps=2).fit()

    after = model.state_dict()
    assert not torch.equal(before["denoiser.output.weight"], after["denoiser.output.weight"])
    assert not torch.equal(before["codec.to_latent.weight"], after["codec.to_latent.weight"])


def interrupt_during_step(trainer: Trainer, step: int, times: int = 1) -> None:
    """Send this process SIGINT ``times`` times (10 ms apart) as ``trainer`` starts ``step``."""
    train_step = trainer._train_step

    def interrupted(index):
        if trainer.step == step - 1:
            for i in range(times):
                time.sleep(0.01 if i else 0.0)
                os.kill(os.getpid(), signal.SIGINT)
        return train_step(index)

    trainer._train_step = interrupted


def test_resume_from_step_3_matches_an_uninterrupted_run(
    make_tiny_text_model, tiny_texts, tmp_path
):
    model_a, train_cfg = make_tiny_text_model(seed=0)
    make_trainer(model_a, train_cfg, tmp_path / "a", tiny_texts).fit()

    # Run B: the same run, stopped by a Ctrl-C that arrives during step 3: the step finishes,
    # a checkpoint is written (mid-epoch: batch 2 of 2 of epoch 1 is next), and the run stops
    # with its LR schedule still spanning 6 steps.
    model_b, _ = make_tiny_text_model(seed=0)
    trainer_b = make_trainer(model_b, train_cfg, tmp_path / "b", tiny_texts)
    interrupt_during_step(trainer_b, 3)
    with pytest.raises(KeyboardInterrupt):
        trainer_b.fit()
    state = ckpt.load_state(tmp_path / "b" / "trainer")
    assert state["step"] == 3
    assert state["scheduler"]["last_epoch"] == 3
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {3}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    # A new process: other initial weights and RNG state, all restored from B's checkpoint.
    model_c, _ = make_tiny_text_model(seed=5)
    torch.manual_seed(99)
    trainer_c = make_trainer(model_c, train_cfg, tmp_path / "b", tiny_texts)
    trainer_c.resume()
    assert (trainer_c.step, trainer_c.epoch, trainer_c.batch_in_epoch) == (3, 1, 1)
    trainer_c.fit()

    assert trainer_c.step == 6
    final_a, final_c = model_a.state_dict(), model_c.state_dict()
    assert final_a.keys() == final_c.keys()
    for name in final_a:
        assert torch.equal(final_a[name], final_c[name]), name
    assert load_file(str(tmp_path / "a" / ckpt.WEIGHTS_NAME)).keys() == load_file(
        str(tmp_path / "b" / ckpt.WEIGHTS_NAME)
    ).keys()


def test_a_run_ending_inside_an_epoch_keeps_its_place_in_it(
    make_tiny_text_model, tiny_texts, tmp_path
):
    """--max-steps reached inside an epoch: the checkpoint points at the next batch of that
    epoch (it used to point at the start of the next epoch, so `--resume --max-steps N` skipped
    the rest of the epoch)."""
    model, train_cfg = make_tiny_text_model(seed=0)
    make_trainer(model, train_cfg, tmp_path / "r", tiny_texts, max_steps=3, save_every=5).fit()

    state = ckpt.load_state(tmp_path / "r" / "trainer")
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (3, 1, 1)


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(
    make_tiny_text_model, tiny_texts, tmp_path
):
    model, train_cfg = make_tiny_text_model(seed=0)
    trainer = make_trainer(model, train_cfg, tmp_path, tiny_texts, save_every=2)
    loss_terms = model.loss_terms
    seen: dict[str, bytes] = {}
    calls = []

    def nan_at_step_3(batch):
        out = loss_terms(batch)
        calls.append(trainer.step + 1)
        if trainer.step + 1 == 3:
            seen["weights"] = (tmp_path / ckpt.WEIGHTS_NAME).read_bytes()
            out["loss"] = out["loss"] * float("nan")
        return out

    model.loss_terms = nan_at_step_3  # forward() calls self.loss_terms

    with pytest.raises(NonFiniteLossError, match="step 3") as info:
        trainer.fit()

    assert "checkpoint from step 2 is intact" in str(info.value)
    assert calls == [1, 2, 3]
    weights_path = tmp_path / ckpt.WEIGHTS_NAME
    assert weights_path.read_bytes() == seen["weights"]
    stored = load_file(str(weights_path))
    assert all(bool(torch.isfinite(t).all()) for t in stored.values())
    assert ckpt.load_state(tmp_path / "trainer")["step"] == 2
    # The model itself was not stepped with the NaN loss either.
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is allowed where CUDA exists")
def test_fp16_without_cuda_raises_usage_error(make_tiny_text_model, tiny_texts, tmp_path):
    with pytest.raises(UsageError, match="fp16") as info:
        check_mixed_precision("fp16")
    assert info.value.hint and "bf16" in info.value.hint

    model, train_cfg = make_tiny_text_model(seed=0)
    with pytest.raises(UsageError, match="fp16"):
        make_trainer(model, train_cfg, tmp_path, tiny_texts, mixed_precision="fp16")


def test_check_mixed_precision_accepts_no_and_bf16_and_rejects_unknown():
    check_mixed_precision("no")
    check_mixed_precision("bf16")
    with pytest.raises(UsageError, match="fp8"):
        check_mixed_precision("fp8")


def test_split_dataset_is_seeded_and_disjoint():
    data = Dataset([f"line {i}" for i in range(40)], {"label": torch.arange(40) % 2})

    train, val = split_dataset(data, 0.25, 1000, seed=3)
    again, _ = split_dataset(data, 0.25, 1000, seed=3)

    assert len(val) == 10 and len(train) == 30
    assert set(train.examples).isdisjoint(val.examples)
    assert train.examples == again.examples
    for part in (train, val):
        expected = torch.tensor([int(e.split()[1]) % 2 for e in part.examples])
        assert torch.equal(part.targets["label"], expected)


def test_resume_with_another_batch_size_goes_on_from_the_same_example(
    make_tiny_text_model, tiny_texts, tmp_path, caplog
) -> None:
    """The data position is kept in examples: 1 step of 4 examples, resumed with batches of 2,
    goes on with the epoch's third example; with batches of 3, with its fourth (one seen again)."""
    model, train_cfg = make_tiny_text_model(seed=0)
    make_trainer(model, train_cfg, tmp_path / "run", tiny_texts, max_steps=1).fit()
    assert ckpt.load_state(tmp_path / "run" / "trainer")["examples_in_epoch"] == 4

    for batch_size, position, repeated in ((2, 2, ""), (3, 1, " (1 of them are seen again)")):
        resumed, _ = make_tiny_text_model(seed=0)
        trainer = make_trainer(resumed, train_cfg, tmp_path / "run", tiny_texts,
                               batch_size=batch_size)
        with caplog.at_level("WARNING", logger="models.training"):
            trainer.resume()
        assert (trainer.epoch, trainer.batch_in_epoch) == (0, position)
        assert f"goes on after its first {position * batch_size} examples{repeated}" in caplog.text
        caplog.clear()


def test_ctrl_c_during_a_save_waits_for_it_and_a_second_one_does_not(monkeypatch) -> None:
    """A checkpoint's two files are written as one: SIGINT (or SIGTERM) inside the block is
    raised after it; a second one is raised at once, unless it follows the first so closely that
    it is a launcher's copy of it."""
    from models import interrupts
    from models.interrupts import interrupts_deferred

    finished = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with pytest.raises(KeyboardInterrupt):
            with interrupts_deferred():
                os.kill(os.getpid(), signum)
                os.kill(os.getpid(), signum)  # torchrun passes a terminal's Ctrl-C on
                finished.append(True)  # still running after the first Ctrl-C
    assert finished == [True, True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    monkeypatch.setattr(interrupts, "REPEATED_SIGNAL_S", 0.0)
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(False)  # never reached
    assert finished == [True, True]


def test_a_second_ctrl_c_stops_at_once_without_saving(
    make_tiny_text_model, tiny_texts, tmp_path, monkeypatch
):
    from models import interrupts

    monkeypatch.setattr(interrupts, "REPEATED_SIGNAL_S", 0.0)
    model, train_cfg = make_tiny_text_model(seed=0)
    trainer = make_trainer(model, train_cfg, tmp_path / "run", tiny_texts)
    interrupt_during_step(trainer, 5, times=2)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert trainer.last_saved_step == 3  # the periodic checkpoint; step 5 was never finished
    assert ckpt.load_state(tmp_path / "run" / "trainer")["step"] == 3
