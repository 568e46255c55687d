"""eddpm encode: float32 (N, D) arrays on stdout or in a file, deterministic, cases C05-C28."""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EDDPM = Path(sys.executable).with_name("eddpm")


def _array(result) -> np.ndarray:
    assert result.stdout_bytes.startswith(b"\x93NUMPY")
    return np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False)


def test_npy_on_stdout(cli, tiny_text_model: Path, texts_file: Path, latent_dim: int) -> None:
    result = cli.ok(cli("encode", texts_file, "--model", tiny_text_model))

    latents = _array(result)
    assert latents.shape == (3, latent_dim)
    assert latents.dtype == np.float32
    assert np.isfinite(latents).all()


def test_verbose_keeps_stdout_pure(cli, tiny_text_model: Path, texts_file: Path) -> None:
    plain = cli.ok(cli("encode", texts_file, "--model", tiny_text_model))
    verbose = cli.ok(cli("-v", "encode", texts_file, "--model", tiny_text_model))

    assert verbose.stdout_bytes == plain.stdout_bytes


def test_npz_file_with_ids(cli, tiny_text_model: Path, texts_file: Path, tmp_path: Path,
                           latent_dim: int) -> None:
    out = tmp_path / "emb.npz"

    result = cli.ok(cli("encode", texts_file, "-o", out, "--model", tiny_text_model))

    assert result.stdout_bytes == b""
    with np.load(out, allow_pickle=False) as data:
        assert data["latents"].shape == (3, latent_dim)
        assert data["latents"].dtype == np.float32
        assert len(data["ids"]) == 3
        assert len(set(data["ids"].tolist())) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["emb.npz", "texts.txt"])


def test_npy_file_equals_stdout(cli, tiny_text_model: Path, texts_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.npy"

    to_file = cli.ok(cli("encode", texts_file, "-o", out, "--model", tiny_text_model))
    to_stdout = cli.ok(cli("encode", texts_file, "--model", tiny_text_model))

    assert to_file.stdout_bytes == b""
    assert out.read_bytes() == to_stdout.stdout_bytes


def test_deterministic_run_to_run(cli, tiny_text_model: Path, texts_file: Path) -> None:
    first = cli.ok(cli("encode", texts_file, "--model", tiny_text_model))
    second = cli.ok(cli("encode", texts_file, "--model", tiny_text_model))

    assert first.stdout_bytes == second.stdout_bytes


def test_repeated_inputs_give_bit_identical_rows(cli, tiny_text_model: Path,
                                                 sample_texts: list[str], tmp_path: Path) -> None:
    # Copies at different batch positions (and in different batches) must not differ in the
    # last bits; the file mixes them with other lines of other lengths.
    lines = [sample_texts[0]] * 7 + sample_texts[1:] + [sample_texts[0]] * 5
    source = tmp_path / "repeats.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    rows = _array(cli.ok(cli("encode", source, "--batch-size", 4, "--model", tiny_text_model)))

    assert rows.shape[0] == len(lines)
    for i, line in enumerate(lines):
        if line == sample_texts[0]:
            np.testing.assert_array_equal(rows[i], rows[0])


def test_rows_follow_input_order(cli, tiny_text_model: Path, sample_texts: list[str],
                                 tmp_path: Path) -> None:
    forward = tmp_path / "forward.txt"
    forward.write_text("\n".join(sample_texts) + "\n", encoding="utf-8")
    backward = tmp_path / "backward.txt"
    backward.write_text("\n".join(reversed(sample_texts)) + "\n", encoding="utf-8")

    a = _array(cli.ok(cli("encode", forward, "--batch-size", 1, "--model", tiny_text_model)))
    b = _array(cli.ok(cli("encode", backward, "--batch-size", 1, "--model", tiny_text_model)))

    assert not np.array_equal(a[0], a[-1])  # distinct inputs give distinct rows
    np.testing.assert_array_equal(b, a[::-1])


def test_c26_small(cli, tiny_text_model: Path, cases_dir: Path, latent_dim: int) -> None:
    result = cli.ok(cli("encode", cases_dir / "C26_small.txt", "--model", tiny_text_model))

    latents = _array(result)
    assert latents.shape == (3, latent_dim)
    assert latents.dtype == np.float32


def test_c05_blank_lines_skipped_with_one_note(cli, tiny_text_model: Path, cases_dir: Path,
                                               tmp_path: Path) -> None:
    source = cases_dir / "C05_blank_lines.txt"
    kept = [ln.strip() for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
    reference = tmp_path / "kept.txt"
    reference.write_text("\n".join(kept) + "\n", encoding="utf-8")

    result = cli.ok(cli("encode", source, "--model", tiny_text_model))
    expected = _array(cli.ok(cli("encode", reference, "--model", tiny_text_model)))

    assert len(kept) == 3
    np.testing.assert_array_equal(_array(result), expected)
    notes = [ln for ln in result.stderr.splitlines() if "skipped" in ln]
    assert len(notes) == 1
    assert "C05_blank_lines.txt" in notes[0]


@pytest.mark.parametrize(
    ("case", "reference"),
    [
        ("C06_crlf_no_final_newline.txt", "C06_lf_reference.txt"),
        ("C11_bom.txt", "C11_no_bom_reference.txt"),
    ],
)
def test_same_rows_as_reference(cli, tiny_text_model: Path, cases_dir: Path, case: str,
                                reference: str) -> None:
    got = cli.ok(cli("encode", cases_dir / case, "--model", tiny_text_model))
    want = cli.ok(cli("encode", cases_dir / reference, "--model", tiny_text_model))

    assert got.stdout_bytes == want.stdout_bytes


@pytest.mark.parametrize("case", ["C28_reviews.txt", "C06_crlf_no_final_newline.txt", "C11_bom.txt"])
def test_stdin_equals_path(cli, tiny_text_model: Path, cases_dir: Path, case: str) -> None:
    path = cases_dir / case

    by_path = cli.ok(cli("encode", path, "--model", tiny_text_model))
    by_stdin = cli.ok(cli("encode", "-", "--model", tiny_text_model, input=path.read_bytes()))

    assert by_stdin.stdout_bytes == by_path.stdout_bytes


def test_empty_stdin_exits_2(cli, tiny_text_model: Path) -> None:
    result = cli("encode", "-", "--model", tiny_text_model, input=b"")

    cli.usage_error(result, "no examples on stdin")


def test_c05_empty_file_exits_2(cli, tiny_text_model: Path, cases_dir: Path) -> None:
    result = cli("encode", cases_dir / "C05_empty.txt", "--model", tiny_text_model)

    cli.usage_error(result, "no examples found in", "C05_empty.txt")


def test_missing_file_exits_2_and_names_it(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"

    result = cli("encode", missing, "--model", tiny_text_model)

    cli.usage_error(result, str(missing))


def test_missing_file_with_o_writes_nothing(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "emb.npy"

    result = cli("encode", tmp_path / "nope.txt", "-o", out, "--model", tiny_text_model)

    cli.usage_error(result, "nope.txt")
    assert not out.exists()


def test_refuses_binary_on_a_terminal(tiny_text_model: Path, texts_file: Path) -> None:
    """A real pty on stdout (CliRunner streams are never TTYs)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(EDDPM), "encode", str(texts_file), "--model", str(tiny_text_model)],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        os.close(follower)
        follower = -1
        _, stderr = proc.communicate(timeout=120)
        written = b""
        while select.select([leader], [], [], 0.2)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the last writer has closed the pty
                break
            if not chunk:
                break
            written += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)

    assert proc.returncode == 2
    assert b"refusing to write binary .npy to a terminal" in stderr
    assert stderr.decode().splitlines()[0].startswith("eddpm: error:")
    assert written == b""


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_checkpoint_runs_on_cpu_in_fp32(
    cli, tiny_text_model: Path, texts_file: Path, tmp_path: Path, dtype: torch.dtype
) -> None:
    """Weights saved from a GPU run in bf16 or fp16 load into the fp32 model on a CPU (the
    GPU-trained checkpoint of cases C23/C22)."""
    from safetensors.torch import load_file, save_file

    half = tmp_path / "half"
    shutil.copytree(tiny_text_model, half)
    weights = load_file(str(half / "model.safetensors"))
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()},
              str(half / "model.safetensors"))
    reference = np.load(io.BytesIO(cli.ok(cli("encode", texts_file, "-m", tiny_text_model)).stdout_bytes))

    rows = np.load(io.BytesIO(cli.ok(cli("encode", texts_file, "-m", half)).stdout_bytes))

    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, reference, atol=0.05 * np.abs(reference).max())
    cli.ok(cli("generate", "-m", half, "-n", 2))


@pytest.mark.parametrize("output", [None, "rows.npy", "rows.npz"])
def test_tokens_per_batch_gives_the_same_rows(
    cli, tiny_text_model: Path, texts_file: Path, tmp_path: Path, output: str | None
) -> None:
    """Rows are written chunk by chunk; a token budget changes the batches, not the result."""
    reference = _array(cli.ok(cli("encode", texts_file, "-m", tiny_text_model)))
    args = ["encode", texts_file, "-m", tiny_text_model, "--tokens-per-batch", 12]
    if output is None:
        rows = _array(cli.ok(cli(*args)))
    else:
        cli.ok(cli(*args, "-o", tmp_path / output))
        loaded = np.load(tmp_path / output, allow_pickle=False)
        rows = loaded["latents"] if output.endswith(".npz") else loaded
        if output.endswith(".npz"):
            assert list(loaded["ids"]) == ["line1", "line2", "line3"]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([output, "texts.txt"])

    assert rows.dtype == np.float32 and rows.shape == reference.shape
    np.testing.assert_allclose(rows, reference, rtol=1e-5, atol=1e-6)


def test_predict_and_reconstruct_take_a_token_budget(cli, tiny_text_model: Path,
                                                     texts_file: Path) -> None:
    for command in ("predict", "reconstruct"):
        plain = cli.ok(cli(command, texts_file, "-m", tiny_text_model))
        budget = cli.ok(cli(command, texts_file, "-m", tiny_text_model, "--tokens-per-batch", 5))
        assert len(cli.lines(budget)) == len(cli.lines(plain))
        assert cli.lines(budget)[0] == cli.lines(plain)[0]
