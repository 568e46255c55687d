"""Tests for models/data/images.py: reading images as model input (cases C13, C14, C17, C18,
C20 and C28 of ../shared/cases/README.md, and every reader rule)."""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data.images import (
    DEFAULT_MAX_IMAGE_PIXELS,
    STDIN_NAME,
    check_images,
    find_images,
    fit_square,
    image_dataset,
    load_rgb,
    read_images,
    save_png,
    sniff_image_format,
    tile_images,
    to_model_input,
    to_uint8,
)
from models.errors import InputDataError


def png_bytes(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def solid(color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.new("RGB", size, color)


def assert_close(actual, expected, tol: int = 2) -> None:
    diff = np.abs(np.asarray(actual, dtype=int) - np.asarray(expected, dtype=int))
    assert diff.max() <= tol, f"{actual} != {expected} (tolerance {tol})"


def error_of(call, *args, **kwargs) -> InputDataError:
    with pytest.raises(InputDataError) as info:
        call(*args, **kwargs)
    return info.value


# -- C13: transparency composited on white ---------------------------------------------------------
def test_c13_rgba_is_composited_on_white(cases_dir: Path) -> None:
    rgb = load_rgb(cases_dir / "C13_rgba_half_transparent.png")

    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert_close(rgb[0, 12], (255, 255, 255))
    assert_close(rgb[0, 3], (255, 0, 0))
    assert_close(rgb[0, 8], (127, 127, 127))


def test_c13_la_right_half_white_left_half_black(cases_dir: Path) -> None:
    rgb = load_rgb(cases_dir / "C13_la_half_transparent.png")

    assert (rgb[:, :8] == 0).all()
    assert (rgb[:, 8:] == 255).all()


def test_c13_model_input_has_three_channels(cases_dir: Path) -> None:
    record = read_images([cases_dir / "C13_rgba_half_transparent.png"], 16).records[0]

    assert record.image.shape == (3, 16, 16)
    assert np.allclose(record.image[:, 0, 12], 1.0)  # white
    assert np.allclose(record.image[:, 0, 3], [1.0, -1.0, -1.0])  # red


# -- C14: palette with tRNS, grayscale, 1-bit ------------------------------------------------------
def test_c14_palette_transparent_index_becomes_white(cases_dir: Path) -> None:
    path = cases_dir / "C14_palette_trns.png"
    indices = np.asarray(Image.open(path))
    rgb = load_rgb(path)

    assert (rgb[indices == 0] == 255).all()
    assert (rgb[indices == 1] == (0, 0, 255)).all()


def test_c14_gray_is_replicated_to_three_equal_channels(cases_dir: Path) -> None:
    path = cases_dir / "C14_gray_L.png"
    gray = np.asarray(Image.open(path))
    rgb = load_rgb(path)

    for channel in range(3):
        assert (rgb[..., channel] == gray).all()


def test_c14_bilevel_maps_0_to_0_and_1_to_255(cases_dir: Path) -> None:
    path = cases_dir / "C14_bilevel_1.png"
    bits = np.asarray(Image.open(path))  # bool
    rgb = load_rgb(path)

    assert (rgb[bits] == 255).all() and (rgb[~bits] == 0).all()
    assert bits.any() and (~bits).any()


def test_c14_no_pillow_warning_reaches_the_user(cases_dir: Path) -> None:
    names = ["C14_palette_trns.png", "C14_gray_L.png", "C14_bilevel_1.png"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = read_images([cases_dir / n for n in names], 16)

    assert len(result.records) == 3


def test_palette_png_with_bytes_transparency_reads_without_warning(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([10, 20, 30, 0, 0, 255] + [0] * 762)
    image.putpixel((3, 3), 1)
    path = tmp_path / "p.png"
    path.write_bytes(png_bytes(image, transparency=bytes([0, 255])))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = load_rgb(path)

    assert (rgb[0, 0] == 255).all() and tuple(rgb[3, 3]) == (0, 0, 255)


# -- C17: EXIF orientation ------------------------------------------------------------------------
def test_c17_exif_orientation_is_applied(cases_dir: Path) -> None:
    rgb = load_rgb(cases_dir / "C17_exif_orientation6.jpg")

    assert rgb.shape == (32, 16, 3)  # 16 wide, 32 tall
    assert_close(rgb[4, 8], (255, 0, 0), tol=8)  # red on top
    assert_close(rgb[27, 8], (0, 0, 255), tol=8)  # blue at the bottom


def test_c17_same_image_without_the_tag_stays_landscape(cases_dir: Path, tmp_path: Path) -> None:
    stripped = tmp_path / "no_exif.jpg"
    Image.open(cases_dir / "C17_exif_orientation6.jpg").save(stripped, quality=95)

    assert load_rgb(stripped).shape == (16, 32, 3)


# -- C18: truncated, empty, not an image -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("C18_truncated.png", "truncated"),
        ("C18_truncated.jpg", "truncated"),
        ("C18_zero_bytes.png", "empty file"),
        ("C18_not_an_image.png", "not a recognised image"),
    ],
)
def test_c18_bad_files_name_the_file_and_reason(cases_dir: Path, name: str, reason: str) -> None:
    path = cases_dir / name
    for call in (load_rgb, check_images, read_images):
        args = (path,) if call is load_rgb else ([path],) if call is check_images else ([path], 16)
        error = error_of(call, *args)
        assert str(path) in error.message and reason in error.message
        assert error.exit_code == 2


def test_c18_check_images_finds_bad_files_among_good_ones(cases_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(3):
        save_png(np.zeros((3, 8, 8), np.float32), folder / f"good_{i}.png")
    shutil.copy(cases_dir / "C18_truncated.png", folder / "z_truncated.png")
    shutil.copy(cases_dir / "C18_zero_bytes.png", folder / "z_zero.png")

    error = error_of(check_images, [folder])

    assert str(folder / "z_truncated.png") in error.message
    assert "1 more unreadable image" in error.message
    assert check_images([folder / f"good_{i}.png" for i in range(3)]) == 3


# -- C20: extreme sizes and decompression bombs ----------------------------------------------------
@pytest.mark.parametrize("name", ["C20_tiny_1x1.png", "C20_strip_300x1.png"])
def test_c20_tiny_and_strip_images_get_the_model_shape(cases_dir: Path, name: str) -> None:
    record = read_images([cases_dir / name], 16).records[0]

    assert record.image.shape == (3, 16, 16) and record.image.dtype == np.float32


def test_c20_bomb_is_refused_with_pixel_count_and_hint(cases_dir: Path) -> None:
    path = cases_dir / "C20_bomb_14000x14000.png"
    error = error_of(read_images, [path], 16)

    assert str(path) in error.message and "196,000,000 pixels" in error.message
    assert "max-image-pixels" in error.hint and "max_image_pixels" in error.hint


def test_c20_bomb_is_read_when_the_limit_is_raised(cases_dir: Path) -> None:
    path = cases_dir / "C20_bomb_14000x14000.png"
    record = read_images([path], 8, max_image_pixels=200_000_000).records[0]

    assert record.image.shape == (3, 8, 8)


@pytest.mark.parametrize("limit", [None, 0, 4_000_000])
def test_pixel_limit_is_the_callers(tmp_path: Path, limit: int | None) -> None:
    path = tmp_path / "big.png"
    Image.new("1", (2000, 2000), 1).save(path)

    assert error_of(read_images, [path], 8, max_image_pixels=3_999_999).hint
    assert read_images([path], 8, max_image_pixels=limit).records[0].image.min() == 1.0


def test_default_pixel_limit_is_pillows_warning_threshold() -> None:
    assert DEFAULT_MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS


# -- C28: one image from stdin ---------------------------------------------------------------------
def test_c28_png_from_stdin_equals_the_path_form(cases_dir: Path) -> None:
    path = cases_dir / "C13_rgba_half_transparent.png"
    from_path = read_images([path], 16).records[0]
    from_stdin = read_images(["-"], 16, stdin=io.BytesIO(path.read_bytes())).records[0]

    assert from_stdin.id == STDIN_NAME
    assert np.array_equal(from_stdin.image, from_path.image)
    assert np.array_equal(load_rgb("-", stdin=io.BytesIO(path.read_bytes())), load_rgb(path))


@pytest.mark.parametrize("fmt", ["JPEG", "GIF", "WEBP"])
def test_stdin_sniffs_jpeg_gif_webp(fmt: str) -> None:
    buffer = io.BytesIO()
    solid((0, 0, 255)).save(buffer, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))

    rgb = load_rgb("-", stdin=io.BytesIO(buffer.getvalue()))

    assert_close(rgb[4, 4], (0, 0, 255), tol=4)


def test_stdin_empty_and_non_image() -> None:
    assert error_of(read_images, ["-"], 8, stdin=io.BytesIO(b"")).message == "no examples on stdin"
    message = error_of(read_images, ["-"], 8, stdin=io.BytesIO(b"hello world\n")).message
    assert STDIN_NAME in message and "PNG, JPEG, GIF or WebP" in message


def test_stdin_npz_archive() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, images=np.zeros((2, 4, 4), np.uint8))

    result = read_images(["-"], 4, stdin=io.BytesIO(buffer.getvalue()))

    assert [r.id for r in result.records] == ["<stdin>[0]", "<stdin>[1]"]


# -- colour modes ---------------------------------------------------------------------------------
def test_16_bit_gray_is_scaled_by_257_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")

    rgb = load_rgb(path)

    assert rgb[0, :, 0].tolist() == [0, 4, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_32_bit_integer_mode_is_read_as_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "deep.tiff"
    Image.fromarray(np.array([[0, 65535, 70000]], dtype=np.int32)).save(path)

    assert load_rgb(path)[0, :, 1].tolist() == [0, 255, 255]


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_bmp_and_tiff_are_read(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    solid((9, 8, 7)).save(path, format=fmt)

    assert tuple(load_rgb(path)[0, 0]) == (9, 8, 7)


def test_other_pillow_formats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.png"  # the suffix does not matter, the content does
    solid((9, 8, 7)).save(path, format="PPM")

    assert "not a recognised image" in error_of(load_rgb, path).message


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)

    assert_close(load_rgb(path)[4, 4], (255, 0, 0), tol=4)


def test_rgb_colour_key_transparency_becomes_white(tmp_path: Path) -> None:
    image = solid((0, 255, 0), (4, 1))
    image.putpixel((0, 0), (1, 2, 3))
    path = tmp_path / "key.png"
    path.write_bytes(png_bytes(image, transparency=(1, 2, 3)))

    rgb = load_rgb(path)

    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[0, 1]) == (0, 255, 0)


def test_palette_without_transparency_keeps_its_colours(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    solid((200, 100, 50)).convert("P", palette=Image.Palette.ADAPTIVE).save(path)

    assert_close(load_rgb(path)[0, 0], (200, 100, 50), tol=4)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_files_give_their_first_frame(tmp_path: Path, fmt: str) -> None:
    frames = [solid((255, 0, 0)), solid((0, 255, 0)), solid((0, 0, 255))]
    path = tmp_path / f"anim.{fmt.lower()}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], **extra)
    assert getattr(Image.open(path), "n_frames", 1) == 3

    assert_close(load_rgb(path)[4, 4], (255, 0, 0), tol=4)


# -- resizing and values ---------------------------------------------------------------------------
def test_shorter_side_is_resized_and_the_centre_kept() -> None:
    stripes = np.zeros((10, 30, 3), np.uint8)
    stripes[:, :10] = (255, 0, 0)
    stripes[:, 10:20] = (0, 255, 0)
    stripes[:, 20:] = (0, 0, 255)

    same_height = np.asarray(fit_square(Image.fromarray(stripes), 10))
    smaller = np.asarray(fit_square(Image.fromarray(stripes), 5))

    assert (same_height == (0, 255, 0)).all()
    assert smaller.shape == (5, 5, 3)
    assert_close(smaller[2, 2], (0, 255, 0), tol=10)


def test_upscaling_a_gray_image_gives_rgb() -> None:
    out = fit_square(Image.new("L", (3, 2), 77), 8)

    assert out.mode == "RGB" and out.size == (8, 8)
    assert_close(np.asarray(out), np.full((8, 8, 3), 77), tol=1)


def test_model_input_range_and_inverse() -> None:
    rgb = np.array([[[0, 128, 255]]], dtype=np.uint8)
    x = to_model_input(rgb)

    assert x.dtype == np.float32 and x.shape == (3, 1, 1)
    assert x[0, 0, 0] == -1.0 and x[2, 0, 0] == 1.0
    assert np.array_equal(to_uint8(x), rgb)
    assert np.array_equal(to_uint8(np.full((3, 1, 1), 7.0)), np.full((1, 1, 3), 255))


def test_save_png_then_read_round_trips(tmp_path: Path) -> None:
    x = to_model_input(np.random.default_rng(0).integers(0, 256, (6, 6, 3), dtype=np.uint8))
    save_png(x, tmp_path / "x.png")

    assert np.array_equal(read_images([tmp_path / "x.png"], 6).records[0].image, x)


# -- sources: directories, globs, npz, errors ------------------------------------------------------
@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """root/{cat,dog}/..., a top-level image, a hidden file and folder, and a note."""
    root = tmp_path / "pets"
    for label, color in (("dog", (0, 0, 255)), ("cat", (255, 0, 0))):
        (root / label / "deep").mkdir(parents=True)
        solid(color).save(root / label / "b.png")
        solid(color).save(root / label / "deep" / "a.JPG")
    solid((0, 255, 0)).save(root / "loose.png")
    (root / ".hidden").mkdir()
    solid((0, 0, 0)).save(root / ".hidden" / "x.png")
    solid((0, 0, 0)).save(root / "cat" / ".x.png")
    (root / "notes.txt").write_text("not an image")
    return root


def test_directory_is_recursive_sorted_labelled_and_skips_others(class_folder: Path) -> None:
    result = read_images([class_folder], 4)

    relative = [str(Path(r.id).relative_to(class_folder)) for r in result.records]
    assert relative == ["loose.png", "cat/b.png", "cat/deep/a.JPG", "dog/b.png", "dog/deep/a.JPG"]
    assert [r.label for r in result.records] == [None, "cat", "cat", "dog", "dog"]
    assert result.skipped_files == 1
    assert all(r.id.startswith(str(class_folder)) for r in result.records)


def test_labels_required_for_every_image(class_folder: Path) -> None:
    error = error_of(read_images, [class_folder], 4, labels=True)

    assert "loose.png has no label" in error.message and "sub-folder" in error.hint
    (class_folder / "loose.png").unlink()
    notes: list[str] = []
    dataset, classes, _ = image_dataset([class_folder], 4, labels=True, on_note=notes.append)
    assert classes == ("cat", "dog")
    assert dataset.targets["label"].tolist() == [0, 0, 1, 1]
    assert notes == ["skipped 1 file(s) without an image suffix in directories"]


def test_glob_patterns(class_folder: Path) -> None:
    result = read_images([str(class_folder / "**" / "*.png")], 4)

    assert len(result.records) == 3  # loose.png, cat/b.png, dog/b.png; hidden names skipped
    message = error_of(read_images, [str(class_folder / "*.gif")], 4).message
    assert "no files match the pattern" in message


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    assert error_of(read_images, [tmp_path / "nope.png"], 4).message.endswith("no such file")
    assert "no images found" in error_of(read_images, [tmp_path], 4).message
    assert "is a directory" in error_of(load_rgb, tmp_path).message


def test_npz_gray_and_rgb_with_named_categories(tmp_path: Path) -> None:
    gray = tmp_path / "gray.npz"
    np.savez(gray, images=np.full((3, 5, 5), 255, np.uint8), labels=np.array([10, 2, 2]))
    rgb = tmp_path / "rgb.npz"
    np.savez(
        rgb, images=np.zeros((2, 6, 4, 3), np.uint8), category=np.array([1, 0], np.uint8),
        category_names=np.array(["Flags", "Food"]),
    )

    result = read_images([gray, rgb], 4)
    dataset, classes, _ = image_dataset([gray, rgb], 4, labels=True)

    assert [r.id for r in result.records][:2] == [f"{gray}[0]", f"{gray}[1]"]
    assert [r.label for r in result.records] == ["10", "2", "2", "Food", "Flags"]
    assert classes == ("2", "10", "Flags", "Food")  # numbers in numeric order first
    assert dataset.targets["label"].tolist() == [1, 0, 0, 3, 2]
    assert np.allclose(result.records[0].image, 1.0) and np.allclose(result.records[3].image, -1.0)


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"pixels": np.zeros((1, 4, 4), np.uint8)}, "no 'images' array (found pixels)"),
        ({"images": np.zeros((1, 4, 4), np.float32)}, "expected uint8 (N, H, W) or (N, H, W, 3)"),
        ({"images": np.zeros((1, 4, 4, 2), np.uint8)}, "expected uint8"),
        ({"images": np.zeros((0, 4, 4), np.uint8)}, "no images found"),
        ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.zeros(3)}, "expected (2,)"),
    ],
)
def test_malformed_npz_is_named(tmp_path: Path, arrays: dict, expected: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)

    message = error_of(read_images, [path], 4).message

    assert str(path) in message and expected in message


def test_npz_with_pickled_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.npz"
    np.savez(path, images=np.array([{"a": 1}], dtype=object))

    assert str(path) in error_of(read_images, [path], 4).message


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff\xe0", "jpeg"), (b"GIF89a", "gif"),
     (b"RIFF\0\0\0\0WEBPVP8 ", "webp"), (b"PK\x03\x04", "npz"), (b">seq\nMKV", None)],
)
def test_sniff_image_format(head: bytes, kind: str | None) -> None:
    assert sniff_image_format(head + b"rest") == kind


def test_dataset_fingerprint_is_stable_and_content_based(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    solid((1, 2, 3)).save(a)
    solid((1, 2, 4)).save(b)

    first = image_dataset([a], 4)[2]

    assert image_dataset([a], 4)[2] == first
    assert image_dataset([b], 4)[2] != first


def test_labels_are_used_when_every_image_has_one(class_folder: Path) -> None:
    notes: list[str] = []
    unlabelled = image_dataset([class_folder], 4, labels=None)
    (class_folder / "loose.png").unlink()
    dataset, classes, _ = image_dataset([class_folder], 4, labels=None, on_note=notes.append)
    single, single_classes, _ = image_dataset([class_folder / "cat"], 4, labels=None)

    assert unlabelled[1] == () and unlabelled[0].targets == {}
    assert classes == ("cat", "dog") and dataset.targets["label"].tolist() == [0, 0, 1, 1]
    assert any("2 classes" in n for n in notes)
    assert single_classes == () and single.targets == {}  # labels of a sub-folder: none


def test_tile_images_lays_rows_out_with_white_gaps() -> None:
    black = -np.ones((3, 2, 3), np.float32)  # (3, H=2, W=3)

    grid = tile_images([[black, black], [black]], gap=1)

    assert grid.shape == (2 * (2 + 1) + 1, 2 * (3 + 1) + 1, 3) and grid.dtype == np.uint8
    assert (grid[1:3, 1:4] == 0).all() and (grid[1:3, 5:8] == 0).all() and (grid[4:6, 1:4] == 0).all()
    assert (grid[4:6, 5:8] == 255).all()  # the short row leaves white
    assert (grid[0] == 255).all() and (grid[:, 4] == 255).all()


def test_find_images_reads_in_two_passes_like_read_images(tmp_path: Path) -> None:
    """The streamed reader (find, check every image, then records one at a time) gives the
    records read_images gives, for files in class folders, an .npz archive and stdin bytes."""
    for label, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        (tmp_path / "dir" / label).mkdir(parents=True)
        solid(colour, (10, 6)).save(tmp_path / "dir" / label / "x.png")
    arrays = np.random.default_rng(0).integers(0, 256, (3, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "arr.npz", images=arrays)
    stdin_bytes = png_bytes(solid((0, 120, 0)))
    sources = [tmp_path / "dir", tmp_path / "arr.npz", "-"]

    whole = read_images(sources, 8, stdin=io.BytesIO(stdin_bytes)).records
    files = find_images(sources, stdin=io.BytesIO(stdin_bytes))
    keys = files.check(8, lambda x: x.tobytes())
    streamed = list(files.records(8))
    again = list(files.records(8))

    assert len(files) == len(whole) == 6
    assert [r.id for r in streamed] == [r.id for r in whole] == [r.id for r in again]
    assert [r.label for r in streamed] == [r.label for r in whole]
    for a, b, key in zip(streamed, whole, keys):
        assert a.image.dtype == np.float32 and np.array_equal(a.image, b.image)
        assert key == b.image.tobytes()


def test_find_images_check_names_the_first_bad_image_and_counts_the_rest(tmp_path: Path) -> None:
    solid((1, 2, 3)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "c.png").write_bytes(b"not an image")
    files = find_images([tmp_path])  # finding opens nothing yet

    with pytest.raises(InputDataError) as err:
        files.check(8, lambda x: None)

    assert "b.png" in err.value.message and "1 more unreadable" in err.value.message
