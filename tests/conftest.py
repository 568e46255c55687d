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


def write_image_classes(root: Path, per_class: int = 10, size: int = 20, seed: int = 0) -> Path:
    """A folder of PNGs in two class sub-folders, ``root/red`` and ``root/blue``: noisy squares
    of that colour with a brighter vertical stripe at a random place. Returns ``root``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    colours = {"red": (200, 40, 40), "blue": (40, 40, 200)}
    for name, colour in colours.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (size, size, 3)), 0, 255)
            x = rng.integers(0, size - 4)
            pixels[:, x : x + 4] = np.clip(pixels[:, x : x + 4] + 50, 0, 255)
            Image.fromarray(pixels.astype(np.uint8), mode="RGB").save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of a tiny image model (16x16 pixels, D = 16) with a ``label`` classifier
    head over the classes ``blue`` and ``red``, trained once per session through the CLI on
    :func:`write_image_classes` data for a few steps.

    ``eddpm train --data DIR --preset tiny --max-steps 6``; the weights are barely trained, so
    tests check files, shapes, counts and determinism, not quality.
    """
    from typer.testing import CliRunner

    from eddpm_cli.app import app

    root = tmp_path_factory.mktemp("tiny_image")
    data = write_image_classes(root / "images")
    out = root / "run"
    args = [
        "train", "--data", str(data), "--preset", "tiny", "--max-steps", "6", "--out", str(out),
        "--seed", "0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"training the tiny image model failed:\n{result.stderr}"
    return out


@pytest.fixture(scope="session")
def image_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small folder like the tiny image model's training data: three PNGs in each of
    ``blue/`` and ``red/`` (:func:`write_image_classes`)."""
    return write_image_classes(tmp_path_factory.mktemp("image_classes") / "data", per_class=3)
