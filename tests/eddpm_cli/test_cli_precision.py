"""--precision and --compile: fp32 by default on a CPU, bf16 autocast on request, compiled
networks give the same numbers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from models.errors import UsageError
from models.precision import inference_dtype


def _array(result) -> np.ndarray:
    return np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False)


def test_auto_is_fp32_on_a_cpu(cli, tiny_text_model: Path, texts_file: Path) -> None:
    default = cli.ok(cli("encode", texts_file, "-m", tiny_text_model))
    auto = cli.ok(cli("encode", texts_file, "-m", tiny_text_model, "--precision", "auto"))
    fp32 = cli.ok(cli("encode", texts_file, "-m", tiny_text_model, "--precision", "fp32"))

    assert default.stdout_bytes == auto.stdout_bytes == fp32.stdout_bytes


def test_bf16_autocast_runs_on_a_cpu_and_stays_close(cli, tiny_text_model: Path,
                                                     texts_file: Path) -> None:
    fp32 = _array(cli.ok(cli("encode", texts_file, "-m", tiny_text_model)))
    bf16 = _array(cli.ok(cli("encode", texts_file, "-m", tiny_text_model, "--precision", "bf16")))

    assert bf16.dtype == np.float32
    assert not np.array_equal(bf16, fp32)  # the autocast really ran
    # bf16 keeps 8 bits of mantissa: rows agree to a few parts in a hundred of their scale
    assert np.abs(bf16 - fp32).max() <= 0.05 * np.abs(fp32).max() + 1e-3


@pytest.mark.parametrize("command", [
    ["generate", "-n", "2", "-k", "5"],
    ["reconstruct", "{texts}"],
    ["interpolate", "the soup was warm .", "the room was quiet .", "-n", "3"],
])
def test_bf16_text_commands_decode(cli, tiny_text_model: Path, texts_file: Path,
                                   command: list[str]) -> None:
    args = [str(texts_file) if a == "{texts}" else a for a in command]
    result = cli.ok(cli(*args, "-m", tiny_text_model, "--precision", "bf16"))

    assert len(cli.lines(result)) >= 2


def test_bf16_protein_edit_follows_the_head(cli, tiny_protein_model: Path, tmp_path: Path) -> None:
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">a\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSG\n", encoding="utf-8")

    result = cli.ok(cli("edit", fasta, "-m", tiny_protein_model, "--toward", "high",
                        "--precision", "bf16"))

    assert result.stdout.startswith(">a")


def test_bf16_image_exact_reconstruction(cli, tiny_image_model: Path, image_classes: Path,
                                         tmp_path: Path) -> None:
    out = tmp_path / "out"

    result = cli.ok(cli("reconstruct", image_classes / "red", "-m", tiny_image_model, "--exact",
                        "-o", out, "--pixel-steps", "3", "--precision", "bf16"))

    assert len(list(out.glob("*.png"))) >= 2
    assert result.stdout.strip()


def test_fp16_needs_a_gpu(cli, tiny_text_model: Path, texts_file: Path) -> None:
    cli.usage_error(cli("encode", texts_file, "-m", tiny_text_model, "--precision", "fp16",
                        "--device", "cpu"), "--precision fp16 needs a CUDA GPU")


@pytest.mark.parametrize(("bf16_ok", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_picks_bf16_only_on_a_gpu_that_runs_it(monkeypatch, bf16_ok: bool,
                                                    expected: torch.dtype) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)

    assert inference_dtype("auto", torch.device("cuda")) == expected
    assert inference_dtype("auto", torch.device("cpu")) == torch.float32
    assert inference_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    if not bf16_ok:
        with pytest.raises(UsageError, match="does not support bf16"):
            inference_dtype("bf16", torch.device("cuda"))


@pytest.mark.slow
def test_compiled_networks_give_the_same_latents(cli, tiny_text_model: Path,
                                                 texts_file: Path) -> None:
    plain = _array(cli.ok(cli("encode", texts_file, "-m", tiny_text_model)))
    compiled = _array(cli.ok(cli("encode", texts_file, "-m", tiny_text_model, "--compile")))

    np.testing.assert_allclose(compiled, plain, rtol=1e-4, atol=1e-5)


def test_a_bad_choice_is_one_plain_error_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    eddpm = Path(sys.executable).with_name("eddpm")
    result = subprocess.run([str(eddpm), "encode", "x.txt", "--precision", "fp64"],
                            capture_output=True, text=True, cwd=tmp_path)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("eddpm: error: Invalid value for '--precision': 'fp64' is not")
    assert "Value error" not in result.stderr
