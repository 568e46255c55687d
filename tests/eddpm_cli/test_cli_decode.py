"""eddpm decode: latents from encode decode to what reconstruct prints; bad arrays exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def test_encode_then_decode_equals_reconstruct(cli, tiny_text_model: Path, texts_file: Path,
                                               tmp_path: Path) -> None:
    latents = tmp_path / "z.npy"
    cli.ok(cli("encode", texts_file, "-o", latents, "--model", tiny_text_model))

    decoded = cli.ok(cli("decode", latents, "--model", tiny_text_model))
    reconstructed = cli.ok(cli("reconstruct", texts_file, "--model", tiny_text_model))

    assert len(cli.lines(decoded)) == 3
    assert decoded.stdout_bytes == reconstructed.stdout_bytes


def test_npz_and_stdin_inputs(cli, tiny_text_model: Path, texts_file: Path, tmp_path: Path) -> None:
    npz = tmp_path / "z.npz"
    cli.ok(cli("encode", texts_file, "-o", npz, "--model", tiny_text_model))
    npy = cli.ok(cli("encode", texts_file, "--model", tiny_text_model)).stdout_bytes

    from_npz = cli.ok(cli("decode", npz, "--model", tiny_text_model))
    from_stdin = cli.ok(cli("decode", "-", "--model", tiny_text_model, input=npy))

    assert from_npz.stdout_bytes == from_stdin.stdout_bytes
    assert len(cli.lines(from_stdin)) == 3


def test_garbage_file_exits_2(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"this is not an array\n")

    result = cli("decode", garbage, "--model", tiny_text_model)

    line = cli.usage_error(result, str(garbage), "not a .npy or .npz array")
    assert "pickled" not in line  # numpy's own message would blame pickling


def test_pickled_array_is_refused(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)

    result = cli("decode", pickled, "--model", tiny_text_model)

    cli.usage_error(result, str(pickled))


def test_wrong_width_exits_2(cli, tiny_text_model: Path, tmp_path: Path, latent_dim: int) -> None:
    wrong = tmp_path / "wide.npy"
    np.save(wrong, np.zeros((2, latent_dim + 1), dtype=np.float32))

    result = cli("decode", wrong, "--model", tiny_text_model)

    cli.usage_error(result, str(wrong), f"width {latent_dim + 1}", f"needs {latent_dim}")


def test_empty_stdin_exits_2(cli, tiny_text_model: Path) -> None:
    result = cli("decode", "-", "--model", tiny_text_model, input=b"")

    cli.usage_error(result, "<stdin>")
