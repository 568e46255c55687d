"""Numeric options and output paths that no run can use are refused before any work (exit 2).

Also checks that files eddpm writes get the usual permissions of the user's umask, so a run
directory or an embeddings file can be shared like any other file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (["--lr", "nan"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--max-steps", "-3"], "--max-steps"),
        (["--ema", "1.5"], "--ema"),
        (["--max-minutes", "-1"], "--max-minutes"),
    ],
)
def test_train_refuses_impossible_values_before_writing(cli, texts_file, tmp_path, option,
                                                        fragment):
    out = tmp_path / "run"
    result = cli("train", "--data", texts_file, "--preset", "tiny", "--out", out, *option)
    cli.usage_error(result, fragment)
    assert not out.exists(), "a refused run must not leave a run directory behind"


def test_train_config_file_values_are_checked_too(cli, texts_file, tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"train": {"batch_size": 0}}), encoding="utf-8")
    result = cli("train", "--data", texts_file, "--preset", "tiny", "--config", config,
                 "--out", tmp_path / "run")
    cli.usage_error(result, "train.batch_size")


def test_train_out_that_is_a_file_exits_2(cli, texts_file, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n", encoding="utf-8")
    result = cli("train", "--data", texts_file, "--preset", "tiny", "--out", target, "--force")
    cli.usage_error(result, "is a file")
    assert target.read_text(encoding="utf-8") == "keep me\n"


def test_encode_output_that_is_a_directory_exits_2(cli, tiny_text_model, texts_file, tmp_path):
    result = cli("encode", texts_file, "--model", tiny_text_model, "-o", tmp_path)
    cli.usage_error(result, "is a directory")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_edit_refuses_non_finite_strength(cli, tiny_text_model, texts_file, value):
    result = cli("edit", texts_file, "--model", tiny_text_model, "--toward", "positive",
                 "--strength", value)
    cli.usage_error(result, "--strength", "finite")


@pytest.mark.parametrize(("option", "value"), [("--start", "inf"), ("--temperature", "nan"),
                                               ("--top-p", "nan")])
def test_non_finite_sampling_options_exit_2(cli, tiny_text_model, texts_file, option, value):
    # Range-checked options are refused by the parser (its message is reformatted by main()).
    result = cli("edit", texts_file, "--model", tiny_text_model, "--toward", "positive",
                 option, value)
    assert result.exit_code == 2, result.stderr
    assert result.stdout_bytes == b""
    assert option in result.stderr


def test_written_files_follow_the_umask(cli, tiny_text_model, texts_file, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "emb.npy"
        cli.ok(cli("encode", texts_file, "--model", tiny_text_model, "-o", out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_run_directory_is_readable_by_others(tiny_text_model: Path):
    # The session's tiny run was written under the test process's umask (0022 in CI).
    umask = os.umask(0)
    os.umask(umask)
    for path in [tiny_text_model / "model.safetensors", tiny_text_model / "trainer"]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, f"{path}: {oct(mode)} != {oct(expected)}"
