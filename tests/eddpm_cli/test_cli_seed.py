"""The same --seed gives bit-identical training on CPU; another seed gives other weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from eddpm_cli.app import app

REVIEWS = Path(__file__).parents[2] / "examples" / "reviews.txt"


def _train(out: Path, seed: int) -> dict[str, torch.Tensor]:
    args = ["train", "--data", str(REVIEWS), "--labels", "--preset", "tiny", "--max-steps", "4",
            "--seed", str(seed), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return load_file(str(out / "model.safetensors"))


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    a = _train(tmp_path / "a", seed=3)
    b = _train(tmp_path / "b", seed=3)
    c = _train(tmp_path / "c", seed=4)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


# Each inference command, with sampled decoding where it has any, so that the seed matters.
SAMPLED = ["--temperature", "0.8", "--seed", "7"]
COMMANDS = {
    "generate": ["generate", "-n", "4", "--sampler", "ddpm", "-k", "20", *SAMPLED],
    "encode": ["encode", "{texts}"],
    "reconstruct": ["reconstruct", "{texts}", *SAMPLED],
    "interpolate": ["interpolate", "the soup was warm .", "the room was quiet .", *SAMPLED],
    "edit": ["edit", "{texts}", "--toward", "positive", *SAMPLED],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_same_seed_gives_identical_output_run_after_run(
    command: str, tiny_text_model: Path, texts_file: Path
) -> None:
    args = [a.replace("{texts}", str(texts_file)) for a in COMMANDS[command]]
    args += ["-m", str(tiny_text_model)]

    first, second = (CliRunner().invoke(app, args) for _ in range(2))

    assert first.exit_code == 0, first.stderr
    assert first.stdout_bytes and first.stdout_bytes == second.stdout_bytes
