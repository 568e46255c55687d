"""eddpm predict: a TSV of ids and head predictions; regression values, class probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest


def _rows(result) -> list[list[str]]:
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_protein_regression_values(cli, tiny_protein_model: Path, cases_dir: Path) -> None:
    result = cli.ok(cli("predict", cases_dir / "C28_proteins.fasta", "--model", tiny_protein_model))

    rows = _rows(result)
    assert rows[0] == ["id", "fitness"]
    assert [r[0] for r in rows[1:]] == ["stdin_1", "stdin_2"]
    assert all(0 < float(r[1]) < 1 for r in rows[1:])  # the training targets lie in (0, 1)


def test_text_probabilities_or_argmax(cli, tiny_text_model: Path, texts_file: Path) -> None:
    probs = _rows(cli.ok(cli("predict", texts_file, "--model", tiny_text_model)))
    labels = _rows(cli.ok(cli("predict", texts_file, "--argmax", "--model", tiny_text_model)))

    assert probs[0] == ["id", "label:negative", "label:positive"]
    assert [r[0] for r in probs[1:]] == ["line1", "line2", "line3"]
    assert all(sum(float(p) for p in r[1:]) == pytest.approx(1.0, abs=1e-4) for r in probs[1:])
    assert labels[0] == ["id", "label"]
    assert all(r[1] in ("negative", "positive") for r in labels[1:])


def test_model_without_heads_exits_2(cli, cases_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cli.ok(cli("train", "--data", cases_dir / "C28_proteins.fasta", "--preset", "tiny",
               "--max-steps", 1, "--out", out))

    result = cli("predict", cases_dir / "C28_proteins.fasta", "--model", out)

    cli.usage_error(result, "no prediction head")
    assert "--label-column" in result.stderr
