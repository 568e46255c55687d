"""eddpm train: the run directory, overwrite and resume rules, precision checks, cases C05/C21/C23."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from .conftest import review_texts

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_data(tmp_path: Path) -> Path:
    """The first 24 reviews of examples/reviews.txt, text only (no labels)."""
    return review_texts(tmp_path / "small.txt", 24)


def _train(cli, data: Path, out: Path, *extra: object):
    return cli("train", "--data", data, "--preset", "tiny", "--max-steps", 2, "--seed", 0,
               "--out", out, *extra)


def test_run_directory_contents(tiny_text_model: Path) -> None:
    run = tiny_text_model

    for name in ("config.json", "model.safetensors", "run.json", "metrics.jsonl", "loss.png"):
        assert (run / name).is_file(), name
    assert any((run / "tokenizer").iterdir())
    assert (run / "loss.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    info = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert info["seed"] == 0
    assert len(info["data_fingerprint"]) == 64
    int(info["data_fingerprint"], 16)
    assert info["finished"][-1]["step"] == 30

    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines() if ln]
    assert rows and all("step" in r for r in rows)
    assert max(r["step"] for r in rows) <= 30

    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["heads"][0]["classes"] == ["negative", "positive"]


def test_prints_run_dir_on_stdout_and_force_overwrites(cli, small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old run\n")

    result = cli.ok(_train(cli, small_data, out, "--force"))

    assert result.stdout == f"{out}\n"
    assert not (out / "stale.txt").exists()
    assert (out / "model.safetensors").is_file()
    assert "training" in result.stderr


def test_existing_out_without_force_exits_2(cli, small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("keep me\n")

    result = _train(cli, small_data, out)

    cli.usage_error(result, str(out), "already exists")
    assert "--force" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal of fp16")
def test_fp16_on_cpu_exits_2_before_reading_data(cli, tmp_path: Path) -> None:
    missing = tmp_path / "does_not_exist.txt"
    out = tmp_path / "run"

    result = _train(cli, missing, out, "--mixed-precision", "fp16")

    line = cli.usage_error(result, "fp16", "CUDA")
    assert "does_not_exist" not in result.stderr  # the data was never opened
    assert "bf16" in result.stderr  # the hint names a precision that works
    assert "fp16" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("launch", "fragments"),
    [
        ({"ACCELERATE_USE_DEEPSPEED": "true"}, ("not DEEPSPEED",)),
        ({"ACCELERATE_USE_MEGATRON_LM": "true"}, ("not MEGATRON_LM",)),
        ({"ACCELERATE_USE_FSDP": "true"}, ("FSDP version 2 only", "FSDP 1")),
        ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
          "FSDP_AUTO_WRAP_POLICY": "SIZE_BASED_WRAP"}, ("SIZE_BASED_WRAP",)),
    ],
)
def test_unsupported_accelerate_config_exits_2_before_reading_data(
    cli, tmp_path: Path, monkeypatch, launch: dict, fragments: tuple
) -> None:
    """What ``accelerate launch --config_file`` sets for DeepSpeed, Megatron-LM, FSDP1 and a
    size-based FSDP wrap is refused before the data is opened or --out is made."""
    for name, value in launch.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"

    result = _train(cli, tmp_path / "does_not_exist.txt", out)

    cli.usage_error(result, *fragments)
    assert "does_not_exist" not in result.stderr
    assert "hint:" in result.stderr
    assert not out.exists()


def test_fsdp_layer_classes_the_model_lacks_exit_2_before_writing(
    cli, small_data: Path, tmp_path: Path, monkeypatch
) -> None:
    for name, value in {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
                        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
                        "FSDP_TRANSFORMER_CLS_TO_WRAP": "ResidualConvBlock,GPT2Block"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"

    result = _train(cli, small_data, out)

    cli.usage_error(result, "ResidualConvBlock", "text model")
    assert "GPT2Block" in result.stderr.split("hint:")[1]  # the classes it has
    assert not out.exists()


def test_resume_with_fsdp_layer_classes_the_model_lacks_exits_2(
    cli, small_data: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "run"
    cli.ok(_train(cli, small_data, out))
    for name, value in {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
                        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
                        "FSDP_TRANSFORMER_CLS_TO_WRAP": "BertLayer,Nope"}.items():
        monkeypatch.setenv(name, value)

    result = cli("train", "--resume", out, "--max-steps", 4)

    cli.usage_error(result, "Nope", "text model")
    assert "resuming" not in result.stderr


def test_stdin_under_a_multi_process_launch_exits_2(cli, tmp_path: Path, monkeypatch) -> None:
    """Each process of a launch would read part of one stdin: refused, naming the way out."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "run"

    result = cli("train", "--data", "-", "--preset", "tiny", "--out", out, input="a\nb\n")

    cli.usage_error(result, "stdin", "2 processes")
    assert "file" in result.stderr.split("hint:")[1]
    assert not out.exists()

    missing = cli("train", "--data", tmp_path / "nowhere.txt", "--preset", "tiny", "--out", out)

    cli.usage_error(missing, "nowhere.txt: no such file")
    assert "pass -" not in missing.stderr and "share" in missing.stderr


def test_fsdp2_transformer_wrap_is_accepted(cli, small_data: Path, tmp_path: Path, monkeypatch) -> None:
    """FSDP2 with a transformer-layer wrap passes the check; one process trains as usual
    (Accelerate shards only on GPUs: tests/models/test_distributed.py runs the sharded path)."""
    for name, value in {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2",
                        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
                        "FSDP_TRANSFORMER_CLS_TO_WRAP": "BertLayer,GPT2Block"}.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"

    result = cli.ok(_train(cli, small_data, out))

    assert result.stdout == f"{out}\n"
    assert (out / "model.safetensors").is_file()


def test_resume_continues_to_more_steps(cli, small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cli.ok(_train(cli, small_data, out))

    result = cli.ok(cli("train", "--resume", out, "--max-steps", 4))

    assert result.stdout == f"{out}\n"
    assert "resuming" in result.stderr and "step 2" in result.stderr
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [f["step"] for f in info["finished"]] == [2, 4]


@pytest.mark.parametrize(
    "option, value, stored",
    [("--preset", "base", "tiny"), ("--lr", "0.1", "0.002"), ("--seed", "5", "0")],
)
def test_resume_option_conflicting_with_the_run_names_both_values(
    cli, small_data: Path, tmp_path: Path, option: str, value: str, stored: str
) -> None:
    out = tmp_path / "run"
    cli.ok(_train(cli, small_data, out))
    before = sorted(p.name for p in out.iterdir())

    result = cli("train", "--resume", out, option, value, "--max-steps", 4)

    cli.usage_error(result, f"{option} {value}", f"stored value {stored}")
    assert sorted(p.name for p in out.iterdir()) == before


def test_resume_below_the_checkpoint_step_exits_2_and_keeps_the_run(
    cli, small_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cli.ok(_train(cli, small_data, out))
    before = (out / "run.json").read_bytes()

    metrics = (out / "metrics.jsonl").read_bytes()
    (out / ".metrics.jsonl.123.tmp").write_text("left by a killed writer")

    result = cli("train", "--resume", out, "--max-steps", 1)

    cli.usage_error(result, "--max-steps 1", "step 2")
    assert (out / "run.json").read_bytes() == before
    assert (out / "metrics.jsonl").read_bytes() == metrics
    assert (out / ".metrics.jsonl.123.tmp").exists()  # refused before the run was touched
    cli.ok(cli("train", "--resume", out, "--max-steps", 3))


def test_resume_with_other_data_exits_2(cli, small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cli.ok(_train(cli, small_data, out))
    other = tmp_path / "other.txt"
    other.write_text("a completely different line\n", encoding="utf-8")

    result = cli("train", "--resume", out, "--data", other, "--max-steps", 4)

    cli.usage_error(result, "fingerprint")


def test_c05_empty_file_exits_2(cli, cases_dir: Path, tmp_path: Path) -> None:
    data = cases_dir / "C05_empty.txt"
    out = tmp_path / "run"

    result = _train(cli, data, out)

    cli.usage_error(result, "no examples found in", "C05_empty.txt")
    assert not out.exists()


def test_c21_tied_weights_survive_the_save(cli, cases_dir: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    from models import inference
    from models.checkpoint import load_model

    out = tmp_path / "run"
    cli.ok(_train(cli, cases_dir / "C21_tiny.txt", out))
    weights = out / "model.safetensors"
    assert weights.is_file()

    decoder = load_model(out).codec.decoder
    assert decoder.lm_head.weight.data_ptr() == decoder.get_input_embeddings().weight.data_ptr()
    with safe_open(str(weights), framework="pt") as f:
        tied = [k for k in f.keys() if k.endswith(("lm_head.weight", "wte.weight"))]
    assert len(tied) == 1, tied  # stored once, not duplicated

    # The CLI, loading from disk, gives exactly what the reloaded model gives in memory.
    generated = cli.ok(cli("generate", "-n", 2, "--steps", 3, "--seed", 5, "--model", out))
    net = load_model(out)
    expected = inference.generate(net, 2, 3, "ddim", 5, 64, temperature=0.0, top_p=0.9, max_length=None)
    assert cli.lines(generated) == [re.sub(r"\r\n|\r|\n", " ", s) for s in expected]


def test_c24_absurd_learning_rate_stops_at_the_first_non_finite_loss(
    cli, cases_dir: Path, tmp_path: Path
) -> None:
    """C24 through the CLI: ``--lr 1e6`` turns the loss NaN at step 3 (seed 0); training stops
    there with exit 3, one error line naming the step, and no checkpoint holding NaN."""
    out = tmp_path / "run"

    result = cli("train", "--data", cases_dir / "C21_tiny.txt", "--preset", "tiny", "--lr", "1e6",
                 "--max-steps", 40, "--seed", 0, "--out", out)

    assert result.exit_code == 3, result.stderr
    assert result.stdout == ""
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("eddpm: error:")]
    assert len(errors) == 1 and "non-finite" in errors[0] and re.search(r"step \d+", errors[0])
    assert not (out / "model.safetensors").exists() and not (out / "trainer").exists()


def test_ema_run_stores_the_class_means_of_its_saved_weights(cli, tmp_path: Path) -> None:
    """With EMA on, the saved weights are the average and the class means are computed with
    them (the average once overwrote the means with zeros, so `edit` refused these runs)."""
    from safetensors.torch import load_file

    from models.checkpoint import load_model
    from models.data.datasets import text_dataset
    from models.data.formats import open_input
    from models.training import class_means

    out = tmp_path / "run"
    data = REPO_ROOT / "examples" / "reviews.txt"
    cli.ok(cli("train", "--data", data, "--labels", "--preset", "tiny", "--max-steps", 6,
               "--ema", 0.5, "--seed", 0, "--out", out))

    stored = load_file(str(out / "model.safetensors"))["class_means"]
    assert stored.abs().sum() > 0
    model = load_model(out)
    dataset = text_dataset([open_input(data)], labels=True)[0]
    expected = class_means(model, dataset, "label", 16)
    # the run computed them on its training split (the validation part held out): close, not equal
    assert torch.nn.functional.cosine_similarity(stored, expected).min() > 0.9
    source = tmp_path / "in.txt"
    source.write_text("the food was cold .\n", encoding="utf-8")
    cli.ok(cli("edit", source, "-m", out, "--toward", "positive", "--method", "mean"))
