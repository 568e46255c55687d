"""Every subcommand with image input or an image model, and cases C13, C14, C17, C18 and C20 of
../shared/cases/README.md at the command line (the readers' own tests are in
tests/models/data/test_images.py)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

RESOLUTION = 16  # the tiny preset's image size
RED, BLUE = "red/00.png", "blue/00.png"


@pytest.fixture
def images(image_classes: Path) -> Path:
    """Three PNGs in each of blue/ and red/, like the tiny image model's training data."""
    return image_classes


def _array(result) -> np.ndarray:
    assert result.stdout_bytes.startswith(b"\x93NUMPY")
    return np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False)


def _encode(cli, model: Path, *sources, input=None) -> np.ndarray:
    return _array(cli.ok(cli("encode", *sources, "--model", model, input=input)))


def _written(cli, result, out: Path) -> list[Path]:
    """The image paths on stdout: each an existing RGB PNG of the model's size inside ``out``."""
    paths = [Path(line) for line in cli.lines(result)]
    for path in paths:
        assert path.resolve().parent == out.resolve()
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (RESOLUTION, RESOLUTION))
    return paths


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


# --- train -----------------------------------------------------------------------------------------
def test_train_writes_an_image_run_with_class_labels_from_sub_folders(tiny_image_model: Path) -> None:
    config = json.loads((tiny_image_model / "config.json").read_text(encoding="utf-8"))
    run = json.loads((tiny_image_model / "run.json").read_text(encoding="utf-8"))

    assert config["modality"] == "image"
    assert config["codec"]["resolution"] == RESOLUTION
    [head] = config["heads"]
    assert (head["name"], head["kind"], head["classes"]) == ("label", "classification", ["blue", "red"])
    assert run["reading"]["max_image_pixels"] == 89_478_485
    assert run["finished"][-1]["step"] == 6


def test_train_npz_with_labels_then_resume(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "faces.npz"
    np.savez(data, images=rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8),
             labels=np.array([0, 1, 0, 1, 0, 1]), label_names=np.array(["cat", "dog"]))
    out = tmp_path / "run"

    result = cli.ok(cli("train", "--data", data, "--preset", "tiny", "--max-steps", 1, "--out", out))
    resumed = cli.ok(cli("train", "--resume", out, "--max-steps", 2))

    assert result.stdout == f"{out}\n"
    assert "2 classes" in result.stderr and "cat, dog" in result.stderr
    assert json.loads((out / "config.json").read_text())["heads"][0]["classes"] == ["cat", "dog"]
    assert resumed.stdout == f"{out}\n"


def test_train_glob_without_labels_has_no_head(cli, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"

    cli.ok(cli("train", "--data", f"{images}/*/0[01].png", "--preset", "tiny", "--max-steps", 1,
               "--out", out))

    assert json.loads((out / "config.json").read_text())["heads"] == []


def test_train_labels_flag_requires_a_label_for_every_image(cli, images: Path, tmp_path: Path) -> None:
    result = cli("train", "--data", images / RED, "--labels", "--preset", "tiny", "--out", tmp_path / "run")

    cli.usage_error(result, "has no label")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--label-column", "x"], ["applies to protein inputs", "--data is image"]),
        (["--encoder", "somewhere"], ["take pretrained text models", "image"]),
        (["--preset", "paper"], ["unknown preset 'paper' for image"]),
    ],
)
def test_train_option_errors(cli, images: Path, tmp_path: Path, args: list[str], fragments: list[str]) -> None:
    result = cli("train", "--data", images, "--preset", "tiny", "--out", tmp_path / "run", *args)

    cli.usage_error(result, *fragments)


def test_train_refuses_mixed_images_and_text(cli, images: Path, texts_file: Path, tmp_path: Path) -> None:
    result = cli("train", "--data", images, "--data", texts_file, "--preset", "tiny", "--out", tmp_path / "r")

    cli.usage_error(result, "mix images", str(texts_file))


# --- generate / decode -----------------------------------------------------------------------------
def test_generate_writes_pngs_a_grid_and_is_seeded(cli, tiny_image_model: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    common = ["-n", 3, "--model", tiny_image_model, "--pixel-steps", 3]

    result = cli.ok(cli("generate", *common, "--out", first))
    again = cli.ok(cli("generate", *common, "--out", second))

    paths = _written(cli, result, first)
    assert [p.name for p in paths] == ["gen_000001.png", "gen_000002.png", "gen_000003.png"]
    assert sorted(p.name for p in first.iterdir()) == [*(p.name for p in paths), "gen_grid.png"]
    assert f"overview: {first / 'gen_grid.png'}" in result.stderr
    assert [p.read_bytes() for p in paths] == [(second / p.name).read_bytes() for p in paths]
    assert again.stdout.replace(str(second), str(first)) == result.stdout


def test_generate_image_model_needs_out(cli, tiny_image_model: Path) -> None:
    result = cli("generate", "-n", 1, "--model", tiny_image_model)

    cli.usage_error(result, "pass --out DIR")


def test_out_and_pixel_steps_are_refused_for_text(cli, tiny_text_model: Path, tmp_path: Path) -> None:
    with_out = cli("generate", "-n", 1, "--model", tiny_text_model, "--out", tmp_path / "o")
    with_steps = cli("generate", "-n", 1, "--model", tiny_text_model, "--pixel-steps", 3)

    cli.usage_error(with_out, "--out is for image models")
    cli.usage_error(with_steps, "--pixel-steps is for image models")
    assert not (tmp_path / "o").exists()


def test_decode_names_files_by_index_and_safe_stems(cli, tiny_image_model: Path, tmp_path: Path) -> None:
    latents = tmp_path / "z.npz"
    np.savez(latents, latents=np.zeros((2, 16), np.float32),
             ids=np.array(["../../escape/x.png", "data.npz[1]"]))
    out = tmp_path / "out"

    result = cli.ok(cli("decode", latents, "--model", tiny_image_model, "--out", out, "--pixel-steps", 2))

    paths = _written(cli, result, out)
    assert [p.name for p in paths] == ["latent_000001_x.png", "latent_000002_data_npz_1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "z.npz"]


def test_decode_round_trip_of_encode(cli, tiny_image_model: Path, images: Path, tmp_path: Path) -> None:
    latents = tmp_path / "z.npz"
    cli.ok(cli("encode", images, "--model", tiny_image_model, "-o", latents))

    result = cli.ok(cli("decode", latents, "--model", tiny_image_model, "--out", tmp_path / "d",
                        "--pixel-steps", 2))

    assert len(_written(cli, result, tmp_path / "d")) == 6
    assert (tmp_path / "d" / "latent_grid.png").is_file()


# --- reconstruct -----------------------------------------------------------------------------------
def test_reconstruct_semantic_and_exact(cli, tiny_image_model: Path, images: Path, tmp_path: Path) -> None:
    sources = [images / RED, images / BLUE]
    common = ["--model", tiny_image_model, "--pixel-steps", 4, "--metrics"]

    semantic = cli.ok(cli("reconstruct", *sources, *common, "--out", tmp_path / "s"))
    exact = cli.ok(cli("reconstruct", *sources, *common, "--exact", "--out", tmp_path / "e"))
    again = cli.ok(cli("reconstruct", *sources, *common, "--exact", "--out", tmp_path / "e2"))

    names = ["recon_000001_00.png", "recon_000002_00.png"]
    assert [p.name for p in _written(cli, semantic, tmp_path / "s")] == names
    assert [p.name for p in _written(cli, exact, tmp_path / "e")] == names
    for result in (semantic, exact):
        [line] = [ln for ln in result.stderr.splitlines() if "reconstruction" in ln]
        assert "psnr=" in line and "ssim=" in line and "n=2" in line
        assert "cross_entropy" not in line
    assert (tmp_path / "e" / names[0]).read_bytes() == (tmp_path / "e2" / names[0]).read_bytes()
    assert (tmp_path / "e" / names[0]).read_bytes() != (tmp_path / "s" / names[0]).read_bytes()
    # before/after: a row of inputs above a row of outputs, 2 px gaps
    assert _size(tmp_path / "s" / "recon_grid.png") == (2 * 18 + 2, 2 * 18 + 2)


def test_exact_is_refused_for_text(cli, tiny_text_model: Path, texts_file: Path) -> None:
    result = cli("reconstruct", texts_file, "--model", tiny_text_model, "--exact")

    cli.usage_error(result, "--exact is for image models")


def test_several_inputs_only_for_images(cli, tiny_text_model: Path, texts_file: Path) -> None:
    result = cli("encode", texts_file, texts_file, "--model", tiny_text_model)

    cli.usage_error(result, "2 inputs given")


def test_text_input_with_an_image_model(cli, tiny_image_model: Path, texts_file: Path) -> None:
    result = cli("encode", texts_file, "--model", tiny_image_model)

    cli.usage_error(result, "is an image model, but the input is text data")


# --- encode / predict ------------------------------------------------------------------------------
def test_encode_npz_has_file_names_as_ids_and_is_deterministic(cli, tiny_image_model: Path,
                                                               images: Path, tmp_path: Path) -> None:
    out = tmp_path / "z.npz"
    cli.ok(cli("encode", images, "--model", tiny_image_model, "-o", out))
    piped = _encode(cli, tiny_image_model, images)

    saved = np.load(out)
    assert saved["latents"].shape == (6, 16) and saved["latents"].dtype == np.float32
    assert saved["ids"].tolist() == [str(images / c / f"{i:02d}.png") for c in ("blue", "red") for i in range(3)]
    assert np.array_equal(saved["latents"], piped)


def test_encode_directory_glob_and_files_agree(cli, tiny_image_model: Path, images: Path) -> None:
    by_dir = _encode(cli, tiny_image_model, images / "red")
    by_glob = _encode(cli, tiny_image_model, f"{images}/red/*.png")
    by_files = _encode(cli, tiny_image_model, *sorted((images / "red").iterdir()))

    assert np.array_equal(by_dir, by_glob) and np.array_equal(by_dir, by_files)


def test_predict_gives_class_probabilities(cli, tiny_image_model: Path, images: Path) -> None:
    result = cli.ok(cli("predict", images / RED, "--model", tiny_image_model))

    header, row = cli.lines(result)
    assert header == "id\tlabel:blue\tlabel:red"
    assert row.split("\t")[0] == str(images / RED)


def test_latest_image_run_is_used_without_model(cli, tiny_image_model: Path, images: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(tiny_image_model, runs / "image-run")
    monkeypatch.setenv("EDDPM_RUNS", str(runs))

    result = cli.ok(cli("encode", images / RED))

    assert f"using model {runs / 'image-run'}" in result.stderr
    assert _array(result).shape == (1, 16)


# --- interpolate -----------------------------------------------------------------------------------
def test_interpolate_two_files_gives_frames_and_a_strip(cli, tiny_image_model: Path, images: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "path"

    result = cli.ok(cli("interpolate", images / RED, images / BLUE, "--steps", 4, "--pixel-steps", 3,
                        "--model", tiny_image_model, "--out", out))

    paths = _written(cli, result, out)
    assert [p.name for p in paths] == [f"path_{i:06d}.png" for i in range(1, 5)]
    assert _size(out / "path_strip.png") == (4 * 18 + 2, 18 + 2)


def test_interpolate_ids_in_a_directory_with_slerp_and_exact(cli, tiny_image_model: Path, images: Path,
                                                             tmp_path: Path) -> None:
    common = ["--steps", 3, "--pixel-steps", 3, "--model", tiny_image_model]
    by_ids = cli.ok(cli("interpolate", images, "--a", str(images / RED), "--b", str(images / BLUE),
                        *common, "--method", "slerp", "--exact", "--out", tmp_path / "i"))
    by_files = cli.ok(cli("interpolate", images / RED, images / BLUE, *common, "--method", "slerp",
                          "--exact", "--out", tmp_path / "f"))

    assert len(_written(cli, by_ids, tmp_path / "i")) == 3
    for name in ("path_000001.png", "path_000003.png"):
        assert (tmp_path / "i" / name).read_bytes() == (tmp_path / "f" / name).read_bytes()
    assert by_files.stdout.replace(str(tmp_path / "f"), "X") == by_ids.stdout.replace(str(tmp_path / "i"), "X")


def test_interpolate_directory_endpoint_needs_one_image(cli, tiny_image_model: Path, images: Path,
                                                        tmp_path: Path) -> None:
    result = cli("interpolate", images / "red", images / BLUE, "--model", tiny_image_model,
                 "--out", tmp_path / "o")

    cli.usage_error(result, "holds 3 examples")


# --- edit ------------------------------------------------------------------------------------------
def test_edit_toward_a_class_writes_before_after(cli, tiny_image_model: Path, images: Path,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "edit"
    common = [images / RED, "--toward", "blue", "--model", tiny_image_model, "--pixel-steps", 3]

    result = cli.ok(cli("edit", *common, "--strength", 1.5, "--out", out))
    zero = cli.ok(cli("edit", *common, "--strength", 0, "--out", tmp_path / "zero"))
    exact = cli.ok(cli("reconstruct", images / RED, "--exact", "--model", tiny_image_model,
                       "--pixel-steps", 3, "--out", tmp_path / "exact"))

    assert [p.name for p in _written(cli, result, out)] == ["edit_000001_00.png"]
    assert _size(out / "edit_grid.png") == (18 + 2, 2 * 18 + 2)
    # strength 0 decodes the unchanged latent from the inverted noise: the exact reconstruction
    assert (tmp_path / "zero" / "edit_000001_00.png").read_bytes() == (
        tmp_path / "exact" / "recon_000001_00.png").read_bytes()
    assert (out / "edit_000001_00.png").read_bytes() != (tmp_path / "zero" / "edit_000001_00.png").read_bytes()
    assert zero.stdout and exact.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--toward", "green"], "unknown label 'green'"),
        ([], "missing option '--toward'"),
        (["--toward", "blue", "--method", "guidance"], "--method guidance and --start are not supported"),
        (["--toward", "blue", "--target", "1"], "--target and --head are for protein models"),
    ],
)
def test_edit_errors(cli, tiny_image_model: Path, images: Path, tmp_path: Path, args, fragment) -> None:
    result = cli("edit", images / RED, *args, "--model", tiny_image_model, "--out", tmp_path / "o")

    cli.usage_error(result, fragment)
    assert not (tmp_path / "o").exists()


# --- cases -----------------------------------------------------------------------------------------
def _on_white_png(path: Path, tmp_path: Path) -> Path:
    """The image composited onto white by hand, saved as an RGB PNG."""
    with Image.open(path) as im:
        rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    out = tmp_path / f"{path.stem}_white.png"
    Image.alpha_composite(white, rgba).convert("RGB").save(out)
    return out


@pytest.mark.parametrize("name", ["C13_rgba_half_transparent.png", "C13_la_half_transparent.png",
                                  "C14_palette_trns.png"])
def test_c13_c14_transparency_is_composited_on_white(cli, tiny_image_model: Path, cases_dir: Path,
                                                     tmp_path: Path, name: str) -> None:
    result = cli.ok(cli("encode", cases_dir / name, "--model", tiny_image_model))

    by_hand = _encode(cli, tiny_image_model, _on_white_png(cases_dir / name, tmp_path))
    assert np.array_equal(_array(result), by_hand)
    assert "Warning" not in result.stderr


@pytest.mark.parametrize("name", ["C14_gray_L.png", "C14_bilevel_1.png"])
def test_c14_gray_and_bilevel_are_three_equal_channels(cli, tiny_image_model: Path, cases_dir: Path,
                                                       tmp_path: Path, name: str) -> None:
    out = tmp_path / "rec"
    result = cli.ok(cli("reconstruct", cases_dir / name, "--exact", "--model", tiny_image_model,
                        "--pixel-steps", 2, "--out", out))

    with Image.open(cases_dir / name) as im:
        rgb = tmp_path / "rgb.png"
        im.convert("L").convert("RGB").save(rgb)
    assert np.array_equal(_array(cli.ok(cli("encode", cases_dir / name, "--model", tiny_image_model))),
                          _encode(cli, tiny_image_model, rgb))
    assert len(_written(cli, result, out)) == 1
    assert "Warning" not in result.stderr


def test_c17_exif_orientation_is_applied(cli, tiny_image_model: Path, cases_dir: Path, tmp_path: Path) -> None:
    source = cases_dir / "C17_exif_orientation6.jpg"
    with Image.open(source) as im:
        upright, stored = ImageOps.exif_transpose(im), im.convert("RGB")
    assert upright.size == (16, 32)
    upright.save(tmp_path / "upright.png")
    stored.save(tmp_path / "stored.png")

    tagged = _encode(cli, tiny_image_model, source)

    assert np.array_equal(tagged, _encode(cli, tiny_image_model, tmp_path / "upright.png"))
    assert not np.array_equal(tagged, _encode(cli, tiny_image_model, tmp_path / "stored.png"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("C18_truncated.png", "truncated image"),
        ("C18_truncated.jpg", "truncated image"),
        ("C18_zero_bytes.png", "empty file"),
        ("C18_not_an_image.png", "not a recognised image"),
    ],
)
@pytest.mark.parametrize("command", ["encode", "reconstruct", "train"])
def test_c18_bad_files_exit_2_naming_the_file(cli, tiny_image_model: Path, images: Path, cases_dir: Path,
                                              tmp_path: Path, name: str, reason: str, command: str) -> None:
    folder = tmp_path / "data"
    shutil.copytree(images, folder)
    shutil.copy(cases_dir / name, folder / "red" / name)
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--data", folder, "--preset", "tiny", "--out", out]
    else:
        args = [command, folder, "--model", tiny_image_model, *(["--out", out] if command == "reconstruct" else [])]

    result = cli(*args)

    cli.usage_error(result, str(folder / "red" / name), reason)
    assert not out.exists()


@pytest.mark.parametrize("name", ["C20_tiny_1x1.png", "C20_strip_300x1.png"])
def test_c20_extreme_sizes_give_the_model_size(cli, tiny_image_model: Path, cases_dir: Path,
                                               tmp_path: Path, name: str) -> None:
    result = cli.ok(cli("reconstruct", cases_dir / name, "--model", tiny_image_model, "--pixel-steps", 2,
                        "--out", tmp_path))

    assert len(_written(cli, result, tmp_path)) == 1


def test_c20_bomb_is_refused_unless_the_limit_is_raised(cli, tiny_image_model: Path, cases_dir: Path) -> None:
    bomb = cases_dir / "C20_bomb_14000x14000.png"

    refused = cli("encode", bomb, "--model", tiny_image_model)
    allowed = cli.ok(cli("encode", bomb, "--model", tiny_image_model, "--max-image-pixels", 0))

    cli.usage_error(refused, str(bomb), "196,000,000 pixels")
    assert "hint:" in refused.stderr and "--max-image-pixels" in refused.stderr
    assert _array(allowed).shape == (1, 16)


def test_c28_png_on_stdin_equals_the_path_form(cli, tiny_image_model: Path, cases_dir: Path) -> None:
    source = cases_dir / "C13_rgba_half_transparent.png"

    piped = _encode(cli, tiny_image_model, "-", input=source.read_bytes())

    assert np.array_equal(piped, _encode(cli, tiny_image_model, source))
