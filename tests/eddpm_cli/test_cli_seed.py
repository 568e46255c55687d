"""The same --seed gives bit-identical training on CPU; another seed gives other weights."""

from __future__ import annotations

from pathlib import Path

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
