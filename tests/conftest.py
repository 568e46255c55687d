"""Shared fixtures: the ../shared data folder next to the checkout, and a tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach the network: transformers and huggingface_hub must use local files only.
os.environ["HF_HUB_OFFLINE"] = "1"

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder ``../shared`` next to the repository root (skips when absent)."""
    path = REPO_ROOT.parent / "shared"
    if not path.is_dir():
        pytest.skip(
            "../shared not found: real-data and case tests need the shared data folder "
            "next to the checkout"
        )
    return path


@pytest.fixture(scope="session")
def cases_dir(shared_dir: Path) -> Path:
    """The input and failure cases described in ``../shared/cases/README.md``."""
    return shared_dir / "cases"


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of a tiny labelled text model, trained once per session through the CLI.

    ``eddpm train --data examples/reviews.txt --labels --preset tiny --max-steps 30 --seed 0``;
    the weights are barely trained, so tests check shapes, counts and determinism, not quality.
    """
    from typer.testing import CliRunner

    from eddpm_cli.app import app

    out = tmp_path_factory.mktemp("tiny_text") / "run"
    args = [
        "train", "--data", str(REPO_ROOT / "examples" / "reviews.txt"), "--labels",
        "--preset", "tiny", "--max-steps", "30", "--out", str(out), "--seed", "0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"training the tiny model failed:\n{result.stderr}"
    return out


def write_fitness_csv(path: Path, n: int = 48, seed: int = 0) -> Path:
    """A synthetic ``sequence,fitness`` CSV: n random proteins of 30 to 50 residues (50 occurs
    when n > 20) whose fitness is the fraction of W and Y residues."""
    import random

    rng = random.Random(seed)
    rows = ["sequence,fitness"]
    for i in range(n):
        sequence = "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(30 + i % 21))
        rows.append(f"{sequence},{(sequence.count('W') + sequence.count('Y')) / len(sequence):.4f}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_protein_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of a tiny protein model with a ``fitness`` regression head, trained once per
    session through the CLI on :func:`write_fitness_csv` data (L = 50 residues, D = 8).

    ``eddpm train --data fitness.csv --label-column fitness --preset tiny --max-steps 20``; the
    weights are barely trained, so tests check formats, counts and determinism, not quality.
    """
    from typer.testing import CliRunner

    from eddpm_cli.app import app

    root = tmp_path_factory.mktemp("tiny_protein")
    data = write_fitness_csv(root / "fitness.csv")
    out = root / "run"
    args = [
        "train", "--data", str(data), "--label-column", "fitness", "--preset", "tiny",
        "--max-steps", "20", "--out", str(out), "--seed", "0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"training the tiny protein model failed:\n{result.stderr}"
    return out
