"""eddpm edit: one edited line per input toward a training label; label errors exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def unlabelled_model(cli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained without --labels (so it has no classifier head)."""
    root = tmp_path_factory.mktemp("unlabelled")
    data = root / "plain.txt"
    data.write_text("".join(f"review number {i} was fine .\n" for i in range(12)), encoding="utf-8")
    out = root / "run"
    cli.ok(cli("train", "--data", data, "--preset", "tiny", "--max-steps", 2, "--seed", 0, "--out", out))
    return out


@pytest.mark.parametrize("method", ["guidance", "mean"])
def test_one_line_per_input(cli, tiny_text_model: Path, texts_file: Path, method: str) -> None:
    result = cli.ok(cli("edit", texts_file, "--toward", "positive", "--method", method, "-k", 5,
                        "--model", tiny_text_model))

    assert len(cli.lines(result)) == 3


def test_unknown_label_lists_the_labels(cli, tiny_text_model: Path, texts_file: Path) -> None:
    result = cli("edit", texts_file, "--toward", "neutral", "--model", tiny_text_model)

    cli.usage_error(result, "'neutral'", "negative", "positive")


def test_model_without_labels_exits_2_with_hint(cli, unlabelled_model: Path, texts_file: Path) -> None:
    result = cli("edit", texts_file, "--toward", "positive", "--model", unlabelled_model)

    cli.usage_error(result)
    assert "hint:" in result.stderr and "--labels" in result.stderr
